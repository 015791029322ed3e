//! Services bound by name (draft: "Stream Creation and Binding"): what a responder does with
//! the streams peers open. Sans-IO like the rest: [`ServiceHost::pump`] reads what a
//! [`Connection`] has ready and answers it; the UDP and HTTP bindings, the simulator and tests
//! all call it the same way after feeding the connection.
//!
//! Built in: `echo` (a transactional stream answered with each request's octets), `discard`
//! (requests answered empty, asynchronous messages dropped) and `sink` (each asynchronous stream
//! written to its own file). Register more with [`ServiceHost::register`].
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use crate::connection::{Connection, StreamHandle, StreamKind};

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamRef {
    /// The caller's name for the connection (an endpoint's connection id, for example).
    pub connection: u64,
    pub stream: StreamHandle,
}

/// Why a service could not take a message. The stream is closed with the code.
#[derive(Debug, thiserror::Error)]
#[error("service {service}: {what}")]
pub struct ServiceError {
    pub service: String,
    pub what: String,
}

/// One named service.
pub trait Service: Send {
    /// A request on a transactional stream; the returned octets are the response.
    fn request(&mut self, from: StreamRef, request: &[u8]) -> Result<Vec<u8>, ServiceError>;

    /// A message on an asynchronous stream the peer sends on.
    fn message(&mut self, from: StreamRef, message: &[u8]) -> Result<(), ServiceError>;

    /// The stream ended (closed by either side, or the connection ended).
    fn closed(&mut self, from: StreamRef) {
        let _ = from;
    }
}

/// Answers each request with its own octets; keeps nothing.
#[derive(Debug, Default)]
pub struct Echo;

impl Service for Echo {
    fn request(&mut self, _: StreamRef, request: &[u8]) -> Result<Vec<u8>, ServiceError> {
        Ok(request.to_vec())
    }

    fn message(&mut self, _: StreamRef, _: &[u8]) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// Answers requests with nothing and drops asynchronous messages.
#[derive(Debug, Default)]
pub struct Discard;

impl Service for Discard {
    fn request(&mut self, _: StreamRef, _: &[u8]) -> Result<Vec<u8>, ServiceError> {
        Ok(Vec::new())
    }

    fn message(&mut self, _: StreamRef, _: &[u8]) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// Writes each asynchronous stream to `DIR/<connection>-<stream>.bin`; a request is answered
/// with the number of octets received so far on that stream (decimal ASCII).
#[derive(Debug)]
pub struct Sink {
    dir: PathBuf,
    files: HashMap<StreamRef, (File, u64)>,
}

impl Sink {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            files: HashMap::new(),
        }
    }

    /// The file a stream is written to.
    pub fn path(&self, from: StreamRef) -> PathBuf {
        self.dir
            .join(format!("{}-{}.bin", from.connection, from.stream.0))
    }

    fn err(&self, what: String) -> ServiceError {
        ServiceError {
            service: "sink".into(),
            what,
        }
    }
}

impl Service for Sink {
    fn request(&mut self, from: StreamRef, _: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let n = self.files.get(&from).map_or(0, |f| f.1);
        Ok(n.to_string().into_bytes())
    }

    fn message(&mut self, from: StreamRef, message: &[u8]) -> Result<(), ServiceError> {
        if !self.files.contains_key(&from) {
            let path = self.path(from);
            let file = File::options()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| self.err(format!("creating {}: {e}", path.display())))?;
            self.files.insert(from, (file, 0));
        }
        let path = self.path(from);
        let Some((file, n)) = self.files.get_mut(&from) else {
            return Err(self.err("stream file vanished".into()));
        };
        file.write_all(message).map_err(|e| ServiceError {
            service: "sink".into(),
            what: format!("writing {}: {e}", path.display()),
        })?;
        *n += message.len() as u64;
        Ok(())
    }

    fn closed(&mut self, from: StreamRef) {
        if let Some((mut f, _)) = self.files.remove(&from) {
            let _ = f.flush();
        }
    }
}

/// The services of an endpoint, by name.
pub struct ServiceHost {
    services: BTreeMap<String, Box<dyn Service>>,
}

impl std::fmt::Debug for ServiceHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHost")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Code a stream is closed with when its service fails (SPEC 6.3 InternalError).
pub const SERVICE_FAILED: u64 = 7;

impl ServiceHost {
    /// No services.
    pub fn new() -> Self {
        Self {
            services: BTreeMap::new(),
        }
    }

    /// `echo` and `discard`, and `sink` writing into `sink_dir` when given.
    pub fn with_builtins(sink_dir: Option<PathBuf>) -> Self {
        let mut h = Self::new();
        h.register("echo", Box::new(Echo));
        h.register("discard", Box::new(Discard));
        if let Some(dir) = sink_dir {
            h.register("sink", Box::new(Sink::new(dir)));
        }
        h
    }

    /// Binds `service` to `name` (replacing any service of that name).
    pub fn register(&mut self, name: &str, service: Box<dyn Service>) {
        self.services.insert(name.to_owned(), service);
    }

    /// The names bound, for `ConnectionConfig::services`.
    pub fn names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    /// Reads every message `conn` holds on streams the peer created and hands each to its
    /// service: requests are answered, asynchronous messages consumed. A failing service closes
    /// its stream with [`SERVICE_FAILED`]; the errors are returned for the caller to log.
    pub fn pump(&mut self, connection: u64, conn: &mut Connection) -> Vec<ServiceError> {
        let me = conn.role();
        let streams: Vec<(StreamHandle, StreamKind, String)> = conn
            .streams()
            .map(|(h, k, s)| (h, k, s.to_owned()))
            .collect();
        let mut errors = Vec::new();
        for (stream, kind, name) in streams {
            if conn.stream_creator(stream) == Some(me) {
                continue;
            }
            let Some(service) = self.services.get_mut(&name) else {
                continue;
            };
            let from = StreamRef { connection, stream };
            while let Some(m) = conn.read(stream) {
                let result = match kind {
                    StreamKind::Transactional => service.request(from, &m.bytes).and_then(|r| {
                        conn.respond(stream, m.id, r).map_err(|e| ServiceError {
                            service: name.clone(),
                            what: e.to_string(),
                        })
                    }),
                    StreamKind::Asynchronous => service.message(from, &m.bytes),
                };
                if let Err(e) = result {
                    let _ = conn.close_stream(stream, SERVICE_FAILED, "service failed");
                    errors.push(e);
                    break;
                }
            }
        }
        errors
    }

    /// Tells the services that a stream (or every stream of a connection) ended.
    pub fn closed(&mut self, from: StreamRef) {
        for s in self.services.values_mut() {
            s.closed(from);
        }
    }
}

impl Default for ServiceHost {
    fn default() -> Self {
        Self::new()
    }
}
