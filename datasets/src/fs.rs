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
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // A temporary file is private (0600); the file it becomes gets the permissions any new file
    // gets here (0666 less the umask), as with `fs::write`.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder
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

    #[cfg(unix)]
    #[test]
    fn an_atomic_write_has_the_permissions_of_any_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        fs::write(&plain, b"x").unwrap();
        let atomic = dir.path().join("atomic");
        write_atomically(&atomic, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain), "not the temporary file's 0600");
    }

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
