//! Output files written whole or not at all, and output directories checked
//! before anything runs.
//!
//! Every file gilsim writes (`--out` artefacts, the `--trace` file, the
//! files of `gilsim report`) goes through [`write_atomic`]: the content is
//! written to a temporary file in the same directory, flushed and synced,
//! then renamed over the target. A reader, or a run killed half-way, sees
//! either the old file or the complete new one, never a truncated one.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Temporary files being written now, so that a process ending at once (a
/// second Ctrl-C) can remove them first: no `.tmp` file is left behind.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every temporary file still being written. For an exit that
/// cannot wait for the writers to finish.
pub fn remove_pending() {
    // try_lock: the thread writing may hold it; exiting must not wait.
    if let Some(pending) = PENDING.try_lock() {
        for tmp in pending.iter() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Writes `path` whole or not at all: `fill` writes the content into a
/// temporary file beside `path`, which is then renamed over it. On any
/// error the temporary file is removed and `path` is left as it was.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_path(path)?;
    PENDING.lock().push(tmp.clone());
    let result = (|| {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    PENDING.lock().retain(|p| p != &tmp);
    result
}

/// Writes `bytes` to `path` whole or not at all (see [`write_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// A fresh name in `path`'s directory: `.NAME.PID.N.tmp`, hidden, and
/// unique within this process.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path names no file (it ends in `..` or `/`)",
        )
    })?;
    let tmp = format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Ok(path.with_file_name(tmp))
}

/// Makes sure files can be created in `dir`, creating it (and its parents)
/// if needed: a probe file is created and removed. Used before a run so
/// that an unwritable `--out` fails before minutes of benchmarking.
pub fn check_writable_dir(dir: &Path) -> io::Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "it exists and is not a directory",
        ));
    }
    fs::create_dir_all(dir)?;
    let probe = temp_path(&dir.join("probe"))?;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    fs::remove_file(&probe)
}

/// Makes sure `path` can be written as a file: it is not a directory, and
/// its directory (which must exist) accepts new files. Nothing is left
/// behind.
pub fn check_writable_file(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a directory; give a file name",
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("its directory {} does not exist", dir.display()),
        ));
    }
    let probe = temp_path(path)?;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_bytes_atomic(&path, b"old").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["r.json"], "no temporary file is left");
    }

    #[test]
    fn writable_checks_refuse_files_and_directories_in_the_wrong_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        assert!(check_writable_dir(&file).is_err(), "a file is not a dir");
        assert!(check_writable_dir(&dir.path().join("new/sub")).is_ok());
        assert!(dir.path().join("new/sub").is_dir());
        assert!(
            check_writable_file(dir.path()).is_err(),
            "a dir is not a file"
        );
        assert!(check_writable_file(&dir.path().join("no/such/t.json")).is_err());
        assert!(check_writable_file(&dir.path().join("t.json")).is_ok());
        assert!(!dir.path().join("t.json").exists(), "the probe is removed");
    }
}
