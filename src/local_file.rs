//! Reading local files: the one place this binary reads a file it was pointed at.
//!
//! Kubelet runs the plugin with a deadline, and every path it reads comes from a command line,
//! an environment variable or a config file an operator wrote — so it may name something that
//! is not a file at all. Read naively, a FIFO nobody writes to blocks in `open(2)` forever
//! (`--timeout` never fires: it only bounds network steps), `/dev/zero` fills memory until the
//! kernel kills the process, and a huge or sparse file is read whole. Here:
//!
//! - the path is `stat`ed first and only a regular file is opened at all: opening a device
//!   can have effects (a tape rewinds, a watchdog arms), opening a FIFO can release a writer;
//! - the open is `O_NONBLOCK | O_NOCTTY | O_CLOEXEC`, so if the path is swapped for a FIFO or
//!   a terminal between the `stat` and the `open`, the open still returns at once, never
//!   adopts a controlling terminal and never leaks into a child process;
//! - the open descriptor is `fstat`ed and must be a regular file (that is the check that
//!   counts: it looks at what was opened, not at what the path named a moment before);
//! - at most [`MAX_FILE_BYTES`] are read: a larger file is refused by its size before any
//!   read, and a file that grows while being read (or a `/proc` file, which reports size 0)
//!   stops at the cap.
//!
//! What the parsers then do with the text is bounded by [`crate::parse_limits`].
//! Errors name what the path is ("a FIFO (named pipe)", "a directory") and never quote
//! contents; callers prefix the file's role and path ("cannot read docker config /x: ...").

use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// The most bytes read from any local file: 4 MiB.
///
/// Every file this binary reads is small — Docker configs (a few hundred bytes per registry),
/// key files and tokens (a few KiB), azure.json, kubelet and plugin configs — and anything
/// rendered from a Kubernetes Secret or ConfigMap is at most 1 MiB. 4 MiB leaves room for a
/// Docker config listing tens of thousands of registries while bounding what a wrong path
/// (a log file, a disk image) costs: a larger file is refused by its size, before any read.
/// Documents parsed as YAML have a lower bound, [`crate::parse_limits::MAX_YAML_BYTES`].
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why a local file could not be read. `Display` is a clause for after "cannot read X PATH: ".
#[derive(Debug)]
pub enum FileError {
    /// `stat`, `open` or `read` failed (missing, permission denied, I/O error).
    Io(io::Error),
    /// The path is not a regular file; the text says what it is (`a FIFO (named pipe)`).
    NotRegular(&'static str),
    /// The file is over [`MAX_FILE_BYTES`]; `size` is its size when `fstat` knew it.
    TooLarge {
        /// The size `fstat` reported, if it was over the cap.
        size: Option<u64>,
    },
    /// The file is not UTF-8 text (only from [`read_text`]).
    NotUtf8,
}

impl FileError {
    /// Whether the file does not exist (callers that tolerate a file not rendered yet).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io(e) => write!(f, "{e}"),
            FileError::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            FileError::TooLarge { size: Some(size) } => write!(
                f,
                "it is {size} bytes, over the {} limit for local files",
                describe_size(MAX_FILE_BYTES)
            ),
            FileError::TooLarge { size: None } => write!(
                f,
                "it is over the {} limit for local files",
                describe_size(MAX_FILE_BYTES)
            ),
            FileError::NotUtf8 => f.write_str("it is not UTF-8 text"),
        }
    }
}

impl std::error::Error for FileError {}

/// `4 MiB` for whole MiB, else bytes: how limits appear in messages and docs.
pub fn describe_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Opens `path` for reading if it is a regular file, without ever blocking in `open(2)`, and
/// returns it with its `fstat` metadata. Callers that read in their own way (the CA bundle
/// reader, which streams and has its own cap) use this; everyone else uses [`read`].
pub fn open(path: &Path) -> Result<(File, Metadata), FileError> {
    // A cheap look before opening, so nothing but a regular file is ever opened.
    let named = std::fs::metadata(path).map_err(FileError::Io)?;
    regular(&named)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        // std adds O_CLOEXEC to every open; it is named here for the reader.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(FileError::Io)?;
    let opened = file.metadata().map_err(FileError::Io)?;
    regular(&opened)?;
    Ok((file, opened))
}

/// Whether [`read`] would accept `path`, judged without reading it: for files another library
/// reads in its own way (the AWS SDK's profile and token files). Opens and closes the file.
#[cfg_attr(not(feature = "aws"), allow(dead_code))] // the AWS SDK half is its one caller
pub fn check(path: &Path) -> Result<(), FileError> {
    let (_, meta) = open(path)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            size: Some(meta.len()),
        });
    }
    Ok(())
}

