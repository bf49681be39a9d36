#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::field_selector(data));
