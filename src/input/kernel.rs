//! What the running kernel can do, checked on memanalyzer's own memory, never the target's:
//! whether it can name anonymous mappings (`[anon:NAME]`, `CONFIG_ANON_VMA_NAME`, Linux 5.17+).
//! Without that, neither a runtime (Go 1.25+, glibc 2.39+) nor the program can name its
//! memory, and only layout heuristics are left.

use std::num::NonZeroUsize;

use nix::errno::Errno;
use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
use nix::sys::prctl::set_vma_anon_name;

/// Names a scratch page of our own and unmaps it. `Some(false)` when the kernel says the
/// request is invalid (no `CONFIG_ANON_VMA_NAME`, or a kernel before 5.17), `Some(true)` when
/// naming worked, `None` when the check itself could not be made.
pub(crate) fn names_mappings() -> Option<bool> {
    let length = NonZeroUsize::new(4096).expect("a page is not zero bytes");
    // SAFETY: a new private anonymous mapping, chosen by the kernel, touches no existing memory.
    let page = unsafe {
        mmap_anonymous(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE,
        )
    }
    .ok()?;
    let named = set_vma_anon_name(page, length, Some(c"memanalyzer-probe"));
    // SAFETY: `page` is the mapping made above, of `length` bytes, and nothing refers to it.
    let _ = unsafe { munmap(page, length.get()) };
    match named {
        Ok(()) => Some(true),
        Err(Errno::EINVAL) => Some(false),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_gives_an_answer() {
        // Either answer is right on some kernel; an error other than EINVAL would mean the probe
        // is wrong (a bad address or length), not that the kernel lacks the feature.
        assert!(names_mappings().is_some());
    }
}
