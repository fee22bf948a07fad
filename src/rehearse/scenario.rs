//! Scenario files: the exercise a rehearsal runs. A scenario sits beside its playbook
//! (`playbooks/<playbook>/scenarios/<name>.yaml`) and says which lake to generate (the incident
//! and its noise come from the generator), the playbook's inputs, the truth a good responder
//! should find, the decisions a good responder takes, time targets, and the facilitator's
//! injects. Values may name the generated lake's `truth.json` as `{{ truth.path.to.value }}` and
//! the lake's window as `{{ lake.start }}` / `{{ lake.end }}`, so one file serves every seed.
//!
//! Loading a scenario checks it against the playbook (inputs, decision steps and options,
//! inject steps); resolving it against a lake gives the [`Brief`] the score is computed from.

use super::RehearseError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::engine::Observable;
use crate::lake::generate::Story as Generator;
use crate::playbook::model::{Playbook, StepKind};

/// A scenario file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The scenario `irp rehearse` takes when `--scenario` is not given (one per playbook).
    #[serde(default)]
    pub default: bool,
    /// The lake to generate; a scenario without one runs only on a lake given with `--lake`
    /// (one imported from real logs, whose truth the scenario states itself).
    #[serde(default)]
    pub lake: Option<LakeSpec>,
    /// The playbook's inputs for the exercise (lists as YAML lists or comma-separated).
    #[serde(default)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    pub truth: TruthSpec,
    #[serde(default)]
    pub expected: Expected,
    #[serde(default)]
    pub targets: Targets,
    #[serde(default)]
    pub injects: Vec<InjectSpec>,
}

/// The lake an exercise runs on, unless `--lake` gives one: generated (`generator:`), or real
/// `CloudTrail` logs imported (`import:`); either is made once into the cache and reused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSpec {
    /// The generator's scenario: `s3-exfiltration`, `benign`, …
    #[serde(default)]
    pub generator: Option<String>,
    /// Real `CloudTrail` files or folders (relative to the scenario file), imported as
    /// `irp lake import cloudtrail` imports them.
    #[serde(default)]
    pub import: Vec<String>,
    /// Repairs of anonymised logs applied while importing (`region`, `zero_padded_ipv4`).
    #[serde(default)]
    pub normalise: crate::lake::import::Normalise,
    #[serde(default = "default_days")]
    pub days: u32,
    #[serde(default = "default_events")]
    pub events: u64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The lake's last day; yesterday when left out (the playbook's relative windows then cover
    /// it, and today is the exercise's own: injects land in it).
    #[serde(default)]
    pub end: Option<NaiveDate>,
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    #[serde(default)]
    pub accounts: Option<Vec<String>>,
}

impl LakeSpec {
    /// The files and folders to import, resolved against the scenario file's folder.
    pub fn import_paths(&self, scenario: &Path) -> Vec<PathBuf> {
        let dir = scenario.parent().unwrap_or(Path::new("."));
        self.import.iter().map(|p| dir.join(p)).collect()
    }

    /// What is wrong with the spec as written: it generates or imports, and the settings of the
    /// one do not go with the other.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.generator, self.import.is_empty()) {
            (None, true) => {
                out.push("`lake:` needs `generator:` (a generated lake) or `import:` (real logs)".to_owned());
            }
            (Some(_), false) => {
                out.push(
                    "`lake:` has both `generator:` and `import:`; a lake is generated or imported".to_owned(),
                );
            }
            (Some(_), true) => {
                if self.normalise != crate::lake::import::Normalise::default() {
                    out.push("`lake.normalise` applies to imported logs only".to_owned());
                }
            }
            (None, false) => {
                let generated = [
                    ("days", self.days != default_days()),
                    ("events", self.events != default_events()),
                    ("seed", self.seed != default_seed()),
                    ("end", self.end.is_some()),
                    ("regions", self.regions.is_some()),
                    ("accounts", self.accounts.is_some()),
                ];
                for (key, _) in generated.iter().filter(|(_, set)| *set) {
                    out.push(format!(
                        "`lake.{key}` applies to generated lakes only; an imported lake is what its logs hold"
                    ));
                }
                if let Err(e) = self.normalise.check() {
                    out.push(format!("`lake.normalise.region`: {e}"));
                }
            }
        }
        out
    }
}

