//! Randomness is injected: the state machines draw every random octet (ephemeral keys, issued
//! stream identifiers, cookie secrets) from an [`Entropy`] the caller supplies. The bindings pass
//! the operating system's generator; tests and the vector generator pass [`SeededEntropy`], which
//! makes a whole handshake reproducible byte for byte.
use sha2::{Digest, Sha512};

/// A source of random octets.
pub trait Entropy: Send {
    fn fill(&mut self, out: &mut [u8]);
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
