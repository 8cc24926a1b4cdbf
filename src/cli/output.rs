//! Where `-output FILE` writes. A regular file (or a new one) is replaced atomically, so that a
//! reader such as node_exporter's textfile collector never sees half a file: the output is
//! written to a temporary file beside it (tempfile's: created with O_EXCL under a random name,
//! never following a link planted there), which is renamed over it once complete, and removed if
//! the run fails or is ended by SIGINT, SIGTERM, SIGHUP or SIGQUIT.
//!
//! Nothing but a regular file is ever renamed over. A symbolic link is followed, and what it
//! points to is replaced (the link stays). A character device or a FIFO (`/dev/null`, `/dev/full`,
//! a named pipe) is written directly, and its errors reported; `/dev/stdout` and `/dev/stderr`
//! (links to this process's own descriptors) are standard output and error, and another
//! descriptor of ours (`/dev/fd/3`) is appended to. A directory, a block device or a socket is
//! refused.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// The error for output that would go to a closed standard output.
pub const STDOUT_CLOSED: &str = "standard output is closed, so there is nowhere to write the \
    output: redirect it (> FILE) or use -output FILE";

/// Whether standard output was closed when memanalyzer started (`memanalyzer >&-`). Rust's
/// runtime opens /dev/null on a closed descriptor 0, 1 or 2 before `main`, where output would
/// vanish with no error; this is known from a check that runs before that (see `closed`).
pub fn stdout_was_closed() -> bool {
    #[cfg(target_os = "linux")]
    {
        closed::STDOUT.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Looks at descriptor 1 from the executable's list of constructors (`.init_array`), which the
/// C library runs before Rust's runtime starts and replaces closed standard descriptors.
#[cfg(target_os = "linux")]
mod closed {
    use std::sync::atomic::{AtomicBool, Ordering};

    pub(super) static STDOUT: AtomicBool = AtomicBool::new(false);

    extern "C" fn check_stdout() {
        // SAFETY: fcntl(F_GETFD) only reads the descriptor's flags; on a closed descriptor it
        // fails with EBADF.
        let closed = unsafe { nix::libc::fcntl(1, nix::libc::F_GETFD) } == -1;
        STDOUT.store(closed, Ordering::Relaxed);
    }

    #[used]
    #[link_section = ".init_array"]
    static CHECK_STDOUT: extern "C" fn() = check_stdout;
}

/// Where the output goes.
pub enum Destination {
    /// `/dev/stdout` or `/proc/self/fd/1`: this process's standard output.
    StandardOutput,
    /// `/dev/stderr` or `/proc/self/fd/2`.
    StandardError,
    /// A file: replaced atomically, or a device or FIFO written directly.
    File(OutputFile),
}

impl Destination {
    /// What `-output TARGET` writes to, or why it must not be written.
    pub fn of(target: &Path) -> io::Result<Destination> {
        let path = match resolve(target)? {
            Resolved::Descriptor(1) => return Ok(Destination::StandardOutput),
            Resolved::Descriptor(2) => return Ok(Destination::StandardError),
            Resolved::Descriptor(_) => {
                // Another descriptor (`-output /dev/fd/3 3>>log`): written where it points,
                // after what it holds, never replaced.
                let file = fs::OpenOptions::new().append(true).open(target)?;
                return Ok(Destination::File(OutputFile::Direct(BufWriter::new(file))));
            }
            Resolved::Path(path) => path,
        };
        let metadata = match fs::metadata(&path) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(Destination::File(OutputFile::replace(&path)?))
            }
            other => other?,
        };
        let kind = Kind::of(&metadata.file_type());
        match kind {
            Kind::Regular => Ok(Destination::File(OutputFile::replace(&path)?)),
            Kind::CharacterDevice | Kind::Fifo => {
                let file = fs::OpenOptions::new().write(true).open(&path)?;
                Ok(Destination::File(OutputFile::Direct(BufWriter::new(file))))
            }
            Kind::Directory | Kind::BlockDevice | Kind::Socket | Kind::Unknown => {
                Err(refused(kind))
            }
        }
    }
}

/// What a path holds, as far as `-output` cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(unix), allow(dead_code))] // devices, FIFOs and sockets are told apart on Unix
enum Kind {
    Regular,
    Directory,
    CharacterDevice,
    Fifo,
    BlockDevice,
    Socket,
    Unknown,
}

impl Kind {
    fn of(file_type: &fs::FileType) -> Kind {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if file_type.is_char_device() {
                return Kind::CharacterDevice;
            }
            if file_type.is_fifo() {
                return Kind::Fifo;
            }
            if file_type.is_block_device() {
                return Kind::BlockDevice;
            }
            if file_type.is_socket() {
                return Kind::Socket;
            }
        }
        if file_type.is_file() {
            Kind::Regular
        } else if file_type.is_dir() {
            Kind::Directory
        } else {
            Kind::Unknown
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::Regular => "a regular file",
            Kind::Directory => "a directory",
            Kind::CharacterDevice => "a character device",
            Kind::Fifo => "a FIFO",
            Kind::BlockDevice => "a block device",
            Kind::Socket => "a socket",
            Kind::Unknown => "neither a file nor a device",
        }
    }
}

