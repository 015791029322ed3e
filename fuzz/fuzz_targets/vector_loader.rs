#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rud_fuzz::vector_loader(data));