fn default_days() -> u32 {
    7
}
fn default_events() -> u64 {
    60_000
}
fn default_seed() -> u64 {
    1
}

/// What a good responder should find.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthSpec {
    /// Whether there is an incident to find (a benign scenario must end with "no incident").
    pub incident: bool,
    /// Per evidence type (`ip`, `arn`, `access_key_id`, `account_id`, `bucket`, `object_key`,
    /// `user_agent`), the values that are part of the incident. A type listed with no values
    /// means anything recorded as that type is a false positive.
    #[serde(default)]
    pub findings: BTreeMap<String, serde_json::Value>,
    /// The first and last malicious events (RFC 3339).
    #[serde(default)]
    pub first_event: Option<String>,
    #[serde(default)]
    pub last_event: Option<String>,
    /// The MITRE ATT&CK Enterprise techniques the scenario's intruder uses (`T1530`); the score
    /// says which of them the evidence recorded speaks for.
    #[serde(default)]
    pub attack: Vec<String>,
}

/// The path a good responder takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Decision step id → the option a good responder chooses.
    #[serde(default)]
    pub decisions: BTreeMap<String, String>,
}

/// Time targets from the case's opening, e.g. `contain: 30m`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub first_finding: Option<String>,
    #[serde(default)]
    pub contain: Option<String>,
    #[serde(default)]
    pub recover: Option<String>,
}

/// An inject: events the facilitator has land in the lake while the exercise runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectSpec {
    pub name: String,
    pub title: String,
    /// What the responder is told when it lands (default: the title).
    #[serde(default)]
    pub announce: Option<String>,
    /// Lands this long after the case opened (`10m`)…
    #[serde(default)]
    pub at: Option<String>,
    /// …or when this step is first entered (deterministic, for scripted rehearsals).
    #[serde(default)]
    pub at_step: Option<String>,
    /// The events, as `CloudTrail` records (`eventName`, `eventSource`, `userIdentity`,
    /// `sourceIPAddress`, `requestParameters`…; templates allowed in any text). irp sets
    /// `eventTime` (when the inject lands, plus `offsetSeconds` if the record has it),
    /// `eventID` and, when missing, `awsRegion` and `recipientAccountId`, then maps each record
    /// to OCSF as `irp lake import cloudtrail` does.
    pub events: Vec<serde_json::Value>,
}

/// A scenario resolved against a lake: what the journal stores (as the exercise's brief) and
/// the score reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Brief {
    pub scenario: String,
    pub title: String,
    pub description: String,
    pub seed: u64,
    pub incident: bool,
    /// Per evidence type, the values that are part of the incident.
    pub findings: BTreeMap<String, Vec<String>>,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub decisions: BTreeMap<String, String>,
    pub targets: Targets,
    pub injects: Vec<Inject>,
    /// The exercise's ATT&CK techniques (`truth.attack`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attack: Vec<String>,
}

/// An inject with its values resolved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Inject {
    pub name: String,
    pub title: String,
    pub announce: String,
    /// Seconds after the case opened, or the step whose first entry lands it.
    pub at_s: Option<u64>,
    pub at_step: Option<String>,
    pub region: String,
    pub account: String,
    /// `CloudTrail` records, templates resolved.
    pub events: Vec<serde_json::Value>,
}

/// A scenario file, loaded and checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file name without `.yaml`.
    pub id: String,
    pub path: PathBuf,
    pub file: ScenarioFile,
    pub generator: Option<Generator>,
}

/// Where a playbook's companion files live: `playbooks/x.yaml` → `playbooks/x/`.
pub fn companion_dir(playbook: &Path) -> PathBuf {
    let stem = playbook.file_stem().unwrap_or_default();
    playbook.with_file_name(stem)
}

