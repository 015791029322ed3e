//! Settings of the HTTP binding (SPEC 3.2.1).
use std::time::Duration;

/// The well-known path requests are posted to.
pub const WELL_KNOWN_PATH: &str = "/.well-known/rud";
/// The media type of request and response bodies.
pub const MEDIA_TYPE: &str = "application/rud";

/// How the binding posts, answers and polls.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Path requests go to (server: the only one answered).
    pub path: String,
    /// Largest request or response body; a larger request gets 413 and is not read further.
    pub max_body: usize,
    /// Server: how long a request waits for the endpoint's answer when it has none yet.
    pub max_wait: Duration,
    /// Server: once something is ready, how much longer to wait for the rest of the round.
    pub linger: Duration,
    /// Client: first delay before an empty poll after an exchange; doubles per empty poll.
    pub poll_min: Duration,
    /// Client: the largest delay between polls.
    pub poll_max: Duration,
    /// Client: stop polling a peer after this long without a packet either way.
    pub poll_for: Duration,
    /// Packets queued for one peer at most (older ones are dropped: a loss, resent by
    /// recovery), and packets waiting to enter the endpoint before requests get 503.
    pub max_queue: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            path: WELL_KNOWN_PATH.to_owned(),
            max_body: 1 << 20,
            max_wait: Duration::from_millis(50),
            linger: Duration::from_millis(2),
            poll_min: Duration::from_millis(10),
            poll_max: Duration::from_millis(500),
            poll_for: Duration::from_secs(40),
            max_queue: 4096,
        }
    }
}
