//! YOLO: a class list (`classes.txt`, `obj.names` or `data.yaml`, chosen by the first byte) through
//! `parse_class_names`, then a label file through `parse_yolo_with_report` for an image of the size in the
//! next 4 bytes. Input: `[kind][w u16][h u16] class list \0 labels`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else { return };
    let (w, h, rest) = common::dims(data);
    let text = common::text(rest);
    let (list, labels) = text.split_once('\0').unwrap_or((&text, ""));
    let list_name = ["classes.txt", "obj.names", "data.yaml"][kind as usize % 3];
    let names = cdetr::data::parse_class_names(list, list_name);
    common::show("parse_class_names", &names);
    let num_classes = match names {
        Ok(names) => names.len(),
        Err(_) => kind as usize,
    };
    let mut report = cdetr::data::ValidationReport::default();
    let r = cdetr::data::parse_yolo_with_report(labels, "fuzz.txt", w, h, num_classes, &mut report);
    common::show("parse_yolo_with_report", &r);
    let _ = report.summary();
});
