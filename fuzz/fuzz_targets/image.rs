//! Image files: `cdetr::data::decode_image_within`, the decoder of `detect`, `train` and `eval` (PNG and JPEG),
//! with a limit of 65 536 pixels (256 × 256) instead of the CLI's 100 megapixels: a few hundred bytes of header can declare tens of
//! megapixels that the decoders then fill, and the fuzzer's time went there (150–370 executions/s) instead
//! of into the decoders' logic. The limit check itself runs on every input; the large sizes are covered by
//! `tests/data.rs` (`decode_image_refuses_huge_truncated_and_empty_images`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let limits = cdetr::data::ImageLimits { max_pixels: 1 << 16 };
    let r = cdetr::data::decode_image_within(data, "fuzz.img", limits);
    common::show("decode_image", &r);
});
