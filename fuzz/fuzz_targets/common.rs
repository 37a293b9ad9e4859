//! Helpers shared by the targets (included with `#[path]`).

/// The input as text the way the CLI and the page get it (files are read as UTF-8; invalid bytes would
/// already fail there, so they are replaced to reach the parser with as much of the input as possible).
#[allow(dead_code)]
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Image size from two little-endian u16 at the start (0 stays 0: an image header can say so).
#[allow(dead_code)]
pub fn dims(data: &[u8]) -> (u32, u32, &[u8]) {
    if data.len() < 4 {
        return (640, 480, data);
    }
    (u16::from_le_bytes([data[0], data[1]]) as u32, u16::from_le_bytes([data[2], data[3]]) as u32, &data[4..])
}

/// With `CDETR_FUZZ_DEBUG` set, prints what the input gave (to check that the seeds parse:
/// `CDETR_FUZZ_DEBUG=1 cargo +nightly fuzz run TARGET seeds/TARGET/*`).
#[allow(dead_code)]
pub fn show<T, E: std::fmt::Display>(what: &str, r: &Result<T, E>) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("CDETR_FUZZ_DEBUG").is_some()) {
        match r {
            Ok(_) => eprintln!("{what}: ok"),
            Err(e) => eprintln!("{what}: error: {e}"),
        }
    }
}
