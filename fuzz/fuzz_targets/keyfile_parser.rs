#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rud::fuzzing::keys::keyfile_parser(data));
