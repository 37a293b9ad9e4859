//! The official `.pth` (zip + pickle, or a legacy pickle) through `read_checkpoint_file`, exactly as
//! `cdetr detect/convert/train --weights` read it: the input is written to a file (in /dev/shm when there is
//! one) and read back.
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir =
            if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        dir.join(format!("cdetr-fuzz-{}.pth", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).expect("write the input");
    let r = cdetr::weights::read_checkpoint_file(path);
    common::show("read_checkpoint_file", &r);
});
