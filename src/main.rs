//! `cdetr`: the command-line front end of the crate (detect, convert, train, eval, bench, serve).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A panic inside a library is a bug, but the user still gets one line, not a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info.location().map(|l| format!(" ({}:{})", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error: {message}{place}");
    }));
    match std::panic::catch_unwind(cli::run) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::from(2),
    }
}
