//! Ctrl-C (SIGINT) and SIGTERM: stop the work at the next check, remove partial output, and exit
//! 130 / 143.
//!
//! [`install`] (called first thing in `main`) replaces the default action of both signals,
//! which would kill the process and leave its hidden staging folders behind, by a handler that
//! only records the signal. Long loops call [`check`], which then returns an [`Interrupted`]
//! error; the error unwinds through the work, the staging folders are removed as they are
//! dropped ([`crate::fsutil::StagedDir`]), and `main` maps it to the exit code.
//!
//! Work that never checks is stopped by a safety net: a watcher thread that, 3 s after the first
//! signal or at once on a second one, removes every folder registered as [`Partial`] and exits
//! the process itself.
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long work may take to stop by itself after the first signal (unless [`set_grace`]
/// changed it).
pub const GRACE: Duration = Duration::from_secs(3);

/// The grace period in force, in milliseconds.
static GRACE_MS: AtomicU64 = AtomicU64::new(3000);
/// A line printed at the first signal (set with [`set_grace`]).
static NOTE: Mutex<Option<String>> = Mutex::new(None);

/// Give work `grace` to stop by itself after the first signal, and print `note` at once when
/// it arrives (training finishes its step and writes a snapshot, which takes longer than
/// [`GRACE`]; a second signal still stops at once).
pub fn set_grace(grace: Duration, note: Option<String>) {
    GRACE_MS.store(grace.as_millis() as u64, Ordering::SeqCst);
    *NOTE.lock().unwrap_or_else(|e| e.into_inner()) = note;
}

/// A signal that stops tsal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM (`kill`, job schedulers, `timeout`).
    Term,
}

impl Signal {
    fn from_raw(sig: c_int) -> Option<Self> {
        match sig {
            libc::SIGINT => Some(Signal::Int),
            libc::SIGTERM => Some(Signal::Term),
            _ => None,
        }
    }

    fn raw(self) -> c_int {
        match self {
            Signal::Int => libc::SIGINT,
            Signal::Term => libc::SIGTERM,
        }
    }

    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }

    /// The shell's exit status of a process stopped by this signal: 128 + its number
    /// (130, 143).
    pub fn exit_code(self) -> u8 {
        128 + self.raw() as u8
    }
}

/// The error [`check`] returns once a signal has arrived. Find it in an error chain with
/// [`is_interrupted`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted(pub Signal);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted ({})", self.0.name())
    }
}

impl std::error::Error for Interrupted {}

/// The first signal received (a raw number, 0 before any).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Write end of the pipe the handler wakes the watcher thread through (-1 before `install`).
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// The first signal received, if any.
pub fn signal() -> Option<Signal> {
    Signal::from_raw(SIGNAL.load(Ordering::SeqCst))
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    signal().is_some()
}

/// `Err(Interrupted)` once a stop was requested: put `interrupt::check()?` in long loops.
pub fn check() -> anyhow::Result<()> {
    match signal() {
        Some(s) => Err(Interrupted(s).into()),
        None => Ok(()),
    }
}

/// Whether `err`, or any error in its chain, is [`Interrupted`].
pub fn is_interrupted(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<Interrupted>().is_some())
}

