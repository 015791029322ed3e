//! Size limits of SPEC section 6.4. Every length and count read from the wire is checked
//! against one of these before anything is sliced or allocated.

/// Stream identifiers are 0 to 16 octets (draft "Stream Identifier").
pub const MAX_STREAM_ID_LEN: usize = 16;
/// Extension tags are 1 to 16 octets (draft "Packet Extension List").
pub const MAX_TAG_LEN: usize = 16;
/// Entries in one extension list.
pub const MAX_EXTENSIONS: usize = 64;
/// Length of one extension value.
pub const MAX_EXTENSION_VALUE: usize = 65_535;
/// Length of a key identifier.
pub const MAX_KEY_ID_LEN: usize = 32;
/// Length of a public key of any algorithm (X448 keys are exactly 56).
pub const MAX_PUBLIC_KEY_LEN: usize = 1_024;
/// Responder ephemeral keys offered in one Challenge or Defer.
pub const MAX_EPHEMERALS: u64 = 8;
/// Length of a challenge cookie.
pub const MAX_COOKIE_LEN: usize = 64;
/// Length of a service name or close reason.
pub const MAX_NAME_LEN: usize = 255;
/// Packets in one packetized datagram.
pub const MAX_PACKETS_PER_DATAGRAM: u64 = 16_384;
/// Ranges in one Ack extension, and partially received datagrams in one Ack.
pub const MAX_ACK_RANGES: u64 = 256;
pub const MAX_ACK_PARTIALS: u64 = 64;
/// Octets of one fragment bitmap in an Ack (covers MAX_PACKETS_PER_DATAGRAM packets).
pub const MAX_ACK_BITMAP: usize = 2_048;
/// Identifiers in one OneTimeIds extension; versions in one SupportedVersions extension.
pub const MAX_ONE_TIME_IDS: usize = 16;
pub const MAX_VERSIONS: usize = 16;
/// A payload is bounded only by the datagram that carries it (no allocation happens).
pub const MAX_PAYLOAD: usize = usize::MAX;
/// Every initiator connection datagram is at least this long (anti-amplification).
pub const MIN_INITIATOR_DATAGRAM: usize = 1_200;
/// AES-256-GCM tag length.
pub const TAG_LEN: usize = 16;
