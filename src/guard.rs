//! libtorch failures as errors at user-input boundaries. tch's infallible calls panic when
//! libtorch throws (an allocation a user's flags made too large, a shape a file made wrong),
//! and the panic would print a C++ backtrace and exit 101. [`catch`] runs such a call, keeps
//! the panic quiet, and returns the first line of libtorch's message as an error.
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Run `f`; a panic inside it becomes an error with its first line (libtorch's own message,
/// without the backtrace that follows it).
pub fn catch<T>(f: impl FnOnce() -> T) -> anyhow::Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                default(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r.map_err(|payload| {
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("libtorch failed");
        anyhow::anyhow!("{}", first_line(text))
    })
}

/// The first meaningful line of a libtorch message: tch wraps it as
/// `called `Result::unwrap()` on an `Err` value: Torch("…\nException raised from …")`.
pub fn first_line(text: &str) -> String {
    let t = text.split("Torch(\"").nth(1).unwrap_or(text);
    let line = t.lines().next().unwrap_or(t).trim().trim_end_matches("\")");
    line.to_string()
}
