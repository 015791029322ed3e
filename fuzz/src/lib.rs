//! Entry points that cannot live in `rud::fuzzing` because they need crates depending on `rud`.
//! The corpus replay test (`tests/tests/fuzz_corpus.rs`) includes this file with `#[path]`, so
//! it may use only `rud` and `rud-conform`.
use std::path::Path;

use rud_conform::{check, vectors};

/// `vector_loader`: any text through the strict vector loader. What it accepts must render (as
/// the generator writes files) and load back to the same file, and every vector it holds runs
/// through the checker and the codec invariants of `rud::fuzzing::decode_element`.
pub fn vector_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    let Ok(file) = vectors::parse(path, text) else {
        return;
    };
    let rendered = match vectors::render(&file) {
        Ok(r) => r,
        Err(e) => panic!("a loaded vector file does not render: {e}"),
    };
    match vectors::parse(path, &rendered) {
        Ok(back) => assert_eq!(back, file, "render→load changed the vector file"),
        Err(e) => panic!("the loader refuses its own rendering: {e}\n{rendered}"),
    }
    for v in &file.vectors {
        let _ = check::run(v);
        if let Ok(bytes) = hex::decode(&v.hex) {
            rud::fuzzing::decode_element(v.element, &bytes);
        }
    }
}
