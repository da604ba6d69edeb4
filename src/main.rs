use std::process::ExitCode;
use tsal::interrupt;

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
                eprintln!("tsal: error: {err:#}");
            }
            eprintln!("tsal: {}", interrupt::summary(sig));
            ExitCode::from(sig.exit_code())
        }
        (Err(err), None) => {
            eprintln!("tsal: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
