//! Pinned copies of the catalogues playbooks refer to: MITRE ATT&CK Enterprise techniques (what
//! the intruder did) and MITRE D3FEND techniques (what the defence did), read once from the
//! tables beside this file (their sources and versions are in their headers and in
//! docs/standards.md).

use std::collections::HashMap;
use std::sync::OnceLock;

/// The ATT&CK version of the pinned technique list (and of the Navigator layers irp writes).
pub const ATTACK_VERSION: &str = "18.1";
/// The D3FEND ontology the pinned list comes from.
pub const D3FEND_SOURCE: &str = "d3fend-ontology 9ffd0358 (2025-08-25)";

const ATTACK_TSV: &str = include_str!("attack-enterprise.tsv");
const D3FEND_TSV: &str = include_str!("d3fend.tsv");

/// Whether a technique is current in the pinned version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Deprecated,
    Revoked,
}

/// An ATT&CK Enterprise technique or sub-technique.
#[derive(Debug, Clone)]
pub struct Technique {
    pub id: &'static str,
    pub name: &'static str,
    /// ATT&CK tactics by short name (`credential-access`).
    pub tactics: Vec<&'static str>,
    pub status: Status,
}

/// A D3FEND defensive technique.
#[derive(Debug, Clone)]
pub struct Defence {
    pub id: &'static str,
    pub name: &'static str,
    /// `Model`, `Harden`, `Detect`, `Isolate`, `Deceive`, `Evict` or `Restore`.
    pub tactic: &'static str,
}

fn rows(tsv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').collect())
}

fn techniques() -> &'static HashMap<&'static str, Technique> {
    static T: OnceLock<HashMap<&'static str, Technique>> = OnceLock::new();
    T.get_or_init(|| {
        rows(ATTACK_TSV)
            .map(|r| {
                let t = Technique {
                    id: r[0],
                    name: r.get(1).copied().unwrap_or_default(),
                    tactics: r
                        .get(2)
                        .map(|t| t.split(',').filter(|s| !s.is_empty()).collect())
                        .unwrap_or_default(),
                    status: match r.get(3).copied() {
                        Some("revoked") => Status::Revoked,
                        Some("deprecated") => Status::Deprecated,
                        _ => Status::Active,
                    },
                };
                (t.id, t)
            })
            .collect()
    })
}

fn defences() -> &'static HashMap<&'static str, Defence> {
    static D: OnceLock<HashMap<&'static str, Defence>> = OnceLock::new();
    D.get_or_init(|| {
        rows(D3FEND_TSV)
            .map(|r| {
                let d = Defence {
                    id: r[0],
                    name: r.get(1).copied().unwrap_or_default(),
                    tactic: r.get(2).copied().unwrap_or_default(),
                };
                (d.id, d)
            })
            .collect()
    })
}

/// The ATT&CK Enterprise technique with this id (`T1530`, `T1078.004`), current or not.
pub fn technique(id: &str) -> Option<&'static Technique> {
    techniques().get(id)
}

/// The D3FEND technique with this id (`D3-CR`).
pub fn defence(id: &str) -> Option<&'static Defence> {
    defences().get(id)
}

/// `T` and four digits, with `.` and three more for a sub-technique.
pub fn is_technique_id(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..5]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..9]),
        _ => false,
    }
}

/// `D3-` and capital letters or digits.
pub fn is_defence_id(s: &str) -> bool {
    s.strip_prefix("D3-")
        .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
}

/// All technique ids, for suggestions.
pub fn technique_ids() -> impl Iterator<Item = &'static str> {
    techniques().keys().copied()
}

/// All D3FEND ids, for suggestions.
pub fn defence_ids() -> impl Iterator<Item = &'static str> {
    defences().keys().copied()
}

/// The NIST CSF 2.0 functions, in order: SP 800-61 r3's top level.
pub const CSF_FUNCTIONS: [(&str, &str); 6] = [
    ("GV", "Govern"),
    ("ID", "Identify"),
    ("PR", "Protect"),
    ("DE", "Detect"),
    ("RS", "Respond"),
    ("RC", "Recover"),
];
