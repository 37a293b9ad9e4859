//! Image files: `cdetr::data::decode_image`, the decoder of `detect`, `train` and `eval` (PNG and JPEG).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let r = cdetr::data::decode_image(data, "fuzz.img");
    common::show("decode_image", &r);
});
