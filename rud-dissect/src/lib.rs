//! `rud-dissect`: decodes RUD datagrams (and, as the toolkit grows, captures and key logs) with
//! the one codec the reference implementation uses.
pub mod hex_input;
pub mod output;
