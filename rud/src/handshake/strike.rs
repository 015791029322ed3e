//! The strike register that lets Immediate's early data be accepted at most once
//! (docs/SPEC.md section 7.5). Keyed on the initiator's ephemeral public key; an entry is kept
//! for twice the timestamp window, so any replay that is still inside the window finds it.
use std::collections::HashMap;
use std::time::Duration;

/// Why early data was or was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EarlyVerdict {
    Accepted,
    /// The initiator's timestamp is further than the window from the responder's clock.
    OutsideWindow,
    /// The same Exchange was seen before.
    Replay,
    /// Less than two windows since the register started: an earlier instance might have seen it.
    WarmingUp,
    /// The register is full of live entries: fail closed.
    Full,
}

#[derive(Debug)]
pub struct StrikeRegister {
    window: Duration,
    capacity: usize,
    started: Duration,
    entries: HashMap<[u8; 56], Duration>,
}

impl StrikeRegister {
    pub fn new(now: Duration, window: Duration, capacity: usize) -> Self {
        StrikeRegister {
            window,
            capacity,
            started: now,
            entries: HashMap::new(),
        }
    }

    /// Checks an Exchange's ephemeral and timestamp (Unix seconds) and records it if accepted.
    pub fn check(&mut self, now: Duration, ephemeral: &[u8; 56], timestamp_s: u64) -> EarlyVerdict {
        let keep = self.window.saturating_mul(2);
        let ts = Duration::from_secs(timestamp_s);
        let skew = ts.abs_diff(now);
        if skew > self.window {
            return EarlyVerdict::OutsideWindow;
        }
        if self
            .entries
            .get(ephemeral)
            .is_some_and(|expiry| *expiry > now)
        {
            return EarlyVerdict::Replay;
        }
        if now.saturating_sub(self.started) < keep {
            return EarlyVerdict::WarmingUp;
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, expiry| *expiry > now);
            if self.entries.len() >= self.capacity {
                return EarlyVerdict::Full;
            }
        }
        self.entries.insert(*ephemeral, now + keep);
        EarlyVerdict::Accepted
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(10);

    #[test]
    fn accepts_once_and_rejects_outside_window_warmup_and_full() {
        let t0 = Duration::from_secs(1_000);
        let mut r = StrikeRegister::new(t0, W, 2);
        assert_eq!(r.check(t0, &[1; 56], 1_000), EarlyVerdict::WarmingUp);
        let t = t0 + W * 2;
        let s = t.as_secs();
        assert_eq!(r.check(t, &[1; 56], s), EarlyVerdict::Accepted);
        assert_eq!(r.check(t, &[1; 56], s), EarlyVerdict::Replay);
        assert_eq!(r.check(t, &[2; 56], s - 11), EarlyVerdict::OutsideWindow);
        assert_eq!(r.check(t, &[2; 56], s + 11), EarlyVerdict::OutsideWindow);
        assert_eq!(r.check(t, &[2; 56], s), EarlyVerdict::Accepted);
        assert_eq!(r.check(t, &[3; 56], s), EarlyVerdict::Full);
        // Entries expire after two windows, making room again.
        let later = t + W * 2 + Duration::from_secs(1);
        assert_eq!(
            r.check(later, &[3; 56], later.as_secs()),
            EarlyVerdict::Accepted
        );
    }
}