/// The scenario files beside a playbook, sorted by name.
pub fn scenario_files(playbook: &Path) -> Vec<PathBuf> {
    yaml_files(&companion_dir(playbook).join("scenarios"))
}

/// The YAML files in a folder, sorted (none when it does not exist).
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Finds the scenario `name` (an id beside the playbook, or a path) or the playbook's default.
pub fn find(playbook: &Path, name: Option<&str>) -> Result<PathBuf, RehearseError> {
    let files = scenario_files(playbook);
    let ids = || {
        files
            .iter()
            .filter_map(|p| p.file_stem().map(|s| format!("`{}`", s.to_string_lossy())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n)
            if n.contains('/')
                || Path::new(n)
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")) =>
        {
            Ok(PathBuf::from(n))
        }
        Some(n) => files
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == n))
            .cloned()
            .ok_or_else(|| {
                if files.is_empty() {
                    RehearseError::NoScenarioNamed {
                        name: n.to_owned(),
                        dir: companion_dir(playbook).join("scenarios"),
                    }
                } else {
                    RehearseError::UnknownScenario {
                        name: n.to_owned(),
                        known: ids(),
                    }
                }
            }),
        None => {
            let defaults: Vec<&PathBuf> = files
                .iter()
                .filter(|p| load_file(p).is_ok_and(|f| f.default))
                .collect();
            match defaults.as_slice() {
                [one] => Ok((*one).clone()),
                [] if files.len() == 1 => Ok(files[0].clone()),
                [] if files.is_empty() => Err(RehearseError::NoScenarios(
                    companion_dir(playbook).join("scenarios"),
                )),
                _ => Err(RehearseError::WhichScenario(ids())),
            }
        }
    }
}

fn load_file(path: &Path) -> Result<ScenarioFile, RehearseError> {
    read_yaml(path)
}

/// A YAML file of the rehearsal formats (scenarios, test cases), read whole; the error names
/// the file, and the line and column of a YAML problem.
pub(crate) fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RehearseError> {
    read_yaml_at(path).map_err(|diagnostic| RehearseError::File {
        path: path.to_owned(),
        diagnostic,
    })
}

/// As [`read_yaml`], the problem as a diagnostic with its position (for `irp validate`).
pub(crate) fn read_yaml_at<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<T, crate::playbook::Diagnostic> {
    use crate::playbook::{Diagnostic, Pos};
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::error(Pos::UNKNOWN, format!("cannot read: {e}")))?;
    serde_saphyr::from_str_with_options(&text, crate::playbook::node::yaml_options())
        .map_err(|e| crate::playbook::node::yaml_error(&text, &e))
}

