//! Durable file writes: the workspace's one atomic write, used for every file a dataset cache,
//! a run, a study or a search writes.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::DataError;

/// Writes `bytes` to `dest` so that a crash at any instant leaves either the old file or the new
/// one, never a mix: the bytes go to a uniquely named temporary file in the same folder, which is
/// synced to disk and renamed over `dest`; then the folder itself is synced, so the rename
/// survives a power cut. Missing parent folders are created.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("runs").join("summary.json");
/// zoo_datasets::write_atomically(&path, b"{}")?;
/// assert_eq!(std::fs::read(&path)?, b"{}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let dir = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, "create folder", e))?;
    let name = dest
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| DataError::io(dir, "create temporary file in", e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| DataError::io(tmp.path(), "write", e))?;
    tmp.persist(dest)
        .map_err(|e| DataError::io(dest, "rename into place", e.error))?;
    sync_folder(dir).map_err(|e| DataError::io(dir, "sync folder", e))
}

/// Flushes a folder's entries (a rename into it) to disk. Only Unix can open a folder for this;
/// elsewhere the rename is as durable as the platform makes it.
fn sync_folder(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_only_the_final_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub").join("file.gz");
        write_atomically(&dest, b"content").unwrap();
        write_atomically(&dest, b"second").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dest.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_file_name_without_a_folder_writes_in_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("plain.txt");
        write_atomically(&dest, b"x").unwrap();
        assert_eq!(fs::read(dest).unwrap(), b"x");
    }

    #[test]
    fn an_unwritable_destination_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        fs::write(&blocker, b"a file, not a folder").unwrap();
        let err = write_atomically(&blocker.join("x.json"), b"{}").unwrap_err();
        assert!(err.to_string().contains("blocker"), "{err}");
    }
}
