//! Randomness is injected: the state machines draw every random octet (ephemeral keys, issued
//! stream identifiers, cookie secrets) from an [`Entropy`] the caller supplies. The bindings pass
//! the operating system's generator; tests and the vector generator pass [`SeededEntropy`], which
//! makes a whole handshake reproducible byte for byte.
use sha2::{Digest, Sha512};

/// A source of random octets.
pub trait Entropy: Send {
    fn fill(&mut self, out: &mut [u8]);

    /// An independent source for a new connection: the operating system's generator again, or
    /// (seeded) a generator seeded from this one, so a seeded run stays reproducible.
    fn fork(&mut self) -> Box<dyn Entropy> {
        let mut seed = [0u8; 32];
        self.fill(&mut seed);
        Box::new(SeededEntropy::new(&seed))
    }
}

/// The operating system's generator (getrandom). It has no failure path: a system that cannot
/// produce random octets cannot run a key exchange, so the process aborts rather than continue
/// with predictable keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, out: &mut [u8]) {
        if getrandom::fill(out).is_err() {
            std::process::abort();
        }
    }

    fn fork(&mut self) -> Box<dyn Entropy> {
        Box::new(OsEntropy)
    }
}

/// Deterministic octets from a seed: SHA-512(seed || be64(block counter)) blocks, in order.
/// For tests and vectors only: never for keys that protect real traffic.
#[derive(Clone)]
pub struct SeededEntropy {
    seed: Vec<u8>,
    counter: u64,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for SeededEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeededEntropy")
            .field("counter", &self.counter)
            .finish()
    }
}

impl SeededEntropy {
    pub fn new(seed: &[u8]) -> Self {
        SeededEntropy {
            seed: seed.to_vec(),
            counter: 0,
            buffer: Vec::new(),
        }
    }
}

impl Entropy for SeededEntropy {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out.iter_mut() {
            if self.buffer.is_empty() {
                let mut h = Sha512::new();
                h.update(&self.seed);
                h.update(self.counter.to_be_bytes());
                self.counter += 1;
                self.buffer = h.finalize().to_vec();
                self.buffer.reverse();
            }
            *b = self.buffer.pop().unwrap_or(0);
        }
    }
}
