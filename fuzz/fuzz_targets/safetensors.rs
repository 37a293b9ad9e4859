//! Checkpoint bytes as the page loads them (`read_checkpoint_bytes`: format detected from the bytes; HF or
//! official-name safetensors, with an embedded config). The seeds are safetensors files.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let r = cdetr::weights::read_checkpoint_bytes(data.to_vec(), "fuzz.safetensors");
    common::show("read_checkpoint_bytes", &r);
});
