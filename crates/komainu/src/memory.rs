//! Transparent huge pages off for the node's process.
//!
//! mimalloc reserves its arena as one large mapping; with huge pages, every
//! 2 MiB region the allocator touches becomes resident whole. An idle worker
//! then showed ~26 MiB RSS where ~13.5 MiB is in use (`bench/worker_memory.py`);
//! the proxy's heap is small and scattered, so huge pages buy it no
//! measurable TLB win. mimalloc is built with `no_thp` (it never asks for
//! them); this turns off the kernel's own use of them (THP `always`) for
//! the rest of the process's life. The flag is kept across `exec`.

/// Best effort: a kernel without the `prctl` (or a non-Linux system) keeps
/// its default, which only costs memory. Called first in `main`, before
/// logging exists, so a failure is not reported.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
