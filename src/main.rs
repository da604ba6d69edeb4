use std::process::ExitCode;

fn main() -> ExitCode {
    match tsal::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("tsal: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