fn refused(kind: Kind) -> io::Error {
    io::Error::other(format!(
        "it is {}; -output writes only to a regular file (replaced atomically), a character \
         device such as /dev/null, or a FIFO",
        kind.description()
    ))
}

/// Where a chain of symbolic links ends.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    /// A path that is not a symbolic link (it may not exist).
    Path(PathBuf),
    /// One of this process's own file descriptors (`/dev/stdout` is `/proc/self/fd/1`).
    Descriptor(u32),
}

/// Links followed at most, as the kernel's limit (ELOOP).
const MAX_LINKS: usize = 40;

/// Follows symbolic links from `target` to what they point at.
fn resolve(target: &Path) -> io::Result<Resolved> {
    let mut path = target.to_path_buf();
    for _ in 0..MAX_LINKS {
        if let Some(fd) = own_descriptor(&path) {
            return Ok(Resolved::Descriptor(fd));
        }
        match fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let link = fs::read_link(&path)?;
                // A relative link is relative to the link's directory; an absolute one replaces.
                path = match path.parent() {
                    Some(parent) => parent.join(link),
                    None => link,
                };
            }
            _ => return Ok(Resolved::Path(path)),
        }
    }
    Err(io::Error::other(format!(
        "more than {MAX_LINKS} symbolic links in a chain"
    )))
}

/// `/proc/self/fd/N`, `/proc/thread-self/fd/N`, `/proc/<our pid>/fd/N` or `/dev/fd/N`: one of
/// this process's descriptors, which a path cannot stand for (its link text is `pipe:[…]`, or a
/// file that must be appended to through the descriptor, not replaced).
fn own_descriptor(path: &Path) -> Option<u32> {
    let text = path.to_str()?;
    let pid = std::process::id().to_string();
    let rest = text
        .strip_prefix("/proc/self/fd/")
        .or_else(|| text.strip_prefix("/proc/thread-self/fd/"))
        .or_else(|| text.strip_prefix("/dev/fd/"))
        .or_else(|| {
            text.strip_prefix("/proc/")?
                .strip_prefix(&*pid)?
                .strip_prefix("/fd/")
        })?;
    rest.parse().ok()
}

/// A file `-output` writes.
pub enum OutputFile {
    /// A regular file, replaced atomically on commit.
    Replace(AtomicFile),
    /// A character device or FIFO, written directly.
    Direct(BufWriter<File>),
}

impl OutputFile {
    fn replace(path: &Path) -> io::Result<OutputFile> {
        Ok(OutputFile::Replace(AtomicFile::create(path)?))
    }

    /// Finishes the output: renames a replacement into place, or flushes a device.
    pub fn commit(self) -> io::Result<()> {
        match self {
            OutputFile::Replace(file) => file.commit(),
            OutputFile::Direct(mut writer) => writer.flush(),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            OutputFile::Replace(file) => file.write(buf),
            OutputFile::Direct(writer) => writer.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            OutputFile::Replace(file) => file.flush(),
            OutputFile::Direct(writer) => writer.flush(),
        }
    }
}

/// A file written under a temporary name in the target's directory and renamed over the target
/// by [`AtomicFile::commit`]. Dropped without a commit, or ended by a signal, the temporary file
/// is removed.
pub struct AtomicFile {
    target: PathBuf,
    /// Dropped first: removes the temporary file unless it was renamed.
    writer: BufWriter<NamedTempFile>,
    /// Then no signal needs to remove it any more.
    _pending: signals::Pending,
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
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let existing = fs::metadata(target)
            .ok()
            .filter(fs::Metadata::is_file)
            .map(|metadata| metadata.permissions());
        let (file, pending) = signals::while_pending(|| {
            let mut builder = tempfile::Builder::new();
            builder.prefix(&prefix).suffix(".tmp");
            // As `>` would: a new file gets 0666 less the umask (not tempfile's 0600, which the
            // textfile collector, running as another user, could not read); a replaced file
            // keeps its mode.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                builder.permissions(fs::Permissions::from_mode(0o666));
            }
            let file = builder.tempfile_in(directory)?;
            if let Some(permissions) = &existing {
                file.as_file().set_permissions(permissions.clone())?;
            }
            Ok(file)
        })?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            writer: BufWriter::new(file),
            _pending: pending,
        })
    }

    /// Flushes, syncs and renames the file into place, unless the target has meanwhile become
    /// something other than a regular file. On failure the temporary file is removed.
    pub fn commit(mut self) -> io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().as_file().sync_all()?;
        signals::done_with(|| {
            if let Ok(metadata) = fs::symlink_metadata(&self.target) {
                let kind = Kind::of(&metadata.file_type());
                if kind != Kind::Regular {
                    return Err(io::Error::other(format!(
                        "it became {} while the output was written, and is left as it is",
                        kind.description()
                    )));
                }
            }
            let AtomicFile { target, writer, .. } = self;
            let file = writer
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?;
            file.persist(&target).map_err(|error| error.error)?;
            Ok(())
        })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Removing the temporary file when a signal ends the run: a thread waits for SIGINT, SIGTERM,
