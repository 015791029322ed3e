#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rud::fuzzing::connection::connection(data));
