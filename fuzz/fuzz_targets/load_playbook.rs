//! Fuzzes the playbook loader and validator: any bytes must give a playbook or diagnostics, never
//! a panic, a hang or a runaway allocation. A playbook that validates must also render its graph
//! and every sample query without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

use irp::playbook::context::{TableNaming, sample_queries};
use irp::playbook::graph::{GraphFormat, render};
use irp::playbook::node::decode_utf8;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = decode_utf8(data.to_vec()) else { return };
    let loaded = irp::playbook::load_str(&src);
    for d in &loaded.diagnostics {
        assert!(!d.message.is_empty(), "a diagnostic without a message");
    }
    assert_eq!(loaded.playbook.is_some(), !loaded.has_errors());
    if let Some(pb) = loaded.playbook {
        let _ = render(&pb, GraphFormat::Mermaid);
        let _ = render(&pb, GraphFormat::Dot);
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let _ = sample_queries(&pb, now, &TableNaming::default());
    }
});
