//! QUIC variable-length integers (RFC 9000 section 16), as draft-hallambaker-mesh-rud-00
//! "Data Encoding / Integer" requires.
//!
//! ```text
//!  2-bit prefix | length | usable bits | range
//!  00           | 1      | 6           | 0-63
//!  01           | 2      | 14          | 0-16383
//!  10           | 4      | 30          | 0-1073741823
//!  11           | 8      | 62          | 0-4611686018427387903
//! ```
//! Decoders accept non-minimal encodings (the draft allows them); encoders always write the
//! minimal one, so a re-encoded element may be shorter than the bytes received. Authentication
//! therefore always uses the received bytes, never a re-encoding (SPEC section 3.5.4).
use super::error::EncodeError;

/// Largest value a varint can carry: 2^62 - 1.
pub const MAX: u64 = (1 << 62) - 1;

/// Length in bytes of the varint whose first byte is `first`.
pub fn encoded_len_from_first_byte(first: u8) -> usize {
    1 << (first >> 6)
}

/// Value of a complete varint encoding (1, 2, 4 or 8 bytes, prefix included).
pub fn value_of(bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().fold(0u64, |acc, (k, b)| {
        let b = if k == 0 { b & 0x3f } else { *b };
        (acc << 8) | u64::from(b)
    })
}

/// Minimal encoded length of `v` (values above [`MAX`] report 8; `write` refuses them).
pub fn len(v: u64) -> usize {
    match v {
        0..=63 => 1,
        64..=16383 => 2,
        16384..=1_073_741_823 => 4,
        _ => 8,
    }
}

/// Appends the minimal encoding of `v`.
pub fn write(out: &mut Vec<u8>, v: u64, field: &'static str) -> Result<(), EncodeError> {
    if v > MAX {
        return Err(EncodeError::VarintTooLarge { field, value: v });
    }
    write_with_len(out, v, len(v));
    Ok(())
}

/// Appends `v` on exactly `n` bytes (1, 2, 4 or 8; `v` must fit). Used by tests and the vector
/// generator to produce the non-minimal encodings the draft allows.
pub fn write_with_len(out: &mut Vec<u8>, v: u64, n: usize) {
    let prefix: u8 = match n {
        1 => 0x00,
        2 => 0x40,
        4 => 0x80,
        _ => 0xc0,
    };
    let n = match n {
        1 | 2 | 4 => n,
        _ => 8,
    };
    let be = v.to_be_bytes();
    let tail = be.split_at(8 - n).1;
    for (k, b) in tail.iter().enumerate() {
        out.push(if k == 0 { (b & 0x3f) | prefix } else { *b });
    }
}

/// Appends a length prefix; lengths above the varint range cannot occur for in-memory slices.
pub fn write_len(out: &mut Vec<u8>, n: usize, field: &'static str) -> Result<(), EncodeError> {
    write(out, n as u64, field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse;

    fn dec(hex_str: &str) -> u64 {
        let bytes = hex::decode(hex_str).unwrap();
        parse::all(&bytes, |i| parse::varint(i, "v")).unwrap()
    }

    //= docs/SPEC.md#varint-encoding
    //= type=test
    //# Integers are QUIC variable-length integers; receivers accept non-minimal encodings.
    #[test]
    fn rfc9000_appendix_a1_examples() {
        // RFC 9000 appendix A.1: (encoding, value, is the encoding minimal?)
        let cases = [
            ("c2197c5eff14e88c", 151_288_809_941_952_652u64, true),
            ("9d7f3e7d", 494_878_333, true),
            ("7bbd", 15_293, true),
            ("25", 37, true),
            ("4025", 37, false),
        ];
        for (enc, value, minimal) in cases {
            assert_eq!(dec(enc), value, "{enc}");
            let mut out = Vec::new();
            write(&mut out, value, "v").unwrap();
            if minimal {
                assert_eq!(hex::encode(&out), enc);
            } else {
                assert!(out.len() < enc.len() / 2, "re-encoding is minimal");
                let mut exact = Vec::new();
                write_with_len(&mut exact, value, enc.len() / 2);
                assert_eq!(hex::encode(&exact), enc);
            }
        }
    }

    #[test]
    fn boundaries_and_overflow() {
        for v in [0, 63, 64, 16383, 16384, 1_073_741_823, 1_073_741_824, MAX] {
            let mut out = Vec::new();
            write(&mut out, v, "v").unwrap();
            assert_eq!(out.len(), len(v));
            assert_eq!(parse::all(&out, |i| parse::varint(i, "v")).unwrap(), v);
        }
        assert!(write(&mut Vec::new(), MAX + 1, "v").is_err());
    }

    #[test]
    fn truncated_varint_reports_offset() {
        let e = parse::all(&[0x80, 0x01], |i| parse::varint(i, "v")).unwrap_err();
        assert_eq!(e.offset, 0);
        assert_eq!(e.kind.name(), "truncated");
    }
}
