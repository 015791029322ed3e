//! The driver's clock: the only place the UDP binding reads time.
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch as the core expects it: the system time read once when the clock
/// is made, advanced by the monotonic clock from then on (timers never jump with the wall
/// clock; the Exchange timestamp and cookie epochs stay close to real Unix time).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Duration,
    start: Instant,
}

impl Clock {
    /// Reads the system time now. A system clock before 1970 counts as 1970.
    pub fn new() -> Self {
        Self {
            base: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            start: Instant::now(),
        }
    }

    /// Now, since the Unix epoch.
    pub fn now(&self) -> Duration {
        self.base.saturating_add(self.start.elapsed())
    }

    /// The monotonic instant of a `now`-style time (for sleeping until it).
    pub fn instant(&self, at: Duration) -> Instant {
        let ahead = at.saturating_sub(self.base);
        // A deadline too far to represent is as good as never.
        self.start
            .checked_add(ahead)
            .unwrap_or_else(|| self.start + Duration::from_secs(86_400 * 365))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
