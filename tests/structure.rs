//! The module map holds: each top-level module of `src/` uses only the modules the map in
//! `docs/development.md` allows it, the map has no cycle, and `src/lib.rs` names every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::repo;

/// The map's rows: module -> the modules it may use, read from the table under "## Module map".
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(repo().join("docs/development.md")).unwrap();
    let section = doc
        .split("\n## Module map")
        .nth(1)
        .expect("docs/development.md has a `## Module map` section");
    let section = section.split("\n## ").next().unwrap();
    let ticked =
        |cell: &str| -> BTreeSet<String> { cell.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut map = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | module | owns | may use |
        let module = ticked(cells[1]).into_iter().next().unwrap();
        map.insert(module, ticked(cells[3]));
    }
    assert!(
        map.len() > 10,
        "the module map table was not found or is short: {map:?}"
    );
    map
}

/// Every `crate::name` a module's files mention, outside comments.
fn used_by(dir: &Path, module: &str) -> BTreeSet<String> {
    let mut files = Vec::new();
    let single = dir.join(format!("{module}.rs"));
    if single.is_file() {
        files.push(single);
    }
    let mut stack = vec![dir.join(module)];
    while let Some(d) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&d) else { continue };
        for e in read {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut used = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap();
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    let inner = group.split('}').next().unwrap();
                    used.extend(
                        inner
                            .split(',')
                            .map(|p| p.trim().split("::").next().unwrap().to_owned()),
                    );
                } else {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    used.insert(name);
                }
            }
        }
    }
    used.remove(module);
    used.retain(|m| !m.is_empty());
    used
}

fn modules() -> Vec<String> {
    let lib = std::fs::read_to_string(repo().join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';').map(str::to_owned))
        .collect()
}

#[test]
fn every_module_uses_only_what_the_map_allows() {
    let map = allowed();
    let src = repo().join("src");
    let mut problems = Vec::new();
    for m in modules() {
        let Some(may) = map.get(&m) else {
            problems.push(format!("`{m}` is not in the module map of docs/development.md"));
            continue;
        };
        for used in used_by(&src, &m) {
            if !may.contains(&used) {
                problems.push(format!(
                    "`{m}` uses `crate::{used}`, which the map does not allow it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_module_map_has_no_cycle() {
    let map = allowed();
    // Kahn's algorithm: repeatedly take the modules whose allowed uses are all taken.
    let mut left: BTreeMap<String, BTreeSet<String>> = map.clone();
    let mut order = Vec::new();
    loop {
        let ready: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for m in ready {
            left.remove(&m);
            order.push(m);
        }
    }
    assert!(
        left.is_empty(),
        "the module map has a cycle among {:?}",
        left.keys().collect::<Vec<_>>()
    );
    for (m, uses) in &map {
        for u in uses {
            assert!(
                map.contains_key(u),
                "`{m}` may use `{u}`, which is not a module of the map"
            );
        }
    }
}

#[test]
fn lib_rs_names_every_module_in_its_map() {
    let lib = std::fs::read_to_string(repo().join("src/lib.rs")).unwrap();
    for m in modules() {
        assert!(
            lib.contains(&format!("//! - `{m}`")),
            "src/lib.rs's module map has no line for `{m}`"
        );
    }
}
