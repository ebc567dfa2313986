//! Any bytes, cut into a roadmap.md and stage files, give content or diagnostics, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pathway::content::parse::fuzz_content(data);
});