impl Scenario {
    /// Reads a scenario file and checks it against the playbook; every problem is one message.
    pub fn load(path: &Path, pb: &Playbook) -> Result<Scenario, Vec<String>> {
        let file = load_file(path).map_err(|e| vec![e.to_string()])?;
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut problems = Vec::new();
        if let Some(lake) = &file.lake {
            problems.extend(lake.problems());
        }
        let generator = file
            .lake
            .as_ref()
            .and_then(|lake| lake.generator.as_deref())
            .and_then(|name| {
                <Generator as clap::ValueEnum>::from_str(name, false)
                    .map_err(|_| {
                        let names: Vec<&str> = <Generator as clap::ValueEnum>::value_variants()
                            .iter()
                            .map(|g| g.as_str())
                            .collect();
                        problems.push(format!(
                            "`lake.generator: {name}` is not a generator scenario (generators: {})",
                            names.join(", ")
                        ));
                    })
                    .ok()
            });
        for name in file.inputs.keys() {
            if !pb.inputs.contains_key(name) {
                problems.push(format!("`inputs.{name}` is not an input of playbook `{}`", pb.id));
            }
        }
        for t in file.truth.findings.keys() {
            if Observable::parse(t).is_none_or(|o| o == Observable::Text) {
                problems.push(format!(
                    "`truth.findings.{t}` is not an evidence type that can be scored (types: ip, arn, access_key_id, account_id, bucket, object_key, user_agent)"
                ));
            }
        }
        for t in &file.truth.attack {
            if !crate::standards::is_technique_id(t) || crate::standards::technique(t).is_none() {
                problems.push(format!(
                    "`truth.attack`: `{t}` is not a technique of ATT&CK Enterprise v{} (write `T1530` or `T1078.004`)",
                    crate::standards::ATTACK_VERSION
                ));
            }
        }
        for (step, option) in &file.expected.decisions {
            match pb.step(step).map(|s| &s.kind) {
                Some(StepKind::Decision(d)) => {
                    if !d.options.iter().any(|o| o.id == *option) {
                        let ids: Vec<String> = d.options.iter().map(|o| format!("`{}`", o.id)).collect();
                        problems.push(format!(
                            "`expected.decisions.{step}: {option}`: the decision has no such option (options: {})",
                            ids.join(", ")
                        ));
                    }
                }
                Some(_) => problems.push(format!(
                    "`expected.decisions.{step}`: step `{step}` is not a decision"
                )),
                None => problems.push(format!(
                    "`expected.decisions.{step}`: playbook `{}` has no step `{step}`",
                    pb.id
                )),
            }
        }
        for (what, d) in [
            ("first_finding", &file.targets.first_finding),
            ("contain", &file.targets.contain),
            ("recover", &file.targets.recover),
        ] {
            if let Some(d) = d
                && let Err(e) = crate::playbook::value::parse_duration(d)
            {
                problems.push(format!("`targets.{what}`: {e}"));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, inject) in file.injects.iter().enumerate() {
            let at = format!("`injects[{i}]` (`{}`)", inject.name);
            if !names.insert(inject.name.as_str()) {
                problems.push(format!("{at}: another inject has this name"));
            }
            if inject.name.is_empty()
                || !inject
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                problems.push(format!("{at}: a name is lowercase letters, digits and `-`"));
            }
            match (&inject.at, &inject.at_step) {
                (Some(d), None) => {
                    if let Err(e) = crate::playbook::value::parse_duration(d) {
                        problems.push(format!("{at}: `at`: {e}"));
                    }
                }
                (None, Some(step)) => {
                    if pb.step(step).is_none() {
                        problems.push(format!(
                            "{at}: `at_step`: playbook `{}` has no step `{step}`",
                            pb.id
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{at}: give exactly one of `at` (e.g. `10m`) and `at_step`"
                )),
            }
            for (j, record) in inject.events.iter().enumerate() {
                if !record.is_object()
                    || record.get("eventName").is_none()
                    || record.get("eventSource").is_none()
                {
                    problems.push(format!(
                        "{at}: `events[{j}]` is not a CloudTrail record (a mapping with at least `eventName` and `eventSource`)"
                    ));
                }
            }
            if inject.events.is_empty() {
                problems.push(format!("{at}: an inject needs at least one event"));
            }
        }
        if problems.is_empty() {
            Ok(Scenario {
                id,
                path: path.to_owned(),
                file,
                generator,
            })
        } else {
            Err(problems
                .into_iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect())
        }
    }

    /// Resolves the scenario against what [`env`] made of a lake; returns the brief and the
    /// playbook inputs as `name=value` pairs.
    pub fn resolve(
        &self,
        env: &serde_json::Value,
        seed: u64,
    ) -> Result<(Brief, Vec<(String, String)>), String> {
        let text_at = |path: &str| lookup(env, path).map(|v| input_text(&v)).unwrap_or_default();
        let (region, account) = (text_at("lake.region"), text_at("lake.account"));
        let region = region.as_str();
        let account = account.as_str();
        let f = &self.file;
        let mut inputs = Vec::new();
        for (name, v) in &f.inputs {
            let value = resolve_value(v, env).map_err(|e| format!("`inputs.{name}`: {e}"))?;
            inputs.push((name.clone(), input_text(&value)));
        }
        let mut findings = BTreeMap::new();
        for (t, v) in &f.truth.findings {
            let value = resolve_value(v, env).map_err(|e| format!("`truth.findings.{t}`: {e}"))?;
            let mut list = crate::playbook::value::texts(&value);
            list.sort();
            list.dedup();
            findings.insert(t.clone(), list);
        }
        let text = |v: &Option<String>, what: &str| -> Result<Option<String>, String> {
            v.as_ref()
                .map(|s| resolve_text(s, env).map_err(|e| format!("`truth.{what}`: {e}")))
                .transpose()
        };
        let mut injects = Vec::new();
        for i in &f.injects {
            let mut events = Vec::new();
            for e in &i.events {
                events.push(resolve_value(e, env).map_err(|err| format!("inject `{}`: {err}", i.name))?);
            }
            injects.push(Inject {
                name: i.name.clone(),
                title: i.title.clone(),
                announce: i.announce.clone().unwrap_or_else(|| i.title.clone()),
                at_s: i
                    .at
                    .as_deref()
                    .and_then(|d| crate::playbook::value::parse_duration(d).ok())
                    .map(|d| d.as_secs()),
                at_step: i.at_step.clone(),
                region: region.to_owned(),
                account: account.to_owned(),
                events,
            });
        }
        let brief = Brief {
            scenario: self.id.clone(),
            title: f.title.clone(),
            description: f.description.clone(),
            seed,
            incident: f.truth.incident,
            findings,
            first_event: text(&f.truth.first_event, "first_event")?,
            last_event: text(&f.truth.last_event, "last_event")?,
            decisions: f.expected.decisions.clone(),
            targets: f.targets.clone(),
            injects,
            attack: f.truth.attack.clone(),
        };
        Ok((brief, inputs))
    }
}

/// What `{{ … }}` references can name: the lake's `truth.json` and its window.
pub fn env(
    truth: &serde_json::Value,
    window: (NaiveDate, NaiveDate),
    region: &str,
    account: &str,
) -> serde_json::Value {
    serde_json::json!({
        "truth": truth,
        "lake": {
            "first_day": window.0.to_string(),
            "last_day": window.1.to_string(),
            "start": format!("{}T00:00:00Z", window.0),
            "end": format!("{}T00:00:00Z", window.1.succ_opt().unwrap_or(window.1)),
            "region": region,
            "account": account,
        },
    })
}

/// A value with its `{{ … }}` references resolved. A string that is one reference takes the
/// referenced value whole (a list stays a list); a list whose items resolve to lists is
/// flattened.
pub fn resolve_value(
    v: &serde_json::Value,
    env: &serde_json::Value,
) -> Result<serde_json::Value, RehearseError> {
    use serde_json::Value;
    match v {
        Value::String(s) => match whole_reference(s) {
            Some(path) => lookup(env, path),
            None => resolve_text(s, env).map(Value::String),
        },
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, item) in m {
                out.insert(k.clone(), resolve_value(item, env)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match resolve_value(item, env)? {
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Ok(Value::Array(out))
        }
        other => Ok(other.clone()),
    }
}

fn whole_reference(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

/// Text with every `{{ path }}` replaced by the value's text.
fn resolve_text(s: &str, env: &serde_json::Value) -> Result<String, RehearseError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| RehearseError::Unclosed(s.to_owned()))?;
        let value = lookup(env, after[..end].trim())?;
        out.push_str(&input_text(&value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value at a dotted path (`truth.incident_details.ips`) in `env`.
fn lookup(env: &serde_json::Value, path: &str) -> Result<serde_json::Value, RehearseError> {
    let mut v = env;
    for part in path.split('.') {
        v = match v {
            serde_json::Value::Object(m) => m.get(part),
            serde_json::Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| {
            if path.starts_with("truth.") && env.get("truth").is_none_or(serde_json::Value::is_null) {
                RehearseError::NoTruth(path.to_owned())
            } else {
                RehearseError::NamesNothing {
                    path: path.to_owned(),
                    at: part.to_owned(),
                }
            }
        })?;
    }
    Ok(v.clone())
}

/// A value as an input's text: lists comma-separated.
fn input_text(v: &serde_json::Value) -> String {
    crate::playbook::value::texts(v).join(",")
}
