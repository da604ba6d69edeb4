//! How the C heap serves libtorch's CPU tensors. libtorch allocates every CPU tensor with the C
//! library's `posix_memalign`. By default glibc serves a block above its mmap threshold (which
//! adapts up to 32 MiB) from a fresh `mmap`, unmaps it when it is freed, and gives the heap's
//! free top back to the system: the activations and gradients of every training step are then
//! page-faulted and zeroed by the kernel again, step after step. Measured with `tsal bench
//! train` and the forward pass on this project's 2-core CPU machine, one thread: the reference
//! detector's forward at 4 × 256² 2.30 → 2.00 s, a small-config training step 1.23 → 1.12 s.
//! PyTorch eager pays the same cost (`GLIBC_TUNABLES` removes it there too).

/// Serve every allocation from the heap (no `mmap`'d blocks) and never trim the heap, so freed
/// tensor memory is reused without page faults; the resident size stays near its peak (a
/// small-config training step: 0.85 → 1.0 GB). Call it once, before the first tensor. Returns
/// false when the C library refused a setting; does nothing (and returns true) off glibc.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's parameters; it is thread-safe.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        true
    }
}
