//! The recording: one append-only file per run, the seam between capture and everything else.
//! Report, export and the live view are functions of what is in it.
//!
//! Layout (all integers little-endian):
//! ```text
//! file   := preamble header frame*
//! preamble := "HBWATCH\0" major:u16 minor:u16 header_len:u32 header_crc32:u32
//! header := postcard(Header)
//! frame  := "HBWF" len:u32 crc32:u32 payload[len]
//! payload := zstd( (record_len:u32 postcard(Record))* )
//! ```
//! A frame holds every record pushed since the previous flush (at most one second). A torn last
//! frame (SIGKILL, power loss) or a corrupt middle one is skipped and counted; the reader resyncs
//! on the next "HBWF" whose checksum holds. Records are encoded one by one so that a reader meets a
//! record kind it does not know (a newer minor version) as one skipped record, not a lost frame.

pub mod format;
pub mod input;
pub mod reader;
pub mod records;
mod source;
pub mod synth;
pub mod writer;

pub use reader::{ReadStats, RecordingReader};
pub use records::{Header, Record};
pub use writer::RecordingWriter;

#[cfg(test)]
mod tests;
