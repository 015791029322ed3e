//! A key log that also keeps the lines not yet written into a capture, so the driver can put
//! them in a Decryption Secrets Block before the packets they decrypt.
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::crypto::keylog::{KEYLOG_HEADER, KeyLog, format_line};

/// Forwards every secret to `inner` (if any) and, when `capture` is set, buffers its key-log
/// line until [`TeeKeyLog::take_pending`].
#[derive(Debug)]
pub struct TeeKeyLog {
    inner: Option<Arc<dyn KeyLog>>,
    pending: Option<Mutex<Zeroizing<String>>>,
}

impl TeeKeyLog {
    pub fn new(inner: Option<Arc<dyn KeyLog>>, capture: bool) -> Self {
        Self {
            inner,
            // The capture's secrets read like a key log file: the same header first.
            pending: capture.then(|| Mutex::new(Zeroizing::new(KEYLOG_HEADER.to_owned()))),
        }
    }

    /// Whether anything would be logged at all.
    pub fn is_active(&self) -> bool {
        self.inner.is_some() || self.pending.is_some()
    }

    /// The lines logged since the last call (empty when none, or without a capture).
    pub fn take_pending(&self) -> Zeroizing<String> {
        match self.pending.as_ref().map(Mutex::lock) {
            Some(Ok(mut p)) => std::mem::take(&mut *p),
            _ => Zeroizing::new(String::new()),
        }
    }
}

impl KeyLog for TeeKeyLog {
    fn log(&self, label: &str, context: &[u8], secret: &[u8]) {
        if let Some(inner) = &self.inner {
            inner.log(label, context, secret);
        }
        if let Some(Ok(mut p)) = self.pending.as_ref().map(Mutex::lock) {
            p.push_str(&format_line(label, context, secret));
        }
    }
}
