//! Hexadecimal input as people paste it: upper or lower case, optional `0x` prefix, and
//! whitespace or `:` between octets. Errors name the character offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("character {offset}: {found:?} is not a hexadecimal digit")]
    BadDigit { offset: usize, found: char },
    #[error("odd number of hexadecimal digits ({digits})")]
    OddLength { digits: usize },
    #[error("no hexadecimal digits in the input")]
    Empty,
}

pub fn parse(text: &str) -> Result<Vec<u8>, HexError> {
    let body = text.trim();
    let (skip, body) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(rest) => (text.len() - text.trim_start().len() + 2, rest),
        None => (text.len() - text.trim_start().len(), body),
    };
    let mut digits = Vec::with_capacity(body.len());
    for (k, c) in body.char_indices() {
        if c.is_ascii_whitespace() || c == ':' {
            continue;
        }
        match c.to_digit(16) {
            // to_digit(16) is at most 15.
            Some(d) => digits.push(d as u8),
            None => {
                return Err(HexError::BadDigit {
                    offset: skip + k,
                    found: c,
                });
            }
        }
    }
    if digits.is_empty() {
        return Err(HexError::Empty);
    }
    if digits.len() % 2 != 0 {
        return Err(HexError::OddLength {
            digits: digits.len(),
        });
    }
    Ok(digits
        .chunks_exact(2)
        .map(|p| p.iter().fold(0u8, |acc, d| (acc << 4) | d))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_forms() {
        assert_eq!(parse("0a0B").unwrap(), vec![0x0a, 0x0b]);
        assert_eq!(parse(" 0x0a 0b\n").unwrap(), vec![0x0a, 0x0b]);
        assert_eq!(parse("0a:0b").unwrap(), vec![0x0a, 0x0b]);
    }

    #[test]
    fn names_the_bad_character() {
        assert_eq!(
            parse("0a0g").unwrap_err(),
            HexError::BadDigit {
                offset: 3,
                found: 'g'
            }
        );
        assert_eq!(
            parse("  0x0g").unwrap_err(),
            HexError::BadDigit {
                offset: 5,
                found: 'g'
            }
        );
        assert_eq!(parse("abc").unwrap_err(), HexError::OddLength { digits: 3 });
        assert_eq!(parse("  ").unwrap_err(), HexError::Empty);
    }
}
