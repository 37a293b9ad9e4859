//! Burnpack checkpoints through `read_checkpoint_bytes` (the page and the CLI). The Burnpack magic is put in
//! front of inputs that lack it, so that every input reaches the Burnpack reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

/// `burn_pack::MAGIC_NUMBER` (burn-pack 0.22.1), as the file stores it.
const MAGIC: [u8; 4] = 0x4255524E_u32.to_le_bytes();

fuzz_target!(|data: &[u8]| {
    let bytes = if data.starts_with(&MAGIC) { data.to_vec() } else { [&MAGIC[..], data].concat() };
    let r = cdetr::weights::read_checkpoint_bytes(bytes, "fuzz.bpk");
    common::show("read_checkpoint_bytes", &r);
});
