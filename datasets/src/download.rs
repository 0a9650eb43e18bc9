//! Downloading a dataset file from a list of mirrors, verifying it and caching it atomically.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::fs::write_atomically;
use crate::idx::decode;
use crate::kind::IdxFile;
use crate::DataError;

/// Largest accepted download (compressed), far above any MNIST-format file.
const MAX_DOWNLOAD_BYTES: u64 = 256 << 20;

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Joins a mirror base URL and a file name with exactly one `/`.
pub(crate) fn file_url(base: &str, name: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), name)
}

/// An HTTP client with timeouts suited to downloads of a few megabytes.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(Some(Duration::from_secs(15 * 60)))
        .user_agent(concat!("burn-zoo/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Tries `bases` in order for `file`. The first download whose decompressed content has the
/// expected SHA-256 is written to `dest` (temp file in the same folder, then rename) and its
/// decompressed bytes are returned. Every failed URL is appended to `tried` with its reason;
/// `Ok(None)` means every mirror failed. Only local IO problems are errors.
pub(crate) fn fetch_verified(
    agent: &ureq::Agent,
    bases: &[String],
    file: &IdxFile,
    dest: &Path,
    tried: &mut Vec<String>,
) -> Result<Option<Vec<u8>>, DataError> {
    for base in bases {
        let url = file_url(base, file.name);
        let outcome = get(agent, &url).and_then(|raw| {
            let decoded = decode(&raw, &url).map_err(|e| e.to_string())?.into_owned();
            let actual = sha256_hex(&decoded);
            if actual != file.sha256 {
                return Err(format!(
                    "SHA-256 mismatch: got {actual}, expected {}",
                    file.sha256
                ));
            }
            Ok((raw, decoded))
        });
        match outcome {
            Ok((raw, decoded)) => {
                write_atomically(dest, &raw)?;
                return Ok(Some(decoded));
            }
            Err(reason) => tried.push(format!("{url} ({reason})")),
        }
    }
    Ok(None)
}

/// Downloads `url` into memory with a progress bar on stderr (hidden when stderr is not a
/// terminal).
fn get(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, String> {
    let response = agent.get(url).call().map_err(|e| e.to_string())?;
    let body = response.into_body();
    let total = body.content_length();
    if total.is_some_and(|n| n > MAX_DOWNLOAD_BYTES) {
        return Err(format!("larger than {MAX_DOWNLOAD_BYTES} bytes"));
    }
    let bar = progress_bar(total, url);
    let mut reader = body.into_with_config().limit(MAX_DOWNLOAD_BYTES).reader();
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                return Err(e.to_string());
            }
        };
        bytes.extend_from_slice(&chunk[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(bytes)
}

fn progress_bar(total: Option<u64>, url: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let template = if total.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
    } else {
        "{spinner} {msg} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("downloading {url}"));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(file_url("http://a/b/", "f.gz"), "http://a/b/f.gz");
        assert_eq!(file_url("http://a/b", "f.gz"), "http://a/b/f.gz");
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
