//! The playbook language: YAML -> spanned tree -> shape check against the JSON Schema -> raw serde
//! mirror -> validated `Playbook`, with diagnostics carrying <file:line:col> and hints.

pub mod context;
pub mod diag;
pub mod graph;
pub mod model;
pub mod node;
pub mod raw;
pub mod read_only;
pub mod schema;
pub mod shape;
pub mod sql;
pub mod table;
pub mod template;
pub mod validate;
pub mod value;

pub use diag::{Diagnostic, Pos, Severity};
pub use model::Playbook;

/// The outcome of loading one file: the checked playbook when there is no error, and every
/// diagnostic found (warnings may come with a playbook).
#[derive(Debug)]
pub struct Loaded {
    pub playbook: Option<Playbook>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn failed(diagnostics: Vec<Diagnostic>) -> Self {
        Loaded {
            playbook: None,
            diagnostics,
        }
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and validates playbook text.
pub fn load_str(src: &str) -> Loaded {
    let tree = match node::parse_tree(src) {
        Ok(t) => t,
        Err(d) => return Loaded::failed(vec![d]),
    };
    let mut diagnostics = shape::check(&tree, schema::playbook_schema());
    if !diagnostics.is_empty() {
        diag::normalize(&mut diagnostics);
        return Loaded::failed(diagnostics);
    }
    // The shape is right, so the typed read succeeds; if it ever does not, say so plainly.
    let raw: raw::Playbook = match serde_saphyr::from_str_with_options(src, node::yaml_options()) {
        Ok(r) => r,
        Err(e) => return Loaded::failed(vec![node::yaml_error(src, &e)]),
    };
    let (playbook, mut diagnostics) = validate::validate(&raw, src);
    diag::normalize(&mut diagnostics);
    Loaded {
        playbook,
        diagnostics,
    }
}
