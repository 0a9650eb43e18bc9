//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while finding, downloading, verifying or parsing a dataset.
///
/// Every message is one line, names the file (or URL) concerned, and says what to do where
/// there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("{path}: {action} failed: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was being done, e.g. "read" or "create folder".
        action: &'static str,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },

    /// A gzip stream could not be decompressed.
    #[error(
        "{name}: corrupt gzip stream ({reason}); delete the file so it can be downloaded again"
    )]
    Gzip {
        /// The file concerned.
        name: String,
        /// What the decompressor reported.
        reason: String,
    },

    /// A file (or its decompressed content) is larger than this crate accepts.
    #[error("{name}: {what} is larger than the limit of {limit} bytes; this is not an MNIST-format file")]
    TooLarge {
        /// The file concerned.
        name: String,
        /// "file" or "decompressed data".
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },

    /// An IDX file starts with the wrong magic number.
    #[error("{name}: not an IDX {kind} file (magic number {found}, expected {expected})")]
    BadMagic {
        /// The file concerned.
        name: String,
        /// "images" or "labels".
        kind: &'static str,
        /// The expected magic number (2051 for images, 2049 for labels).
        expected: u32,
        /// The magic number found.
        found: u32,
    },

    /// An IDX header holds values outside the accepted range.
    #[error("{name}: invalid IDX header: {reason}")]
    BadHeader {
        /// The file concerned.
        name: String,
        /// Which value is wrong and why.
        reason: String,
    },

    /// An IDX file is shorter or longer than its header says.
    #[error("{name}: {problem}: the header implies {expected} bytes but there are {actual}")]
    Length {
        /// The file concerned.
        name: String,
        /// "truncated" or "trailing bytes after the data".
        problem: &'static str,
        /// Byte length implied by the header.
        expected: u64,
        /// Actual byte length (after decompression).
        actual: u64,
    },

    /// The images file and the labels file hold different numbers of items.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The images file.
        images: String,
        /// The labels file.
        labels: String,
        /// Number of images.
        image_count: usize,
        /// Number of labels.
        label_count: usize,
    },

    /// A label is not a valid class index.
    #[error("{name}: label {label} at index {index} is out of range (the dataset has {num_classes} classes)")]
    LabelOutOfRange {
        /// The labels file (or in-memory set) concerned.
        name: String,
        /// Position of the bad label.
        index: usize,
        /// The bad label.
        label: u8,
        /// Number of classes of the dataset.
        num_classes: usize,
    },

    /// A file's content does not have the expected SHA-256.
    #[error("{path}: SHA-256 of the decompressed content is {actual}, expected {expected}; the file is corrupt or not the right dataset: delete or replace it")]
    HashMismatch {
        /// The file concerned.
        path: PathBuf,
        /// The expected hash (hex).
        expected: String,
        /// The hash found (hex).
        actual: String,
    },

    /// Dataset files are missing and could not be downloaded.
    #[error("{dataset}: missing {files}; searched {searched}; {attempts}; put the files in <folder>/{dataset}/ and set ZOO_DATA_DIR=<folder> (or pass --data-dir <folder>){offline_hint}",
        files = .files.join(", "),
        searched = .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        attempts = attempts_text(.downloaded, .tried),
        offline_hint = if *.downloaded { "" } else { ", or unset ZOO_OFFLINE to allow downloads" })]
    Missing {
        /// Dataset name, e.g. "mnist".
        dataset: String,
        /// The file names still missing.
        files: Vec<String>,
        /// The folders searched.
        searched: Vec<PathBuf>,
        /// Whether downloads were allowed (and attempted).
        downloaded: bool,
        /// Each URL tried (or, offline, that would have been tried) with why it failed.
        tried: Vec<String>,
    },

    /// An in-memory image set was built from inconsistent parts.
    #[error("invalid image set: {0}")]
    InvalidSet(String),
}

fn attempts_text(downloaded: &bool, tried: &[String]) -> String {
    if *downloaded {
        format!("download failed from {}", tried.join(", "))
    } else {
        format!(
            "downloads are disabled (ZOO_OFFLINE=1), not tried: {}",
            tried.join(", ")
        )
    }
}

impl DataError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        DataError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
