//! Ordered parallel map over a slice on scoped threads, used for file-heavy work (rendering
//! synthetic data, checking lists). Workers take the next index from a shared counter; results
//! keep the input order, so output never depends on the number of threads. The first error, or
//! a Ctrl-C / SIGTERM ([`crate::interrupt`]), stops the remaining work.
use crate::interrupt;
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A progress bar on stderr; indicatif hides it when stderr is not a terminal.
pub fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// `f` over `items` on `threads` threads (1 = on this thread), results in input order.
/// `bar`, when given, advances once per finished item. Every item starts with an
/// [`interrupt::check`], so that a signal stops the map with an `Interrupted` error.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    bar: Option<&ProgressBar>,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let work = || loop {
        if failed.load(Ordering::Relaxed) {
            break;
        }
        if interrupt::requested() {
            failed.store(true, Ordering::Relaxed);
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(i) else { break };
        let r = f(item);
        if r.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
        if let Some(b) = bar {
            b.inc(1);
        }
    };
    let n = threads.clamp(1, items.len().max(1));
    if n == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(work);
            }
        });
    }
    let slots = slots.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::with_capacity(items.len());
    for r in slots {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            None => {
                interrupt::check()?;
                bail!("stopped after an earlier error")
            }
        }
    }
    Ok(out)
}

/// The default number of worker threads: all cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
