use std::process::ExitCode;
use tsal::{fsutil, interrupt};

/// The error line: every context, or for a full disk the one line that says so (the raw OS
/// error repeats the path and prints its structure).
fn error_line(err: &anyhow::Error) -> String {
    if fsutil::is_disk_full(err) {
        fsutil::disk_full_line(err)
    } else {
        format!("{err:#}")
    }
}

fn main() -> ExitCode {
    if let Err(e) = interrupt::install() {
        eprintln!("tsal: warning: {e:#}; Ctrl-C will not clean up partial output");
    }
    let result = tsal::cli::run();
    match (result, interrupt::signal()) {
        (Ok(code), None) => code,
        (Ok(code), Some(sig)) => {
            eprintln!("tsal: {} arrived after the work was done; kept its output", sig.name());
            code
        }
        (Err(err), Some(sig)) => {
            if !interrupt::is_interrupted(&err) {
                eprintln!("tsal: error: {}", error_line(&err));
            }
            eprintln!("tsal: {}", interrupt::summary(sig));
            ExitCode::from(sig.exit_code())
        }
        (Err(err), None) => {
            eprintln!("tsal: error: {}", error_line(&err));
            ExitCode::from(1)
        }
    }
}
