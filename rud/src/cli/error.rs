//! The command line's error: one line of text and an exit code.
use rud::udp::UdpError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad combination of flags or a malformed value (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A file that cannot be read or written, a socket that cannot be bound (exit 2).
    #[error("{0}")]
    Setup(String),
    /// The operation ran and failed (exit 1).
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Udp(#[from] UdpError),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Setup(_) => 2,
            CliError::Failed(_) => 1,
            CliError::Udp(e) => match e {
                UdpError::NoAddress
                | UdpError::Bind { .. }
                | UdpError::NoRoute(_)
                | UdpError::Responder(_)
                | UdpError::Start(_)
                | UdpError::Capture(_)
                | UdpError::Qlog { .. } => 2,
                _ => 1,
            },
        }
    }
}
