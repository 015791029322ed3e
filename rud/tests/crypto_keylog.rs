//! Key logs: line format, parser errors and warnings, and the file sink's refusal of unsafe
//! files (symbolic links, wrong mode, wrong owner, not a regular file).

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use rud::crypto::keylog::{
    FileKeyLog, KEYLOG_HEADER, KeyLog, KeyLogError, KeyLogField, KeyLogParseError, KeyLogProblem,
    MemoryKeyLog, NoKeyLog, format_line, keylog_path_from_value, labels, parse,
};

/// A fresh directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("rud-keylog-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_mode(p: &Path, text: &str, mode: u32) {
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn line_format_and_round_trip() {
    assert_eq!(
        &*format_line("RUD_TRAFFIC_I2R", &[0xab, 0x01], &[0xff, 0x00, 0x10]),
        "RUD_TRAFFIC_I2R ab01 ff0010\n"
    );
    assert_eq!(&*format_line("X", &[], &[1]), "X - 01\n");

    let mem = MemoryKeyLog::new();
    mem.log(labels::TRAFFIC_I2R, &[1; 56], &[2; 64]);
    mem.log(labels::TRAFFIC_R2I, &[], &[3; 64]);
    NoKeyLog.log(labels::EXPORTER, &[1], &[2]);
    let text = mem.to_text();
    assert!(text.starts_with(KEYLOG_HEADER));
    let parsed = parse(&text, labels::ALL).unwrap();
    assert!(parsed.warnings.is_empty());
    assert_eq!(parsed.entries, mem.entries());
    assert_eq!(parsed.entries[1].context, Vec::<u8>::new());
    assert_eq!(&parsed.entries[0].secret[..], &[2; 64][..]);
}

#[test]
fn parser_reports_line_and_field() {
    let err = |line, field, problem| KeyLogParseError {
        line,
        field,
        problem,
    };
    let cases: &[(&str, KeyLogParseError)] = &[
        (
            "# c\n\nrud_x 00 11\n",
            err(3, KeyLogField::Label, KeyLogProblem::BadLabel),
        ),
        ("A\n", err(1, KeyLogField::Context, KeyLogProblem::Missing)),
        (
            "A 00\n",
            err(1, KeyLogField::Secret, KeyLogProblem::Missing),
        ),
        (
            "A 0g 11\n",
            err(
                1,
                KeyLogField::Context,
                KeyLogProblem::BadHex { position: 1 },
            ),
        ),
        (
            "A 000 11\n",
            err(1, KeyLogField::Context, KeyLogProblem::OddLength),
        ),
        (
            "A 00 1z\n",
            err(
                1,
                KeyLogField::Secret,
                KeyLogProblem::BadHex { position: 1 },
            ),
        ),
        (
            "A 00 111\n",
            err(1, KeyLogField::Secret, KeyLogProblem::OddLength),
        ),
        (
            "A 00 -\n",
            err(
                1,
                KeyLogField::Secret,
                KeyLogProblem::BadHex { position: 0 },
            ),
        ),
        (
            "A 00 11 22\n",
            err(1, KeyLogField::Line, KeyLogProblem::ExtraField),
        ),
        (
            "A 00 11\nA 00 11\r\nB 00 zz\n",
            err(
                3,
                KeyLogField::Secret,
                KeyLogProblem::BadHex { position: 0 },
            ),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text, &["A"]).unwrap_err(), *want, "{text:?}");
    }
    assert_eq!(
        parse("A 00 11 22", &["A"]).unwrap_err().to_string(),
        "key log line 1: line: extra field after the secret"
    );
}

#[test]
fn unknown_labels_are_warnings() {
    let text =
        "# header\nRUD_TRAFFIC_I2R 01 02\nRUD_FUTURE_SECRET 01 03\n\n  RUD_EXPORTER 01 04  \n";
    let parsed = parse(text, labels::ALL).unwrap();
    assert_eq!(parsed.entries.len(), 2);
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].line, 3);
    assert_eq!(parsed.warnings[0].label, "RUD_FUTURE_SECRET");
    assert_eq!(
        parsed.warnings[0].to_string(),
        "key log line 3: unknown label RUD_FUTURE_SECRET"
    );
}

#[test]
fn file_sink_creates_0600_and_appends() {
    let dir = TempDir::new("create");
    let path = dir.path("keys.log");
    {
        let log = FileKeyLog::open(&path).unwrap();
        log.log(labels::TRAFFIC_I2R, &[0xaa], &[0xbb; 4]);
        assert_eq!(log.write_errors(), 0);
        assert_eq!(log.path(), path);
    }
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.mode() & 0o7777, 0o600);
    {
        // Existing regular file of ours with mode 0600: appended to, header not repeated.
        let log = FileKeyLog::open(&path).unwrap();
        log.log(labels::TRAFFIC_R2I, &[0xaa], &[0xcc; 4]);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!("{KEYLOG_HEADER}RUD_TRAFFIC_I2R aa bbbbbbbb\nRUD_TRAFFIC_R2I aa cccccccc\n")
    );
    assert_eq!(parse(&text, labels::ALL).unwrap().entries.len(), 2);
}

//= docs/SPEC.md#keylog-file-safe
//= type=test
//# Symlinks, group- or world-readable files and other owners are refused.
#[test]
fn file_sink_refuses_unsafe_files() {
    let dir = TempDir::new("refuse");

    let loose = dir.path("loose.log");
    write_mode(&loose, "", 0o644);
    assert!(matches!(
        FileKeyLog::open(&loose),
        Err(KeyLogError::WrongMode { mode: 0o644, .. })
    ));
    let exec = dir.path("exec.log");
    write_mode(&exec, "", 0o700);
    assert!(matches!(
        FileKeyLog::open(&exec),
        Err(KeyLogError::WrongMode { mode: 0o700, .. })
    ));

    // A symbolic link to a perfectly good file is refused, and so is a dangling one (which
    // O_CREAT alone would follow and create).
    let target = dir.path("target.log");
    write_mode(&target, "", 0o600);
    let link = dir.path("link.log");
    symlink(&target, &link).unwrap();
    assert!(matches!(
        FileKeyLog::open(&link),
        Err(KeyLogError::Symlink { .. })
    ));
    let dangling = dir.path("dangling.log");
    symlink(dir.path("nowhere.log"), &dangling).unwrap();
    assert!(matches!(
        FileKeyLog::open(&dangling),
        Err(KeyLogError::Symlink { .. })
    ));
    assert!(!dir.path("nowhere.log").exists());
    assert_eq!(std::fs::read(&target).unwrap(), b"");

    let sub = dir.path("sub");
    std::fs::create_dir(&sub).unwrap();
    assert!(matches!(
        FileKeyLog::open(&sub),
        Err(KeyLogError::NotRegularFile { .. })
    ));

    assert!(matches!(
        FileKeyLog::open(&dir.path("missing-dir/keys.log")),
        Err(KeyLogError::Io { .. })
    ));

    // Another user's file: only root can make one here to test with.
    if std::fs::metadata(&dir.0).unwrap().uid() == 0 {
        let theirs = dir.path("theirs.log");
        write_mode(&theirs, "", 0o600);
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        assert!(matches!(
            FileKeyLog::open(&theirs),
            Err(KeyLogError::WrongOwner { owner: 65534, .. })
        ));
    }
}

#[test]
fn env_value_rule() {
    assert_eq!(keylog_path_from_value(None), None);
    assert_eq!(keylog_path_from_value(Some("".into())), None);
    assert_eq!(
        keylog_path_from_value(Some("/tmp/k.log".into())),
        Some(PathBuf::from("/tmp/k.log"))
    );
}
