//! Fuzzing of the text formats the tools read from users: key logs and key files. Invariants:
//! nothing panics, and whatever parses renders back to text that parses to the same value.
// A panic here is an invariant failing: exactly what the fuzzer is meant to report.
#![allow(clippy::expect_used, clippy::panic)]
use crate::crypto::RustCryptoProvider;
use crate::crypto::keyfile::{
    parse_private_key, parse_public_key, private_key_to_hex, private_key_to_pem, public_key_to_hex,
    public_key_to_pem,
};
use crate::crypto::keylog::{self, format_line, labels};

/// Entry point of the `keylog_parser` target.
pub fn keylog_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = keylog::parse(text, labels::ALL) else {
        return;
    };
    let rendered: String = parsed
        .entries
        .iter()
        .map(|e| format_line(&e.label, &e.context, &e.secret).to_string())
        .collect();
    let again = keylog::parse(&rendered, labels::ALL).expect("rendered key log parses");
    assert_eq!(
        again.entries, parsed.entries,
        "key log render/parse round trip"
    );
    assert!(again.warnings.is_empty());
}

/// Entry point of the `keyfile_parser` target: the same text as a private and a public key.
pub fn keyfile_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = RustCryptoProvider;
    if let Ok(secret) = parse_private_key(&p, text) {
        for rendered in [private_key_to_pem(&secret), private_key_to_hex(&secret)] {
            let again = parse_private_key(&p, &rendered).expect("rendered private key parses");
            assert_eq!(again.expose(), secret.expose(), "private key round trip");
        }
    }
    if let Ok(public) = parse_public_key(text) {
        for rendered in [public_key_to_pem(&public), public_key_to_hex(&public)] {
            let again = parse_public_key(&rendered).expect("rendered public key parses");
            assert_eq!(again, public, "public key round trip");
        }
    }
}
