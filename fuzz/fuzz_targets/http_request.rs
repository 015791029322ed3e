#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rud::fuzzing::http::http_request(data));
