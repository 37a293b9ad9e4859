//! COCO detection JSON: `parse_coco` (CLI `train`/`eval`) and `parse_coco_with_dims` (image sizes from the
//! image files when `images[]` lacks them, as the CLI and the page do), then the summaries the CLI prints.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let text = common::text(data);
    let r = cdetr::data::parse_coco(&text, "fuzz.json");
    common::show("parse_coco", &r);
    if let Ok(d) = r {
        let _ = (d.summary(), d.report.summary(), d.class_counts());
    }
    let dims = |name: &str| (!name.is_empty()).then_some((name.len() as u32, 7));
    if let Ok(d) = cdetr::data::parse_coco_with_dims(&text, "fuzz.json", &dims) {
        let _ = (d.summary(), d.report.summary());
    }
});
