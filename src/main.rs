//! `cdetr`: the command-line front end of the crate (detect, convert, train, eval, bench, serve).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    keep_large_buffers();
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

/// glibc hands every buffer above its (adaptive, at most 32 MiB) mmap threshold straight back to the
/// kernel when it is freed, so each forward pass page-faults its activations and im2col buffers in again
/// (≈15 000 faults per R50 pass at 640×480, 8 % of its time). Keeping freed memory in the heap instead
/// makes the next pass reuse it; peak memory stays the same.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_large_buffers() {
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_buffers() {}