/// The contents of a regular file of at most [`MAX_FILE_BYTES`].
pub fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    read_with_metadata(path).map(|(bytes, _)| bytes)
}

/// [`read`], with the `fstat` metadata of the descriptor that was read (mode checks use it,
/// so they judge the file that was read, not whatever the path names a moment later).
pub fn read_with_metadata(path: &Path) -> Result<(Vec<u8>, Metadata), FileError> {
    let (file, meta) = open(path)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            size: Some(meta.len()),
        });
    }
    // `len` sizes the buffer once; `/proc` files report 0 and simply grow it.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FileError::TooLarge { size: None });
    }
    Ok((bytes, meta))
}

/// [`read`] for text files.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    String::from_utf8(read(path)?).map_err(|_| FileError::NotUtf8)
}

/// Why [`read_secret`] gave no secret.
#[derive(Debug)]
pub enum SecretFileError {
    /// The file could not be read as text.
    Unreadable(FileError),
    /// It holds nothing but whitespace.
    Empty,
}

/// A one-line secret (a token, a role id) from a file, read as [`read_text`] reads, the
/// whitespace around it dropped. The caller's message names the file, never its content.
pub fn read_secret(path: &Path) -> Result<crate::secret::Secret<String>, SecretFileError> {
    let text = read_text(path).map_err(SecretFileError::Unreadable)?;
    let value = text.trim();
    if value.is_empty() {
        return Err(SecretFileError::Empty);
    }
    Ok(crate::secret::Secret::new(value.to_string()))
}

/// `Ok` for a regular file, else what the thing is.
fn regular(meta: &Metadata) -> Result<(), FileError> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(FileError::NotRegular(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;

    fn err(path: &Path) -> String {
        read(path).unwrap_err().to_string()
    }

    #[test]
    fn reads_a_regular_file_and_its_metadata() {
        let dir = TempDir::new("local-file-ok");
        let path = dir.write("a.json", "{\"a\":1}");
        assert_eq!(read_text(&path).unwrap(), "{\"a\":1}");
        let (bytes, meta) = read_with_metadata(&path).unwrap();
        assert_eq!(bytes.len() as u64, meta.len());
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let dir = TempDir::new("local-file-missing");
        let e = read(&dir.0.join("absent")).unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }

    #[test]
    fn non_regular_files_are_named_and_never_read() {
        let dir = TempDir::new("local-file-kinds");
        assert_eq!(err(&dir.0), "it is a directory, not a regular file");
        assert_eq!(
            err(Path::new("/dev/zero")),
            "it is a character device, not a regular file"
        );
        // A FIFO nobody writes to: open(2) without O_NONBLOCK would wait for a writer forever.
        let fifo = dir.0.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(err(&fifo), "it is a FIFO (named pipe), not a regular file");
        let sock = dir.0.join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(err(&sock), "it is a socket, not a regular file");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_by_its_size() {
        let dir = TempDir::new("local-file-big");
        let path = dir.0.join("sparse");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert_eq!(
            err(&path),
            format!(
                "it is {} bytes, over the 4 MiB limit for local files",
                MAX_FILE_BYTES + 1
            )
        );
        file.set_len(MAX_FILE_BYTES).unwrap();
        assert_eq!(read(&path).unwrap().len() as u64, MAX_FILE_BYTES);
    }

    #[test]
    fn check_judges_a_file_like_read_without_reading_it() {
        let dir = TempDir::new("local-file-check");
        let path = dir.write("ok", "text");
        check(&path).unwrap();
        assert_eq!(
            check(&dir.0).unwrap_err().to_string(),
            "it is a directory, not a regular file"
        );
        let big = File::create(dir.0.join("big")).unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(matches!(
            check(&dir.0.join("big")),
            Err(FileError::TooLarge { .. })
        ));
        assert!(check(&dir.0.join("absent")).unwrap_err().is_not_found());
    }

    #[test]
    fn proc_files_that_report_size_zero_are_read() {
        let text = read_text(Path::new("/proc/self/stat")).unwrap();
        assert!(!text.is_empty());
    }

    #[test]
    fn non_utf8_text_is_refused() {
        let dir = TempDir::new("local-file-utf8");
        let path = dir.0.join("bin");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_text(&path).unwrap_err().to_string(),
            "it is not UTF-8 text"
        );
    }

    #[test]
    fn sizes_are_described_in_whole_units() {
        assert_eq!(describe_size(4 << 20), "4 MiB");
        assert_eq!(describe_size(256 << 10), "256 KiB");
        assert_eq!(describe_size(1000), "1000 bytes");
    }
}
