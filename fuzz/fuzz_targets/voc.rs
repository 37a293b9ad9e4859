//! Pascal VOC XML: `parse_voc_with_dims` (with and without image dimensions, as the CLI and the page call it)
//! and `voc_dataset` on the result.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (w, h, rest) = common::dims(data);
    let text = common::text(rest);
    for hint in [None, Some((w, h))] {
        let r = cdetr::data::parse_voc_with_dims(&text, "fuzz.xml", hint);
        common::show("parse_voc_with_dims", &r);
        if let Ok(file) = r {
            let d = cdetr::data::voc_dataset(&[("fuzz.xml".to_string(), file)], None);
            let _ = (d.summary(), d.report.summary());
        }
    }
});
