//! Files written whole or not at all (SPEC §7): the content goes to a
//! temporary file beside the destination, which is renamed over it only
//! once complete. A reader never sees half a file; an interrupted or failed
//! run leaves the destination as it was.
//!
//! Temporary files still pending are remembered, so that a second Ctrl-C,
//! which ends the process at once, can remove them on its way out.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// Temporary files created and not yet renamed or removed.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A destination being written through a temporary file.
pub struct PendingFile {
    dest: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

impl PendingFile {
    /// Creates the temporary file beside `dest` now, so that a destination
    /// that cannot be written fails before anything runs; `dest` itself is
    /// not touched until [`PendingFile::commit`].
    pub fn create(dest: &Path) -> io::Result<Self> {
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = dest.with_file_name(tmp_name);
        let file = File::create(&tmp)?;
        PENDING.lock().push(tmp.clone());
        Ok(Self {
            dest: dest.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// A handle on the temporary file to write the content to.
    pub fn file(&self) -> io::Result<File> {
        match &self.file {
            Some(f) => f.try_clone(),
            None => Err(io::Error::other("file already committed")),
        }
    }

    /// Flushes the content to disk and renames it over the destination.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        fs::rename(&self.tmp, &self.dest)?;
        forget(&self.tmp);
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // Not committed: the destination stays as it was.
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
            forget(&self.tmp);
        }
    }
}

fn forget(tmp: &Path) {
    PENDING.lock().retain(|p| p != tmp);
}

/// Writes `bytes` to `dest` whole or not at all.
pub fn write(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let pending = PendingFile::create(dest)?;
    pending.file()?.write_all(bytes)?;
    pending.commit()
}

/// Removes every temporary file still pending, without blocking (called
/// on the way out of a second Ctrl-C; a file being committed that very
/// moment is left alone).
pub fn remove_pending() {
    if let Some(pending) = PENDING.try_lock() {
        for p in pending.iter() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.json");
        fs::write(&dest, "old").unwrap();
        let p = PendingFile::create(&dest).unwrap();
        p.file().unwrap().write_all(b"new").unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "old");
        p.commit().unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn an_abandoned_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("t.json");
        let p = PendingFile::create(&dest).unwrap();
        p.file().unwrap().write_all(b"{\"half").unwrap();
        drop(p);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write(&dest, b"{}").unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "{}");
    }
}
