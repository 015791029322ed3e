//! [`CaptureFile`]: a pcapng file on disk with the framing of [`super::frame`] built in, for
//! the `rud --pcap FILE` option and the drivers.
use std::fs::File;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::error::{CaptureError, FrameError, PcapngError};
use super::frame::udp_packet;
use super::pcapng::PcapngWriter;
use super::tcp_flow::{TcpFlow, TcpStep};

/// What to do when the capture file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Fail with [`CaptureError::Exists`] (`O_CREAT | O_EXCL`).
    #[default]
    Refuse,
    /// Truncate an existing regular file (never following a symbolic link) and reset its
    /// mode to 0600.
    Replace,
}

/// A pcapng capture file. Created with mode 0600 because its Decryption Secrets Blocks hold
/// the same secrets as a key log (docs/SPEC.md 7.8, keylog-file-safe). Call
/// [`CaptureFile::finish`] at the end: dropping the file flushes too, but cannot report a
/// failure.
///
/// [`CaptureFile::share`] gives another handle to the same file, so several endpoints of one
/// process write one capture (`rud demo` records its UDP and HTTP parts together); blocks are
/// written whole, one at a time, and the file closes when the last handle is dropped.
#[derive(Debug)]
pub struct CaptureFile {
    path: PathBuf,
    writer: Arc<Mutex<PcapngWriter<BufWriter<File>>>>,
}

impl CaptureFile {
    /// Creates the file and writes the section and interface headers.
    ///
    /// # Errors
    /// [`CaptureError::Exists`] when the file exists and `overwrite` is
    /// [`Overwrite::Refuse`]; [`CaptureError::NotRegularFile`], [`CaptureError::Create`] or
    /// [`CaptureError::Write`] otherwise.
    pub fn create(path: &Path, overwrite: Overwrite) -> Result<Self, CaptureError> {
        let file = open(path, overwrite)?;
        let writer =
            PcapngWriter::new(BufWriter::new(file)).map_err(|source| CaptureError::Write {
                path: path.to_owned(),
                what: "header",
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            writer: Arc::new(Mutex::new(writer)),
        })
    }

    /// Another handle to the same file: what either writes lands in it, in the order written.
    #[must_use]
    pub fn share(&self) -> Self {
        Self {
            path: self.path.clone(),
            writer: self.writer.clone(),
        }
    }

    /// The writer. A lock poisoned by a panic elsewhere is taken over: the writer itself
    /// refuses to append after a failed write, so it never misframes the file.
    fn writer(&self) -> MutexGuard<'_, PcapngWriter<BufWriter<File>>> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_err(&self, what: &'static str, source: PcapngError) -> CaptureError {
        CaptureError::Write {
            path: self.path.clone(),
            what,
            source,
        }
    }

    fn frame_err(&self, what: &'static str, source: FrameError) -> CaptureError {
        CaptureError::Frame {
            path: self.path.clone(),
            what,
            source,
        }
    }

    /// One UDP datagram from `from` to `to` at `timestamp` (since the Unix epoch).
    ///
    /// # Errors
    /// [`CaptureError::Frame`] for mixed address families or an oversized payload,
    /// [`CaptureError::Write`] if writing fails.
    pub fn udp(
        &mut self,
        timestamp: Duration,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
    ) -> Result<(), CaptureError> {
        let packet = udp_packet(from, to, payload).map_err(|e| self.frame_err("UDP packet", e))?;
        let written = self.writer().packet(timestamp, &packet);
        written.map_err(|e| self.write_err("UDP packet", e))
    }

    /// The packets of one step of a synthesised TCP flow, all at `timestamp`. The flow is the
    /// caller's (one per HTTP connection), so UDP packets and several flows can interleave.
    ///
    /// # Errors
    /// [`CaptureError::Frame`] for a step the flow's state refuses (the flow is unchanged),
    /// [`CaptureError::Write`] if writing fails.
    pub fn tcp_flow(
        &mut self,
        timestamp: Duration,
        flow: &mut TcpFlow,
        step: TcpStep<'_>,
    ) -> Result<(), CaptureError> {
        let packets = flow
            .step(step)
            .map_err(|e| self.frame_err("TCP segment", e))?;
        for packet in &packets {
            let written = self.writer().packet(timestamp, packet);
            written.map_err(|e| self.write_err("TCP segment", e))?;
        }
        Ok(())
    }

    /// A Decryption Secrets Block with RUD key-log text (see [`PcapngWriter::secrets`]).
    ///
    /// # Errors
    /// [`CaptureError::Write`] if writing fails.
    pub fn secrets(&mut self, keylog_text: &str) -> Result<(), CaptureError> {
        let written = self.writer().secrets(keylog_text);
        written.map_err(|e| self.write_err("secrets", e))
    }

    /// Flushes buffered blocks to the file.
    ///
    /// # Errors
    /// [`CaptureError::Write`] if flushing fails.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        let flushed = self.writer().flush();
        flushed.map_err(|e| self.write_err("buffered blocks", e))
    }

    /// Flushes and closes this handle (the file closes with its last handle).
    ///
    /// # Errors
    /// [`CaptureError::Write`] if flushing fails.
    pub fn finish(mut self) -> Result<(), CaptureError> {
        self.flush()
    }
}

#[cfg(unix)]
fn open(path: &Path, overwrite: Overwrite) -> Result<File, CaptureError> {
    use rustix::fs::{FileType, Mode, OFlags};
    use rustix::io::Errno;

    let create_err = |e: Errno| CaptureError::Create {
        path: path.to_owned(),
        source: std::io::Error::from(e),
    };
    let mode = Mode::RUSR | Mode::WUSR;
    // NOFOLLOW: never write through a symbolic link someone left at the path. NONBLOCK: opening
    // a FIFO must not hang waiting for a reader (it is refused below as not a regular file).
    let base = OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
    let flags = match overwrite {
        Overwrite::Refuse => base | OFlags::CREATE | OFlags::EXCL,
        Overwrite::Replace => base | OFlags::CREATE,
    };
    let fd = match rustix::fs::open(path, flags, mode) {
        Ok(fd) => fd,
        Err(e) if e == Errno::EXIST => {
            return Err(CaptureError::Exists {
                path: path.to_owned(),
            });
        }
        Err(e) if e == Errno::NXIO || e == Errno::ISDIR || e == Errno::LOOP => {
            return Err(CaptureError::NotRegularFile {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(create_err(e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(create_err)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(CaptureError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    if overwrite == Overwrite::Replace {
        // Truncate only now that the target is known to be a regular file, and narrow the mode
        // of a file that existed with a wider one.
        rustix::fs::ftruncate(&fd, 0).map_err(create_err)?;
        rustix::fs::fchmod(&fd, mode).map_err(create_err)?;
    }
    rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(create_err)?;
    Ok(File::from(fd))
}

#[cfg(not(unix))]
fn open(path: &Path, overwrite: Overwrite) -> Result<File, CaptureError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    match overwrite {
        Overwrite::Refuse => options.create_new(true),
        Overwrite::Replace => options.create(true).truncate(true),
    };
    options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            CaptureError::Exists {
                path: path.to_owned(),
            }
        } else {
            CaptureError::Create {
                path: path.to_owned(),
                source,
            }
        }
    })
}
