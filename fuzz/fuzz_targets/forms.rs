#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sanduq::fuzzing::forms(data));
