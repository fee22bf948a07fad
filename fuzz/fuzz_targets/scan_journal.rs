//! Fuzzes the journal reader: any bytes (a damaged, torn or hostile journal) must give a scan
//! (entries, a torn tail, or the first corruption), never a panic; and what it accepts must fold
//! into a state without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scan = irp::journal::store::scan(data);
    assert!(scan.good_len as usize <= data.len());
    let _ = irp::engine::State::replay(scan.entries.iter().map(|e| &e.event));
});
