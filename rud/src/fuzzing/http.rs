//! The HTTP binding's request handling (SPEC 3.2.1): validation of the request head, the
//! capped body read and the framing parser, on any input.
use bytes::Bytes;
use http_body_util::Full;

use crate::http::framing;
use crate::http::request::{Head, Reject, read_capped, validate};
use crate::http::{MEDIA_TYPE, WELL_KNOWN_PATH};

/// A small cap, so inputs cross it.
const CAP: usize = 4096;

/// Input: a selector octet (method, path, media type, declared length), then the body.
/// Invariants: validation follows the order of [http-status]; the capped read refuses exactly
/// the bodies above the cap; a body the parser accepts re-frames to itself, and one it refuses
/// is not a concatenation of framed non-empty packets.
pub fn http_request(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let method = pick(["POST", "GET", "PUT", "post"], sel);
    let path = pick([WELL_KNOWN_PATH, "/", "/.well-known/rud/", "/x"], sel >> 2);
    let content_type = pick(
        [
            Some(MEDIA_TYPE),
            Some("Application/RUD; q=1"),
            Some("text/plain"),
            None,
        ],
        sel >> 4,
    );
    let content_length = pick(
        [None, Some(body.len() as u64), Some(u64::MAX), Some(0)],
        sel >> 6,
    );
    let head = Head {
        method,
        path,
        content_type,
        content_length,
    };
    let v = validate(&head, WELL_KNOWN_PATH, CAP);
    let expected = if path != WELL_KNOWN_PATH {
        Err(Reject::NotFound)
    } else if method != "POST" {
        Err(Reject::MethodNotAllowed)
    } else if content_type.is_none() || content_type == Some("text/plain") {
        Err(Reject::UnsupportedMediaType)
    } else if content_length.is_some_and(|n| n > CAP as u64) {
        Err(Reject::TooLarge)
    } else {
        Ok(())
    };
    assert_eq!(v, expected, "validation of {head:?}");

    // A ready body completes in one poll.
    let read = read_capped(Full::new(Bytes::copy_from_slice(body)), CAP);
    let mut read = std::pin::pin!(read);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let std::task::Poll::Ready(r) = read.as_mut().poll(&mut cx) else {
        panic!("a ready body did not complete");
    };
    assert_eq!(
        r.is_ok(),
        body.len() <= CAP,
        "cap of a {}-octet body",
        body.len()
    );

    match framing::decode(body) {
        Ok(packets) => {
            assert!(packets.iter().all(|p| !p.is_empty()));
            assert_eq!(framing::encode(packets.iter().copied()), body);
        }
        Err(e) => {
            // Greedy framing is the only framing: re-parse frame by frame to the error offset.
            let at = match e {
                framing::FramingError::TruncatedLength { offset }
                | framing::FramingError::EmptyPacket { offset }
                | framing::FramingError::TruncatedPacket { offset, .. } => offset,
            };
            assert!(at < body.len());
            assert!(framing::decode(body.get(..at).unwrap_or_default()).is_ok());
        }
    }
}

/// One of four, by the low two bits.
fn pick<T: Copy>(of: [T; 4], bits: u8) -> T {
    let [a, b, c, d] = of;
    match bits & 3 {
        0 => a,
        1 => b,
        2 => c,
        _ => d,
    }
}
