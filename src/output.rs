//! Where output goes: standard output, or a file replaced atomically (`-output FILE`), so that a
//! reader such as node_exporter's textfile collector never sees half a file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file written under a temporary name in the target's directory and renamed over the target
/// by [`AtomicFile::commit`]. Dropped without a commit, the temporary file is removed.
pub struct AtomicFile {
    target: PathBuf,
    temporary: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let name = target.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "the output path names no file")
        })?;
        // create_new (O_EXCL) never follows a link planted under the temporary name, which matters
        // when root writes into a shared directory; a name left by a killed run is skipped.
        let mut attempt = 0;
        loop {
            let mut temporary_name = std::ffi::OsString::from(".");
            temporary_name.push(name);
            temporary_name.push(format!(".tmp-{}-{attempt}", std::process::id()));
            let temporary = directory.join(temporary_name);
            match File::options()
                .write(true)
                .create_new(true)
                .open(&temporary)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        target: target.to_path_buf(),
                        temporary,
                        writer: Some(BufWriter::new(file)),
                    })
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Flushes, syncs and renames the file into place. On failure the temporary file is removed.
    pub fn commit(mut self) -> io::Result<()> {
        let writer = self
            .writer
            .take()
            .expect("commit is called once, with the writer in place");
        let result = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|file| file.sync_all())
            .and_then(|()| fs::rename(&self.temporary, &self.target));
        if result.is_err() {
            let _ = fs::remove_file(&self.temporary);
        }
        result
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("not yet committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_target_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("metrics.prom");
        fs::write(&target, "old\n").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"new\n").unwrap();
        assert_eq!(
            fs::read_to_string(&target).unwrap(),
            "old\n",
            "not replaced before commit"
        );
        file.commit().unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new\n");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );

        let mut abandoned = AtomicFile::create(&target).unwrap();
        abandoned.write_all(b"half").unwrap();
        drop(abandoned);
        assert_eq!(fs::read_to_string(&target).unwrap(), "new\n");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the temporary file is removed"
        );
    }

    #[test]
    fn a_failed_rename_or_a_leftover_temporary_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let occupied = dir.path().join("a-directory");
        fs::create_dir(&occupied).unwrap();
        let mut file = AtomicFile::create(&occupied).unwrap();
        file.write_all(b"x").unwrap();
        assert!(
            file.commit().is_err(),
            "a file cannot be renamed over a directory"
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the directory is left"
        );

        // A temporary file left by a killed run with the same PID does not block the next one.
        let target = dir.path().join("out.txt");
        let leftover = dir
            .path()
            .join(format!(".out.txt.tmp-{}-0", std::process::id()));
        fs::write(&leftover, "stale").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"fresh").unwrap();
        file.commit().unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "fresh");
    }
}