/// Record the first signal and wake the watcher. Only async-signal-safe calls.
extern "C" fn on_signal(sig: c_int) {
    // SAFETY: errno is thread-local; it is saved and restored around write(2) so that the
    // interrupted code sees its own value.
    unsafe {
        let errno = *libc::__errno_location();
        let _ = SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
        let fd = WAKE.load(Ordering::SeqCst);
        if fd >= 0 {
            let byte = sig as u8;
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
        *libc::__errno_location() = errno;
    }
}

/// Handle SIGINT and SIGTERM from now on (see the module documentation). Call once, at the
/// start of `main`, before any thread is started.
pub fn install() -> anyhow::Result<()> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        anyhow::bail!("cannot create a pipe for signals: {}", std::io::Error::last_os_error());
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // A full pipe must never block the handler (a byte per signal is plenty).
    // SAFETY: plain fcntl calls on a descriptor this function owns.
    unsafe {
        let flags = libc::fcntl(write_fd, libc::F_GETFL);
        libc::fcntl(write_fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    WAKE.store(write_fd, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("tsal-signals".into())
        .spawn(move || watch(read_fd))
        .map_err(|e| anyhow::anyhow!("cannot start the signal watcher: {e}"))?;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a handler that only does async-signal-safe work;
        // SA_RESTART keeps interrupted reads and writes going.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                anyhow::bail!("cannot handle signal {sig}: {}", std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Wait for a byte on `fd`, at most `timeout` (forever with `None`); whether one came.
fn wait_for_byte(fd: c_int, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => d.saturating_duration_since(std::time::Instant::now()).as_millis() as c_int,
        };
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n > 0 {
            let mut byte = 0u8;
            // SAFETY: reads one byte into `byte`.
            unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
            return true;
        }
        if n == 0 {
            return false;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

/// The safety net: after the first signal, give the work [`GRACE`] to stop by itself; then, or
/// at a second signal, remove the registered partial folders and exit.
fn watch(fd: c_int) {
    if !wait_for_byte(fd, None) {
        return; // the pipe broke: signals still set the flag, there is just no safety net
    }
    let grace = Duration::from_millis(GRACE_MS.load(Ordering::SeqCst));
    if let Some(note) = NOTE.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
        eprintln!("tsal: {note}");
    }
    let second = wait_for_byte(fd, Some(grace));
    let sig = signal().unwrap_or(Signal::Int);
    let mut line = if second {
        format!("tsal: interrupted ({}) twice; stopped at once", sig.name())
    } else {
        format!(
            "tsal: interrupted ({}); still busy after {} s, stopped at once",
            sig.name(),
            grace.as_secs()
        )
    };
    let removed = remove_registered();
    if !removed.is_empty() {
        line += &format!("; removed {}", list(&removed));
    }
    eprintln!("{line}");
    // SAFETY: _exit ends the process without running destructors or atexit handlers, which
    // other threads may still be using.
    unsafe { libc::_exit(sig.exit_code() as c_int) }
}

/// A registered folder: its path and what to call it.
struct Entry {
    id: u64,
    path: PathBuf,
    what: &'static str,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
/// Held during swaps ([`exclusive`]) and by the safety net while it removes folders.
static SWAP: Mutex<()> = Mutex::new(());
/// Folders removed because of a signal, for `main`'s last line.
static REMOVED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn registry() -> MutexGuard<'static, Vec<Entry>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn removed_list() -> MutexGuard<'static, Vec<String>> {
    REMOVED.lock().unwrap_or_else(|e| e.into_inner())
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

/// Remove every registered folder (the safety net); what was removed.
fn remove_registered() -> Vec<String> {
    let swap = SWAP.lock().unwrap_or_else(|e| e.into_inner());
    let reg = registry();
    let mut out = Vec::new();
    for e in reg.iter() {
        if std::fs::remove_dir_all(&e.path).is_ok() || !e.path.exists() {
            out.push(format!("the {} {}", e.what, e.path.display()));
        }
    }
    // Both stay locked: the process exits next, and nothing may start a swap before that.
    std::mem::forget(reg);
    std::mem::forget(swap);
    out
}

/// A folder that must not outlive an interrupted run: the safety net removes it if the work
/// does not stop in time. Dropping the `Partial` unregisters it (and leaves the folder);
/// [`Partial::discard`] removes it.
pub struct Partial {
    id: u64,
    path: PathBuf,
}

impl Partial {
    /// Register `path`, called `what` in messages ("partial output").
    pub fn new(path: &Path, what: &'static str) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        registry().push(Entry { id, path: path.to_path_buf(), what });
        Self { id, path: path.to_path_buf() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Call the folder `what` from now on (e.g. once it holds a replaced output).
    pub fn rename_as(&self, what: &'static str) {
        if let Some(e) = registry().iter_mut().find(|e| e.id == self.id) {
            e.what = what;
        }
    }

    /// Remove the folder now (it stays registered until it is gone); when a stop was requested,
    /// remember it for [`summary`].
    pub fn discard(self) -> std::io::Result<()> {
        let r = match std::fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r,
        };
        if r.is_ok() && requested() {
            let what = registry().iter().find(|e| e.id == self.id).map_or("folder", |e| e.what);
            removed_list().push(format!("the {what} {}", self.path.display()));
        }
        r
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        registry().retain(|e| e.id != self.id);
    }
}

/// Run `f` (a few renames) while the safety net waits, so that it never removes a folder
/// half-way through a swap.
pub fn exclusive<R>(f: impl FnOnce() -> R) -> R {
    let _guard = SWAP.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

/// `main`'s last line after a stop: `interrupted (SIGINT); removed the partial output X`.
pub fn summary(sig: Signal) -> String {
    let removed = removed_list();
    if removed.is_empty() {
        format!("interrupted ({})", sig.name())
    } else {
        format!("interrupted ({}); removed {}", sig.name(), list(&removed))
    }
}
