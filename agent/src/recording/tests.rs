//! Round-trip and damage tests of the recording format.

use std::path::Path;

use super::{
    format::{MAJOR, RecordingError},
    reader::RecordingReader,
    records::*,
    writer::RecordingWriter,
};

pub(crate) fn sample_header() -> Header {
    Header {
        hbwatch_version: "0.0.0-test".into(),
        host: "testhost".into(),
        kernel_release: "6.18.0".into(),
        cpus: 2,
        online_cpus: vec![0, 1],
        nics: vec![NicSummary {
            name: "eth0".into(),
            driver: Some("virtio_net".into()),
            rx_queues: 1,
            tx_queues: 1,
        }],
        boot_id: "b".into(),
        anchor: ClockAnchor {
            mono_ns: 1_000,
            realtime_ns: 1_700_000_000_000_000_000,
        },
        softirq_vectors: vec![
            "HI".into(),
            "TIMER".into(),
            "NET_TX".into(),
            "NET_RX".into(),
        ],
        command: vec!["hbwatch".into(), "record".into()],
    }
}

fn clock(i: u64) -> Record {
    Record::Clock(ClockAnchor {
        mono_ns: i * 1_000_000_000,
        realtime_ns: i as i64,
    })
}

/// Writes `frames` frames of two records each and returns the file bytes.
fn write_frames(dir: &Path, frames: u64) -> Vec<u8> {
    let path = dir.join("r.hbw");
    let mut w = RecordingWriter::create(&path, false, &sample_header()).expect("create");
    for i in 0..frames {
        w.push(&clock(i)).expect("push");
        w.push(&Record::Stop(StopInfo {
            at_mono_ns: i,
            reason: "x".repeat(i as usize),
        }))
        .expect("push");
        w.flush().expect("flush");
    }
    std::fs::read(&path).expect("read back")
}

fn read(bytes: Vec<u8>) -> (Vec<Record>, super::ReadStats) {
    let mut r = RecordingReader::from_bytes(Path::new("t.hbw"), bytes).expect("open");
    let recs: Vec<Record> = r.by_ref().collect();
    (recs, r.stats().clone())
}

/// Byte offsets where each frame starts.
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"HBWF")
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = write_frames(dir.path(), 5);
    let r = RecordingReader::from_bytes(Path::new("t"), bytes.clone()).expect("open");
    assert_eq!(r.header(), &sample_header());
    let (recs, stats) = read(bytes);
    assert_eq!(recs.len(), 10);
    assert_eq!(recs[2], clock(1));
    assert_eq!(stats.frames, 5);
    assert_eq!(
        (
            stats.corrupt_frames,
            stats.truncated_tail_bytes,
            stats.skipped_bytes
        ),
        (0, 0, 0)
    );
}

#[test]
fn truncated_tail_is_counted_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = write_frames(dir.path(), 4);
    let last = *frame_starts(&bytes).last().expect("frames");
    for cut in [last + 1, last + 5, last + 13, bytes.len() - 1] {
        let (recs, stats) = read(bytes[..cut].to_vec());
        assert_eq!(recs.len(), 6, "cut at {cut}");
        assert_eq!(
            stats.truncated_tail_bytes,
            (cut - last) as u64,
            "cut at {cut}"
        );
        assert_eq!(stats.corrupt_frames, 0);
    }
}

#[test]
fn flipped_byte_in_middle_frame_skips_only_that_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = write_frames(dir.path(), 5);
    let starts = frame_starts(&bytes);
    bytes[starts[2] + 14] ^= 0x40;
    let (recs, stats) = read(bytes);
    assert_eq!(stats.corrupt_frames, 1);
    assert_eq!(stats.frames, 4);
    assert_eq!(stats.skipped_bytes, (starts[3] - starts[2]) as u64);
    assert!(recs.contains(&clock(4)), "frames after the damage are read");
    assert!(!recs.contains(&clock(2)));
}

#[test]
fn wrong_magic_is_rejected() {
    let err = RecordingReader::from_bytes(
        Path::new("notes.txt"),
        b"hello world, not a recording".to_vec(),
    )
    .err()
    .expect("must fail");
    assert!(matches!(err, RecordingError::NotARecording { .. }), "{err}");
    assert!(err.to_string().contains("not an hbwatch recording"));
}

#[test]
fn newer_major_version_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = write_frames(dir.path(), 1);
    bytes[8..10].copy_from_slice(&(MAJOR + 1).to_le_bytes());
    let err = RecordingReader::from_bytes(Path::new("t"), bytes)
        .err()
        .expect("must fail");
    assert!(matches!(err, RecordingError::NewerVersion { .. }), "{err}");
}

#[test]
fn corrupt_header_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = write_frames(dir.path(), 1);
    bytes[25] ^= 0xff;
    let err = RecordingReader::from_bytes(Path::new("t"), bytes)
        .err()
        .expect("must fail");
    assert!(matches!(err, RecordingError::CorruptHeader { .. }), "{err}");
}

#[test]
fn unknown_record_kind_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.hbw");
    let mut w = RecordingWriter::create(&path, false, &sample_header()).expect("create");
    w.push(&clock(1)).expect("push");
    w.flush().expect("flush");
    drop(w);
    // Hand-build a frame whose single record has a variant index no version knows yet.
    let mut rec = vec![];
    let body = [200u8, 1, 2, 3];
    rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
    rec.extend_from_slice(&body);
    rec.extend_from_slice(
        &(postcard::to_stdvec(&clock(2)).expect("enc").len() as u32).to_le_bytes(),
    );
    rec.extend_from_slice(&postcard::to_stdvec(&clock(2)).expect("enc"));
    let payload = zstd::bulk::compress(&rec, 3).expect("zstd");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(b"HBWF");
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    let (recs, stats) = read(bytes);
    assert_eq!(recs, vec![clock(1), clock(2)]);
    assert_eq!(stats.unknown_records, 1);
}

#[test]
fn output_is_private_and_never_overwritten_or_followed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.hbw");
    RecordingWriter::create(&path, false, &sample_header()).expect("create");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = RecordingWriter::create(&path, false, &sample_header())
        .err()
        .expect("exists");
    assert!(matches!(again, RecordingError::Exists { .. }));
    RecordingWriter::create(&path, true, &sample_header()).expect("--force overwrites");

    let target = dir.path().join("target");
    std::fs::write(&target, b"keep").expect("write");
    let link = dir.path().join("link.hbw");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    for force in [false, true] {
        let err = RecordingWriter::create(&link, force, &sample_header())
            .err()
            .expect("symlink");
        assert!(matches!(err, RecordingError::Symlink { .. }), "{err}");
    }
    assert_eq!(std::fs::read(&target).expect("read"), b"keep");
}

#[test]
fn softirq_times_are_read_without_decoding_the_cells() {
    use super::{reader::softirq_times, records::*};
    let iv = Record::Softirq(SoftirqInterval {
        start_mono_ns: 1_000_000_000_123,
        end_mono_ns: 1_001_000_000_123,
        cells: Vec::new(),
    });
    let raw = postcard::to_allocvec(&iv).expect("encode");
    assert_eq!(
        softirq_times(&raw),
        Some((1_000_000_000_123, 1_001_000_000_123))
    );
    let clock = Record::Clock(ClockAnchor {
        mono_ns: 5,
        realtime_ns: 6,
    });
    let raw = postcard::to_allocvec(&clock).expect("encode");
    assert_eq!(softirq_times(&raw), None);
}