/// SIGHUP and SIGQUIT (signal-hook's self-pipe, so nothing runs in a signal handler), removes
/// the file, then ends the process as the signal would have. A lock keeps it from acting in
/// the middle of the rename: either the rename happens whole, or the file is removed.
#[cfg(unix)]
mod signals {
    use std::io;
    use std::path::PathBuf;
    use std::sync::{Mutex, MutexGuard, Once};

    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    use signal_hook::iterator::Signals;
    use tempfile::NamedTempFile;

    /// The temporary file a signal must not leave behind.
    static PENDING: Mutex<Option<PathBuf>> = Mutex::new(None);

    fn pending() -> MutexGuard<'static, Option<PathBuf>> {
        // A panic elsewhere cannot leave the path half written: use it whatever happened.
        PENDING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `signal` is ignored, as `nohup` makes SIGHUP: it must stay so.
    fn ignored(signal: i32) -> bool {
        use nix::libc;
        // SAFETY: with no new action, sigaction only reads the current one into `current`.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut current) == 0
                && current.sa_sigaction == libc::SIG_IGN
        }
    }

    fn watch() -> io::Result<()> {
        static WATCHING: Once = Once::new();
        let mut result = Ok(());
        WATCHING.call_once(|| {
            let watched = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
                .into_iter()
                .filter(|&s| !ignored(s));
            result = Signals::new(watched).map(|mut signals| {
                std::thread::spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        // Held until the process ends: no rename can start after this.
                        let mut pending = pending();
                        if let Some(path) = pending.take() {
                            let _ = std::fs::remove_file(path);
                        }
                        let _ = signal_hook::low_level::emulate_default_handler(signal);
                        // SIGQUIT's default may be ignored in odd setups; end anyway.
                        std::process::exit(128 + signal);
                    }
                });
            });
        });
        result
    }

    /// Creates the temporary file with `create` and marks it for removal by a signal until
    /// the [`Pending`] is dropped.
    pub(super) fn while_pending(
        create: impl FnOnce() -> io::Result<NamedTempFile>,
    ) -> io::Result<(NamedTempFile, Pending)> {
        watch()?;
        let mut pending = pending();
        let file = create()?;
        *pending = Some(file.path().to_path_buf());
        Ok((file, Pending))
    }

    /// Runs `finish` (the rename) where no signal can act, then forgets the temporary file.
    pub(super) fn done_with(finish: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut pending = pending();
        let result = finish();
        *pending = None;
        result
    }

    /// While alive, a signal removes the temporary file.
    pub(super) struct Pending;

    impl Drop for Pending {
        fn drop(&mut self) {
            *pending() = None;
        }
    }
}

/// Elsewhere, signals end the process without cleanup.
#[cfg(not(unix))]
mod signals {
    use std::io;

    use tempfile::NamedTempFile;

    pub(super) fn while_pending(
        create: impl FnOnce() -> io::Result<NamedTempFile>,
    ) -> io::Result<(NamedTempFile, Pending)> {
        Ok((create()?, Pending))
    }

    pub(super) fn done_with(finish: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        finish()
    }

    pub(super) struct Pending;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn replaces_the_target_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("metrics.prom");
        fs::write(&target, "old\n").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"new\n").unwrap();
        file.flush().unwrap();
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
    fn a_target_that_became_a_directory_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let occupied = dir.path().join("a-directory");
        let mut file = AtomicFile::create(&occupied).unwrap();
        fs::create_dir(&occupied).unwrap();
        file.write_all(b"x").unwrap();
        let error = file.commit().unwrap_err();
        assert!(error.to_string().contains("became a directory"), "{error}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the directory is left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_to_what_they_point_at() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.prom");
        let link = dir.path().join("link.prom");
        symlink("real.prom", &link).unwrap();
        assert_eq!(resolve(&link).unwrap(), Resolved::Path(real.clone()));
        let loop_link = dir.path().join("loop");
        symlink("loop", &loop_link).unwrap();
        assert!(resolve(&loop_link).is_err());
        assert_eq!(
            resolve(Path::new("/dev/stdout")).unwrap(),
            Resolved::Descriptor(1)
        );
        assert_eq!(own_descriptor(Path::new("/dev/fd/7")), Some(7));
        let own = format!("/proc/{}/fd/2", std::process::id());
        assert_eq!(own_descriptor(Path::new(&own)), Some(2));
        assert_eq!(own_descriptor(Path::new("/proc/1/fd/2")), None);
        assert_eq!(resolve(&real).unwrap(), Resolved::Path(real));
    }
}
