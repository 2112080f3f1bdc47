//! Output files written whole or not at all, and output directories checked
//! before anything runs.
//!
//! Every file gilsim writes (`--out` artefacts, the `--trace` file, the
//! files of `gilsim report`) goes through [`write_atomic`]: the content is
//! written to a temporary file in the same directory, flushed and synced,
//! then renamed over the target. A reader, or a run killed half-way, sees
//! either the old file or the complete new one, never a truncated one.
//!
//! A target that is a symbolic link is written through: the link stays and
//! the file it points to gets the content, as a shell's `>` does. A target
//! that is not a regular file (a FIFO, `/dev/stdout`, a device) is written
//! in place: a rename would replace the device or FIFO with a plain file,
//! and such a target cannot be written whole-or-nothing anyway.

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
    // Checked on the path as given: the kernel follows links that
    // `read_link` cannot (`/dev/stdout` to `/proc/self/fd/1` to a pipe).
    if is_special(path) {
        return write_in_place(path, fill);
    }
    let path = &follow_links(path)?;
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

/// Writes into an existing FIFO or device as it is, through a buffer.
fn write_in_place(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut w = BufWriter::new(fs::OpenOptions::new().write(true).open(path)?);
    fill(&mut w)?;
    w.flush()
}

/// Whether `path` exists and is neither a regular file nor a directory (a
/// FIFO, a device, a socket): such a target is written in place.
fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Most symbolic links followed in a row, as Linux's own limit.
const MAX_LINKS: usize = 40;

/// `path` with every symbolic link at its last component followed, so
/// that the file it names is replaced, not the link. A dangling link gives
/// the path it points to, which is then created.
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)?;
                // A relative target is relative to the link's directory;
                // joining an absolute one gives the absolute one.
                p = match p.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "too many levels of symbolic links",
    ))
}

/// Where writing `path` would put its content: the file at the end of its
/// symbolic links, with every directory in it resolved. Two paths that
/// resolve alike name the same file. `None` when its directory does not
/// exist.
pub fn resolved(path: &Path) -> Option<PathBuf> {
    let p = follow_links(path).ok()?;
    if let Ok(full) = fs::canonicalize(&p) {
        return Some(full);
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(fs::canonicalize(dir).ok()?.join(p.file_name()?))
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
/// its directory (which must exist) accepts new files, or it is an existing
/// FIFO or device (not opened here: opening a FIFO waits for a reader).
/// Nothing is left behind.
pub fn check_writable_file(path: &Path) -> io::Result<()> {
    if is_special(path) {
        return Ok(());
    }
    let path = &follow_links(path)?;
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
    if dir.exists() && !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a directory", dir.display()),
        ));
    }
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
        let err = check_writable_file(&file.join("x")).unwrap_err();
        assert!(
            err.to_string().ends_with("f is not a directory"),
            "a file in the path is named as such: {err}"
        );
    }

    #[test]
    fn a_symbolic_link_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.json");
        let link = dir.path().join("lnk");
        fs::write(&target, b"old").unwrap();
        std::os::unix::fs::symlink("target.json", &link).unwrap();
        check_writable_file(&link).unwrap();
        write_bytes_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(resolved(&link), resolved(&target));
        // A dangling link creates the file it points to.
        std::os::unix::fs::symlink("made.json", dir.path().join("dangling")).unwrap();
        write_bytes_atomic(&dir.path().join("dangling"), b"x").unwrap();
        assert_eq!(fs::read(dir.path().join("made.json")).unwrap(), b"x");
        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("loop", dir.path().join("loop")).unwrap();
        assert!(write_bytes_atomic(&dir.path().join("loop"), b"x").is_err());
    }

    #[test]
    fn a_fifo_is_written_in_place_and_stays_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        check_writable_file(&fifo).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_bytes_atomic(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        // Through a link too, as `/dev/stdout` is one.
        let link = dir.path().join("via");
        std::os::unix::fs::symlink("fifo", &link).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_bytes_atomic(&link, b"via a link").unwrap();
        assert_eq!(reader.join().unwrap(), b"via a link");
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file is left");
    }
}
