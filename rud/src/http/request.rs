//! Validation of a binding request before its body is read, and the capped body read
//! (SPEC 3.2.1). Pure functions of the request head, so the fuzz target drives them too.
use bytes::Buf;
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::body::Body;

use super::config::MEDIA_TYPE;

/// Why a request gets an HTTP error instead of RUD packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("malformed framing or body")]
    BadRequest,
    #[error("no binding at this path")]
    NotFound,
    #[error("method other than POST")]
    MethodNotAllowed,
    #[error("body above the cap")]
    TooLarge,
    #[error("media type other than application/rud")]
    UnsupportedMediaType,
    #[error("the endpoint cannot take more packets now")]
    Overloaded,
}

impl Reject {
    //= docs/SPEC.md#http-status
    //# A server MUST answer a request with the wrong path with 404, a method other than POST with 405, another media type with 415, a body above its cap with 413, malformed framing with 400, and when it cannot take the packets with 503; every other outcome, RUD errors included, is 200 with RUD datagrams in the body.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// What validation looks at.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    pub content_length: Option<u64>,
}

/// Checks path, method, media type and declared length, in that order.
///
/// # Errors
/// The first check that fails.
pub fn validate(head: &Head<'_>, path: &str, max_body: usize) -> Result<(), Reject> {
    if head.path != path {
        return Err(Reject::NotFound);
    }
    if head.method != "POST" {
        return Err(Reject::MethodNotAllowed);
    }
    let media = head
        .content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    if !media.is_some_and(|m| m.eq_ignore_ascii_case(MEDIA_TYPE)) {
        return Err(Reject::UnsupportedMediaType);
    }
    if head.content_length.is_some_and(|n| n > max_body as u64) {
        return Err(Reject::TooLarge);
    }
    Ok(())
}

/// Reads a body frame by frame, refusing it as soon as it passes `max` octets: memory stays
/// below the cap whatever the peer sends or declares.
///
/// # Errors
/// `TooLarge` above the cap, `BadRequest` when the body fails to arrive.
//= docs/SPEC.md#http-body-cap
//# A server MUST stop reading a body that passes its cap and answer 413, holding at most the cap in memory.
pub async fn read_capped<B>(mut body: B, max: usize) -> Result<Vec<u8>, Reject>
where
    B: Body + Unpin,
{
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Reject::BadRequest)?;
        if let Ok(mut data) = frame.into_data() {
            if out.len().saturating_add(data.remaining()) > max {
                return Err(Reject::TooLarge);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                out.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
    Ok(out)
}
