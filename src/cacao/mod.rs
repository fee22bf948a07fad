//! OASIS CACAO v2 playbooks, out and in (`irp export cacao`, `irp import cacao`;
//! docs/cacao.md).
//!
//! An export is a CACAO 2.0 playbook a SOAR can show and run by hand, and it loses nothing: the
//! playbook's own fields travel in irp's extension (`playbook_extensions` for the playbook,
//! `step_extensions` for each step), so an import of an irp export gives back the same playbook.
//! An import of any other CACAO playbook walks its workflow into irp steps; commands that irp
//! would not run itself become checklists a responder carries out by hand.

pub mod export;
pub mod import;

use uuid::Uuid;

/// The namespace of every `UUIDv5` irp derives for CACAO ids. Fixed for good: an export's ids
/// depend only on the playbook's and its steps' ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b9e_4d7a_4c3e_9a51_3e0b_7d2f_8c41);

/// A CACAO identifier, `<kind>--<UUIDv5 of name>`.
pub fn cacao_id(kind: &str, name: &str) -> String {
    format!("{kind}--{}", Uuid::new_v5(&NAMESPACE, name.as_bytes()))
}

/// The id of irp's extension definition: the same in every export.
pub fn extension_id() -> String {
    cacao_id("extension-definition", "irp-playbook/1")
}

/// The identity irp's extension definition is created by.
pub fn irp_identity() -> String {
    cacao_id("identity", "irp")
}

/// The version of irp's extension; an import refuses a major version it does not know.
pub const EXTENSION_VERSION: &str = "1.0.0";

/// FIRST TLP 2.0 levels as CACAO's standard data markings (CACAO 2.0 §8.2: these ids MUST be
/// used), with the identity and time they were defined by.
pub const TLP_MARKINGS: [(&str, &str); 5] = [
    ("TLP:CLEAR", "marking-tlp--94868c89-83c2-464b-929b-a1a8aa3c8487"),
    ("TLP:GREEN", "marking-tlp--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"),
    ("TLP:AMBER", "marking-tlp--55d920b0-5e8b-4f79-9ee9-91f868d9b421"),
    (
        "TLP:AMBER+STRICT",
        "marking-tlp--939a9414-2ddd-4d32-a0cd-375ea402b003",
    ),
    ("TLP:RED", "marking-tlp--e828b379-4e03-4974-9ac4-e53a884c97c1"),
];
pub const TLP_CREATED_BY: &str = "identity--5abe695c-7bd5-4c31-8824-2528696cdbf1";
pub const TLP_CREATED: &str = "2022-10-01T00:00:00.000Z";
