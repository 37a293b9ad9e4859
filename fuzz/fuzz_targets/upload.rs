//! The page's upload assembly, `dataset_from_uploads` (what `parseDataset` in src/web.rs calls).
//! Input: `\0`-separated segments; the first lists the uploaded images, one `name width height` a line;
//! each further segment is a dropped file, `name\ncontent`.
#![no_main]
use cdetr::data::upload::{UploadedImage, dataset_from_uploads};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let text = common::text(data);
    let mut segments = text.split('\0');
    let images: Vec<UploadedImage> = segments
        .next()
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?.to_string();
            let width = f.next().and_then(|v| v.parse().ok()).unwrap_or(64);
            let height = f.next().and_then(|v| v.parse().ok()).unwrap_or(48);
            Some(UploadedImage { name, width, height })
        })
        .collect();
    let files: Vec<(String, String)> = segments
        .map(|s| {
            let (name, content) = s.split_once('\n').unwrap_or((s, ""));
            (name.to_string(), content.to_string())
        })
        .collect();
    let r = dataset_from_uploads(&files, &images);
    common::show("dataset_from_uploads", &r);
    if let Ok(d) = r {
        let _ = (d.summary(), d.report.summary());
    }
});
