//! Dataset parsing, validation, augmentation, batching and the synthetic dataset (`cdetr::data`).
//!
//! Uses inline annotation strings, three BCCD images in `tests/fixtures/data/bccd/` and the full BCCD set in
//! `tests/fixtures/data/bccd_full/` (a copy of `shared/datasets/bccd`: the tests need no `../shared`).

use std::path::{Path, PathBuf};

use cdetr::data::augment::{crop, hflip, random_size_crop, resize_with_boxes};
use cdetr::data::native::{detect_format, write_coco_dataset};
use cdetr::data::synth::{SYNTH_MAX_OBJECTS, synth_scene};
use cdetr::data::*;
use cdetr::preprocess::{ResizeMode, normalize_value};
use image::RgbImage;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bccd_copy() -> PathBuf {
    manifest_dir().join("tests/fixtures/data/bccd")
}

/// A fresh scratch folder under cargo's per-target temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cdetr_data_tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ann(class_id: usize, bbox: [f32; 4]) -> BoxAnnotation {
    BoxAnnotation { class_id, bbox }
}

fn close(a: [f32; 4], b: [f32; 4], tol: f32) -> bool {
    a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= tol)
}

// ---------------------------------------------------------------------------------------------------------
// validate_box
// ---------------------------------------------------------------------------------------------------------

#[test]
fn validate_box_rules() {
    let mut r = ValidationReport::default();
    assert_eq!(validate_box([1.0, 2.0, 3.0, 4.0], 10, 10, "f", "b0", &mut r), Some([1.0, 2.0, 3.0, 4.0]));
    assert!(r.is_clean());
    assert_eq!(validate_box([-2.0, 2.0, 12.0, 4.0], 10, 10, "f", "b1", &mut r), Some([0.0, 2.0, 10.0, 4.0]));
    assert_eq!(r.clipped, 1);
    assert_eq!(validate_box([5.0, 5.0, 5.0, 8.0], 10, 10, "f", "b2", &mut r), None);
    assert_eq!(r.dropped_zero_area, 1);
    assert_eq!(validate_box([7.0, 5.0, 6.0, 8.0], 10, 10, "f", "b3", &mut r), None);
    assert_eq!(r.dropped_zero_area, 2);
    assert_eq!(validate_box([11.0, 5.0, 16.0, 8.0], 10, 10, "f", "b4", &mut r), None);
    assert_eq!(validate_box([-5.0, 5.0, 0.0, 8.0], 10, 10, "f", "b5", &mut r), None);
    assert_eq!(r.dropped_outside, 2);
    assert_eq!(validate_box([f32::NAN, 5.0, 6.0, 8.0], 10, 10, "f", "b6", &mut r), None);
    assert_eq!(validate_box([0.0, 5.0, f32::INFINITY, 8.0], 10, 10, "f", "b7", &mut r), None);
    assert_eq!(r.dropped_invalid, 2);
    assert_eq!(r.messages.len(), 7);
    for (m, b) in r.messages.iter().zip(["b1", "b2", "b3", "b4", "b5", "b6", "b7"]) {
        assert!(m.starts_with(&format!("f: {b}: box [")), "{m}");
    }
    assert_eq!(r.dropped(), 6);
    assert!(r.summary().contains("1 clipped, 6 dropped"), "{}", r.summary());
}

// ---------------------------------------------------------------------------------------------------------
// COCO
// ---------------------------------------------------------------------------------------------------------

const COCO: &str = r#"{
  "info": {"description": "test"},
  "images": [
    {"id": 7, "file_name": "b.jpg", "width": 100, "height": 50},
    {"id": 2, "file_name": "a.jpg", "width": 40, "height": 30, "license": 1}
  ],
  "annotations": [
    {"id": 1, "image_id": 2, "category_id": 5, "bbox": [1, 2, 10, 20], "area": 200, "iscrowd": 0, "segmentation": [[1, 2, 3, 4]]},
    {"id": 2, "image_id": 2, "category_id": 3, "bbox": [30, 20, 20, 20], "iscrowd": 0},
    {"id": 3, "image_id": 7, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1},
    {"id": 4, "image_id": 9, "category_id": 3, "bbox": [0, 0, 5, 5]},
    {"id": 5, "image_id": 7, "category_id": 4, "bbox": [0, 0, 5, 5]},
    {"id": 6, "image_id": 7, "category_id": 5, "bbox": [10.5, 5.25, 0, 3]},
    {"id": 7, "image_id": 7, "category_id": 5, "bbox": [10.5, 5.25, 4.5, 3]}
  ],
  "categories": [{"id": 5, "name": "dog", "supercategory": "animal"}, {"id": 3, "name": "cat"}]
}"#;

#[test]
fn coco_parses_official_semantics() {
    let d = parse_coco(COCO, "annotations.json").unwrap();
    assert_eq!(d.class_names, vec!["cat", "dog"]); // sorted by category id 3, 5
    assert_eq!(d.category_ids, vec![3, 5]);
    // images sorted by id
    assert_eq!(d.samples.iter().map(|s| s.image_id).collect::<Vec<_>>(), vec![2, 7]);
    let a = &d.samples[0];
    assert_eq!((a.image.as_str(), a.width, a.height), ("a.jpg", 40, 30));
    assert_eq!(a.annotations, vec![ann(1, [1.0, 2.0, 11.0, 22.0]), ann(0, [30.0, 20.0, 40.0, 30.0])]);
    let b = &d.samples[1];
    assert_eq!(b.annotations, vec![ann(1, [10.5, 5.25, 15.0, 8.25])]);
    let r = &d.report;
    assert_eq!(r.clipped, 1); // annotation 2: 30+20 > 40
    assert_eq!(r.skipped_crowd, 1);
    assert_eq!(r.dropped_unknown_image, 1);
    assert_eq!(r.dropped_unknown_class, 1);
    assert_eq!(r.dropped_zero_area, 1);
    assert_eq!(r.messages.len(), 5);
    assert!(r.messages.iter().any(|m| m == "annotations.json: annotations[3]: image_id 9 is not in images; dropped"));
    assert!(r.messages.iter().any(|m| m.starts_with("annotations.json: annotations[4]: category_id 4")));
    assert!(r.messages.iter().all(|m| m.starts_with("annotations.json: annotations[")));
}

#[test]
fn coco_errors_name_file_and_field() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"images": [], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}], "categories": []}"#,
            "annotations.json: annotations[0].bbox: expected 4 numbers, got [1,2,3]",
        ),
        (
            r#"{"images": [{"id": 1, "file_name": "x.jpg", "width": "640", "height": 480}], "annotations": [], "categories": []}"#,
            "annotations.json: images[0].width: expected an integer, got \"640\"",
        ),
        (
            r#"{"images": [{"id": 1, "width": 640, "height": 480}], "annotations": [], "categories": []}"#,
            "annotations.json: images[0].file_name: missing (expected a string)",
        ),
        (r#"{"annotations": [], "categories": []}"#, "annotations.json: images: missing (expected an array)"),
        (
            r#"{"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}"#,
            "annotations.json: categories[1].id: duplicate category id 1",
        ),
        (
            r#"{"images": [], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, "4"]}], "categories": []}"#,
            "annotations.json: annotations[0].bbox: expected 4 numbers, got [1,2,3,\"4\"]",
        ),
        (
            r#"{"images": [{"id": 1, "file_name": "x.jpg", "width": 0, "height": 480}], "annotations": [], "categories": []}"#,
            "annotations.json: images[0].width: expected a positive image size, got 0",
        ),
    ];
    for (json, expected) in cases {
        let err = parse_coco(json, "annotations.json").unwrap_err();
        assert_eq!(err.to_string(), *expected);
    }
}

#[test]
fn coco_syntax_errors_give_line_and_column() {
    let json = "{\n  \"images\": [],\n  \"annotations\": [,],\n  \"categories\": []\n}";
    let err = parse_coco(json, "train.json").unwrap_err();
    match &err {
        DataError::Syntax { file, line, column, .. } => {
            assert_eq!((file.as_str(), *line, *column), ("train.json", 3, 19));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("train.json:3:19: "), "{err}");
    assert!(!err.to_string().contains("at line"), "{err}");
    // wrong type of a top-level key is reported with its position too
    let err = parse_coco(r#"{"images": {}, "annotations": [], "categories": []}"#, "x.json").unwrap_err();
    assert!(matches!(err, DataError::Syntax { line: 1, .. }), "{err}");
    assert!(parse_coco("", "empty.json").unwrap_err().to_string().starts_with("empty.json:1:0: "));
}

/// The samples without the evaluator's view of the annotations (which only a parsed COCO file has).
fn training_view(samples: &[cdetr::data::SampleMeta]) -> Vec<cdetr::data::SampleMeta> {
    samples.iter().map(|s| cdetr::data::SampleMeta { eval_annotations: None, ..s.clone() }).collect()
}

#[test]
fn coco_round_trip() {
    let (d, _) = synth_dataset(11, 6, 64, 48);
    let json = to_coco_json(&d);
    let back = parse_coco(&json, "synth.json").unwrap();
    assert!(back.report.is_clean(), "{:?}", back.report);
    assert_eq!(back.class_names, d.class_names);
    assert_eq!(back.category_ids, d.category_ids);
    assert_eq!(training_view(&back.samples), d.samples);
    // what the evaluator sees: the same boxes as [x, y, w, h], none crowd
    for (b, s) in back.samples.iter().zip(&d.samples) {
        let eval = b.eval_annotations.as_ref().unwrap();
        assert_eq!(eval.len(), s.annotations.len());
        for (e, a) in eval.iter().zip(&s.annotations) {
            assert_eq!(e.class_id, a.class_id);
            assert!(!e.iscrowd);
            assert!(
                (e.bbox_xywh[0] - a.bbox[0] as f64).abs() < 1e-4
                    && (e.bbox_xywh[2] - (a.bbox[2] - a.bbox[0]) as f64).abs() < 1e-4
            );
        }
    }

    // fractional boxes survive exactly, and the original category ids are kept
    let d2 = parse_coco(COCO, "annotations.json").unwrap();
    let back2 = parse_coco(&to_coco_json(&d2), "again.json").unwrap();
    assert_eq!(training_view(&back2.samples), training_view(&d2.samples));
    assert_eq!(back2.category_ids, vec![3, 5]);
}

#[test]
fn coco_folder_round_trip_on_disk() {
    let dir = scratch("coco");
    let (d, images) = synth_dataset(5, 4, 80, 60);
    let json = write_coco_dataset(&dir, &d, &images).unwrap();
    assert_eq!(detect_format(&dir, None).unwrap(), DataFormat::Coco);
    for path in [dir.clone(), json] {
        let (back, root) = load_dataset(&path, None).unwrap();
        assert_eq!(root, dir.join("images"));
        assert_eq!(training_view(&back.samples), d.samples);
        let img = load_image(&root.join(&back.samples[2].image)).unwrap();
        assert_eq!(img, images[2]);
    }
}

// ---------------------------------------------------------------------------------------------------------
// VOC
// ---------------------------------------------------------------------------------------------------------

const VOC: &str = r#"<annotation>
  <folder>JPEGImages</folder>
  <filename>img_1.jpg</filename>
  <size><width>200</width><height>100</height><depth>3</depth></size>
  <object>
    <name> cat </name>
    <difficult>1</difficult>
    <bndbox><xmin>10</xmin><ymin>20.5</ymin><xmax>50</xmax><ymax>60</ymax></bndbox>
  </object>
  <object>
    <name>dog</name>
    <truncated>1</truncated>
    <bndbox><xmin>150</xmin><ymin>40</ymin><xmax>210</xmax><ymax>100</ymax></bndbox>
  </object>
</annotation>"#;

#[test]
fn voc_parses_file() {
    let v = parse_voc(VOC, "img_1.xml").unwrap();
    assert_eq!(v.filename.as_deref(), Some("img_1.jpg"));
    assert_eq!((v.width, v.height), (200, 100));
    assert_eq!(v.objects.len(), 2);
    assert_eq!(v.objects[0].name, "cat");
    assert_eq!(v.objects[0].bbox, [10.0, 20.5, 50.0, 60.0]); // as given, no -1 shift
    assert!(v.objects[0].difficult && !v.objects[0].truncated);
    assert!(!v.objects[1].difficult && v.objects[1].truncated);
    assert_eq!((v.objects[0].line, v.objects[1].line), (5, 10));

    let d = voc_dataset(&[("img_1.xml".to_string(), v.clone())], None);
    assert_eq!(d.class_names, vec!["cat", "dog"]);
    assert_eq!(d.samples[0].annotations, vec![ann(0, [10.0, 20.5, 50.0, 60.0]), ann(1, [150.0, 40.0, 200.0, 100.0])]);
    assert_eq!(d.report.clipped, 1);
    assert_eq!(
        d.report.messages,
        vec![
            "img_1.xml: line 10: object[1] 'dog': box [150, 40, 210, 100] extends outside the 200x100 image; clipped to [150, 40, 200, 100]"
        ]
    );
    // a fixed class list drops other names
    let d = voc_dataset(&[("img_1.xml".to_string(), v)], Some(vec!["dog".to_string()]));
    assert_eq!(d.samples[0].annotations.len(), 1);
    assert_eq!(d.report.dropped_unknown_class, 1);
    assert!(d.report.messages[0].starts_with("img_1.xml: line 5: object[0] 'cat': class is not in the class list"));
}

#[test]
fn voc_errors_name_file_and_line() {
    // malformed XML: line/column from roxmltree
    let err = parse_voc("<annotation>\n  <size>\n</annotation>", "bad.xml").unwrap_err();
    match &err {
        DataError::Syntax { file, line, .. } => assert_eq!((file.as_str(), *line), ("bad.xml", 3)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("bad.xml:3:"), "{err}");

    // a non-number coordinate names the element and its line
    let xml = VOC.replace("<xmax>50</xmax>", "<xmax>fifty</xmax>");
    let err = parse_voc(&xml, "img_1.xml").unwrap_err();
    assert_eq!(err.to_string(), "img_1.xml: line 8: object[0]/bndbox/xmax: expected a number, got \"fifty\"");

    let xml = VOC.replace("<name>dog</name>", "");
    assert_eq!(parse_voc(&xml, "img_1.xml").unwrap_err().to_string(), "img_1.xml: line 10: object[1]: missing <name>");

    let xml = VOC.replace("<difficult>1</difficult>", "<difficult>maybe</difficult>");
    assert!(parse_voc(&xml, "a.xml").unwrap_err().to_string().contains("object[0]/difficult: expected 0 or 1"));

    let err = parse_voc("<foo/>", "f.xml").unwrap_err();
    assert!(err.to_string().contains("expected <annotation>"), "{err}");

    // missing <size>: an error naming the file, unless the caller supplies the dimensions
    let xml = VOC.replace("<size><width>200</width><height>100</height><depth>3</depth></size>", "");
    let err = parse_voc(&xml, "img_1.xml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "img_1.xml: annotation/size: missing or zero <size><width>/<height> and no image dimensions supplied"
    );
    let v = parse_voc_with_dims(&xml, "img_1.xml", Some((300, 120))).unwrap();
    assert_eq!((v.width, v.height), (300, 120));
    // zero size (some VOC exports) counts as missing
    let xml = VOC.replace("<width>200</width>", "<width>0</width>");
    assert!(parse_voc(&xml, "z.xml").is_err());
    assert_eq!(parse_voc_with_dims(&xml, "z.xml", Some((7, 8))).unwrap().width, 7);
}

#[test]
fn bccd_copies_voc_layout() {
    let root = bccd_copy();
    assert_eq!(detect_format(&root, None).unwrap(), DataFormat::Voc);
    let (d, image_root) = load_dataset(&root, None).unwrap();
    assert_eq!(image_root, root.join("JPEGImages"));
    assert_eq!(d.class_names, vec!["Platelets", "RBC", "WBC"]);
    assert_eq!(d.samples.len(), 3);
    let names: Vec<&str> = d.samples.iter().map(|s| s.image.as_str()).collect();
    assert_eq!(names, vec!["BloodImage_00004.jpg", "BloodImage_00014.jpg", "BloodImage_00338.jpg"]);
    let counts: Vec<usize> = d.samples.iter().map(|s| s.annotations.len()).collect();
    assert_eq!(counts, vec![13, 19, 13]); // 338 has 14 objects, one with zero area
    assert_eq!(d.class_counts(), vec![3, 39, 3]);
    assert!(d.samples.iter().all(|s| (s.width, s.height) == (640, 480)));
    assert_eq!(d.report.dropped_zero_area, 1);
    assert_eq!(d.report.dropped(), 1);
    assert_eq!(
        d.report.messages,
        vec![
            "Annotations/BloodImage_00338.xml: line 158: object[12] 'RBC': box [504, 337, 504, 337] has zero or negative area; dropped"
        ]
    );
    // splits from ImageSets/Main
    let (val, _) = load_dataset_split(&root, Some(DataFormat::Voc), Some("val")).unwrap();
    assert_eq!(val.samples.len(), 2);
    let (train, _) = load_dataset_split(&root, None, Some("train")).unwrap();
    assert_eq!(train.samples.len(), 1);
    assert_eq!(train.class_names, vec!["Platelets", "RBC", "WBC"]);
    let err = load_dataset_split(&root, None, Some("test")).unwrap_err();
    assert!(err.to_string().contains("split \"test\" not found (available: train, val)"), "{err}");
    // the images decode
    let img = load_image(&image_root.join(&d.samples[0].image)).unwrap();
    assert_eq!(img.dimensions(), (640, 480));
}

/// The whole BCCD dataset (292 images, VOC files and split lists in `tests/fixtures/data/bccd_full`, copied
/// from `shared/datasets/bccd`), so the check runs everywhere, CI included.
#[test]
fn bccd_full_dataset() {
    let root = manifest_dir().join("tests/fixtures/data/bccd_full");
    let (d, image_root) = load_dataset(&root, None).unwrap();
    assert_eq!(d.samples.len(), 292);
    assert_eq!(d.class_names, vec!["Platelets", "RBC", "WBC"]);
    assert_eq!(d.report.dropped_zero_area, 2, "{:?}", d.report.messages);
    for f in ["BloodImage_00338.xml", "BloodImage_00343.xml"] {
        assert!(d.report.messages.iter().any(|m| m.contains(f) && m.contains("zero or negative area")), "{f}");
    }
    assert_eq!(d.num_boxes() + d.report.dropped(), 3943);
    assert!(image_root.join(&d.samples[291].image).is_file());
    for s in &d.samples {
        for a in &s.annotations {
            let [x0, y0, x1, y1] = a.bbox;
            assert!(0.0 <= x0 && x0 < x1 && x1 <= s.width as f32 && 0.0 <= y0 && y0 < y1 && y1 <= s.height as f32);
        }
    }
    let (train, _) = load_dataset_split(&root, None, Some("train")).unwrap();
    let (val, _) = load_dataset_split(&root, None, Some("val")).unwrap();
    assert_eq!((train.samples.len(), val.samples.len()), (205, 87));
    println!("full BCCD: {}", d.summary());
}

// ---------------------------------------------------------------------------------------------------------
// YOLO
// ---------------------------------------------------------------------------------------------------------

#[test]
fn yolo_parses_lines() {
    let txt = "0 0.5 0.5 0.2 0.4\n\n  \n2 0.1 0.1 0.4 0.4\n1 0.95 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n1 0.5 0.5 0 0.1\n";
    let mut r = ValidationReport::default();
    let boxes = parse_yolo_with_report(txt, "labels/a.txt", 200, 100, 3, &mut r).unwrap();
    assert_eq!(boxes.len(), 3);
    assert!(close(boxes[0].bbox, [80.0, 30.0, 120.0, 70.0], 1e-4));
    assert_eq!(boxes[0].class_id, 0);
    assert!(close(boxes[1].bbox, [0.0, 0.0, 60.0, 30.0], 1e-4)); // clipped from [-20, -10, 60, 30]
    assert!(close(boxes[2].bbox, [170.0, 40.0, 200.0, 60.0], 1e-4)); // clipped at the right edge
    assert_eq!((r.clipped, r.dropped_unknown_class, r.dropped_zero_area), (2, 1, 1));
    assert!(r.messages.iter().any(|m| m.starts_with("labels/a.txt: line 6: class 7 is not below the 3 known classes")));
    assert!(r.messages.iter().any(|m| m.starts_with("labels/a.txt: line 7: box")));
    assert_eq!(parse_yolo(txt, "labels/a.txt", 200, 100, 3).unwrap(), boxes);
    assert!(parse_yolo("", "empty.txt", 10, 10, 1).unwrap().is_empty());
}

#[test]
fn yolo_errors_name_file_and_line() {
    let cases = [
        ("0 0.5 0.5 0.2\n", "a.txt: line 1: expected 5 values `class cx cy w h`, got 4"),
        ("0 0.5 0.5 0.2 0.2\n\nx 0.5 0.5 0.2 0.2\n", "a.txt: line 3: class \"x\" is not a non-negative integer"),
        ("-1 0.5 0.5 0.2 0.2\n", "a.txt: line 1: class \"-1\" is not a non-negative integer"),
        ("0 0.5 abc 0.2 0.2\n", "a.txt: line 1: cy \"abc\" is not a number"),
    ];
    for (txt, expected) in cases {
        let err = parse_yolo(txt, "a.txt", 10, 10, 2).unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err} vs {expected}");
    }
}

#[test]
fn yolo_round_trip() {
    let boxes =
        vec![ann(0, [10.0, 20.0, 30.5, 47.0]), ann(2, [0.0, 0.0, 640.0, 480.0]), ann(1, [100.25, 3.0, 101.0, 4.0])];
    let txt = to_yolo_txt(&boxes, 640, 480);
    let back = parse_yolo(&txt, "x.txt", 640, 480, 3).unwrap();
    assert_eq!(back.len(), boxes.len());
    for (a, b) in boxes.iter().zip(&back) {
        assert_eq!(a.class_id, b.class_id);
        assert!(close(a.bbox, b.bbox, 2e-3), "{:?} vs {:?}", a.bbox, b.bbox);
    }
}

#[test]
fn class_name_lists() {
    let plain = "RBC\nWBC\n\nPlatelets\n";
    assert_eq!(parse_class_names(plain, "classes.txt").unwrap(), vec!["RBC", "WBC", "Platelets"]);
    assert_eq!(parse_class_names("a b\r\nc\r\n", "obj.names").unwrap(), vec!["a b", "c"]);
    let flow =
        "path: ../datasets\ntrain: images/train\nnc: 3\nnames: ['red cell', \"white, cell\", platelet]  # comment\n";
    assert_eq!(parse_class_names(flow, "data.yaml").unwrap(), vec!["red cell", "white, cell", "platelet"]);
    let multiline = "names: [a,\n  b,\n  c]\n";
    assert_eq!(parse_class_names(multiline, "data.yaml").unwrap(), vec!["a", "b", "c"]);
    let block = "train: x\nnames:\n  - cat   # first\n  - 'dog'\n\nnc: 2\n";
    assert_eq!(parse_class_names(block, "data.yml").unwrap(), vec!["cat", "dog"]);
    let map = "names:\n  1: dog\n  0: cat\n  2: \"bird\"\nval: y\n";
    assert_eq!(parse_class_names(map, "data.yaml").unwrap(), vec!["cat", "dog", "bird"]);
    assert_eq!(parse_class_names("names: {0: a, 1: b}\n", "d.yaml").unwrap(), vec!["a", "b"]);

    let err = |text: &str, file: &str| parse_class_names(text, file).unwrap_err().to_string();
    assert_eq!(err("nc: 2\nnames: [a, b, c]\n", "data.yaml"), "data.yaml: line 1: nc: 2 but names: lists 3 classes");
    assert_eq!(err("a\nb\na\n", "classes.txt"), "classes.txt: line 3: duplicate class name \"a\"");
    assert_eq!(err("\n\n", "classes.txt"), "classes.txt: line 1: no class names found");
    assert_eq!(err("train: x\n", "data.yaml"), "data.yaml: line 1: no top-level `names:` key");
    assert!(err("names: [a, b\n", "data.yaml").contains("missing closing ']'"));
    assert!(err("names:\n  0: a\n  2: b\n", "data.yaml").contains("without gaps"));
    assert!(err("names:\n  what\n", "data.yaml").starts_with("data.yaml: line 2: names: expected"));
}

#[test]
fn yolo_folder_on_disk() {
    let dir = scratch("yolo");
    let (d, images) = synth_dataset(3, 5, 72, 56);
    for split in ["train", "val"] {
        std::fs::create_dir_all(dir.join("images").join(split)).unwrap();
        std::fs::create_dir_all(dir.join("labels").join(split)).unwrap();
    }
    std::fs::write(
        dir.join("data.yaml"),
        "path: .\ntrain: images/train\nval: images/val\nnames: [circle, square, triangle]\n",
    )
    .unwrap();
    for (i, (s, img)) in d.samples.iter().zip(&images).enumerate() {
        let split = if i < 3 { "train" } else { "val" };
        img.save(dir.join("images").join(split).join(&s.image)).unwrap();
        if i != 1 {
            // sample 1 has no label file: no objects
            let txt = to_yolo_txt(&s.annotations, s.width, s.height);
            std::fs::write(dir.join("labels").join(split).join(s.image.replace(".png", ".txt")), txt).unwrap();
        }
    }
    assert_eq!(detect_format(&dir, None).unwrap(), DataFormat::Yolo);
    let (all, root) = load_dataset(&dir, None).unwrap();
    assert_eq!(root, dir.join("images"));
    assert_eq!(all.samples.len(), 5);
    assert_eq!(all.class_names, vec!["circle", "square", "triangle"]);
    assert_eq!(all.samples[0].image, "train/synth_00000.png");
    assert!(all.samples[1].annotations.is_empty());
    for (i, (a, b)) in d.samples.iter().zip(&all.samples).enumerate() {
        assert_eq!((b.width, b.height), (72, 56));
        if i == 1 {
            continue;
        }
        assert_eq!(a.annotations.len(), b.annotations.len());
        for (x, y) in a.annotations.iter().zip(&b.annotations) {
            assert_eq!(x.class_id, y.class_id);
            assert!(close(x.bbox, y.bbox, 1e-3));
        }
    }
    let (val, root) = load_dataset_split(&dir, Some(DataFormat::Yolo), Some("val")).unwrap();
    assert_eq!(root, dir.join("images/val"));
    assert_eq!(
        val.samples.iter().map(|s| s.image.as_str()).collect::<Vec<_>>(),
        vec!["synth_00003.png", "synth_00004.png"]
    );
    assert_eq!(val.samples[0].annotations.len(), d.samples[3].annotations.len());

    // a label line that does not parse names the label file and line
    std::fs::write(dir.join("labels/val/synth_00004.txt"), "0 0.5 0.5 0.1 0.1\n0 0.5\n").unwrap();
    let err = load_dataset_split(&dir, None, Some("val")).unwrap_err();
    assert!(err.to_string().starts_with("labels/val/synth_00004.txt: line 2: expected 5 values"), "{err}");
}

// ---------------------------------------------------------------------------------------------------------
// native helpers
// ---------------------------------------------------------------------------------------------------------

#[test]
fn format_names_and_file_errors() {
    assert_eq!("COCO".parse::<DataFormat>().unwrap(), DataFormat::Coco);
    assert_eq!("voc".parse::<DataFormat>().unwrap(), DataFormat::Voc);
    assert_eq!("yolo".parse::<DataFormat>().unwrap(), DataFormat::Yolo);
    assert_eq!(DataFormat::Voc.to_string(), "voc");
    let err = "kitti".parse::<DataFormat>().unwrap_err();
    assert_eq!(err.to_string(), "unknown dataset format \"kitti\": expected coco, voc or yolo");

    let dir = scratch("files");
    let missing = dir.join("missing.jpg");
    let err = load_image(&missing).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.jpg"), "{err}");
    let corrupt = dir.join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xFF\xD8\xFF\xE0 definitely not a jpeg").unwrap();
    let err = load_image(&corrupt).unwrap_err();
    assert!(matches!(err, DataError::Image { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("{}: cannot read image: ", corrupt.display())), "{err}");

    assert!(load_dataset(&dir.join("nope"), None).unwrap_err().to_string().contains("nope"));
    let err = load_dataset(&dir, None).unwrap_err();
    assert!(matches!(err, DataError::Layout { .. }), "{err:?}");
}

/// CRC-32 (ISO-HDLC, as PNG chunks use).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG with the given IHDR fields and an IDAT holding `idat` (zlib data, possibly truncated).
fn png_file(width: u32, height: u32, depth: u8, color: u8, idat: &[u8]) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        c.extend(crc32(&[kind, data].concat()).to_be_bytes());
        c
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([depth, color, 0, 0, 0]);
    [&b"\x89PNG\r\n\x1a\n"[..], &chunk(b"IHDR", &ihdr), &chunk(b"IDAT", idat), &chunk(b"IEND", b"")].concat()
}

/// `decode_image` (the decoder of `detect`, `train` and `eval`): a 60000×60000 PNG header (10.8 GB of RGB)
/// is refused by the pixel limit before anything is allocated, a PNG whose pixel data stops
/// early and an empty one are errors naming the file, and a valid 1×1 PNG decodes.
#[test]
fn decode_image_refuses_huge_truncated_and_empty_images() {
    let huge = png_file(60_000, 60_000, 8, 2, &[0x78, 0x9c, 0x03, 0x00]);
    let err = decode_image(&huge, "huge.png").unwrap_err().to_string();
    assert!(err.starts_with("huge.png: cannot read image: ") && err.contains("limit"), "{err}");
    // zlib of one row `0 r g b` (filter type 0), then cut short.
    let row = [0x78, 0x9c, 0x63, 0xe0, 0x12, 0x91, 0x03, 0x00, 0x00, 0x68, 0x00, 0x3d];
    let img = decode_image(&png_file(1, 1, 8, 2, &row), "one.png").unwrap();
    assert_eq!((img.dimensions(), img.get_pixel(0, 0).0), ((1, 1), [10, 20, 30]));
    let err = decode_image(&png_file(1, 1, 8, 2, &row[..6]), "cut.png").unwrap_err().to_string();
    assert!(err.starts_with("cut.png: cannot read image: "), "{err}");
    let err = decode_image(&png_file(0, 1, 8, 2, &row), "zero.png").unwrap_err().to_string();
    assert!(err.starts_with("zero.png: cannot read image: "), "{err}");
    let err = decode_image(b"", "nothing.png").unwrap_err().to_string();
    assert!(err.starts_with("nothing.png: cannot read image: "), "{err}");
}

/// The pixel limit is checked on the size the header declares, before decoding: a 12000×9000 PNG of a few
/// dozen bytes (108 megapixels, over the CLI's 100) is refused with its size named, whatever its pixel data;
/// a smaller limit (the fuzz target's one megapixel) refuses 2000×1000 and still reads 1×1.
#[test]
fn decode_image_checks_the_declared_size_against_the_limit() {
    let no_data = [0x78, 0x9c, 0x03, 0x00];
    let err = decode_image(&png_file(12_000, 9_000, 8, 2, &no_data), "big.png").unwrap_err().to_string();
    assert_eq!(
        err,
        "big.png: cannot read image: the file declares 12000×9000 pixels (108.0 megapixels), \
         above the limit of 100.0 megapixels"
    );
    let small = ImageLimits { max_pixels: 1 << 20 };
    let err = decode_image_within(&png_file(2_000, 1_000, 8, 2, &no_data), "wide.png", small).unwrap_err();
    assert!(err.to_string().contains("declares 2000×1000 pixels"), "{err}");
    let row = [0x78, 0x9c, 0x63, 0xe0, 0x12, 0x91, 0x03, 0x00, 0x00, 0x68, 0x00, 0x3d];
    let img = decode_image_within(&png_file(1, 1, 8, 2, &row), "one.png", small).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [10, 20, 30]);
    assert_eq!(ImageLimits::default(), ImageLimits::DEFAULT);
}

// ---------------------------------------------------------------------------------------------------------
// augmentation
// ---------------------------------------------------------------------------------------------------------

fn assert_inside(img: &RgbImage, boxes: &[BoxAnnotation]) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    for b in boxes {
        let [x0, y0, x1, y1] = b.bbox;
        assert!(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite());
        assert!(0.0 <= x0 && x0 < x1 && x1 <= w && 0.0 <= y0 && y0 < y1 && y1 <= h, "{:?} in {w}x{h}", b.bbox);
    }
}

#[test]
fn rng_is_deterministic_and_uniform_enough() {
    let mut a = Rng::new(42);
    let mut b = Rng::new(42);
    let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
    assert_eq!(xs, (0..100).map(|_| b.next_u64()).collect::<Vec<_>>());
    let mut counts = [0usize; 5];
    for _ in 0..5000 {
        let v = a.range_inclusive(3, 7);
        counts[(v - 3) as usize] += 1;
    }
    assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    assert_eq!(a.range_inclusive(5, 5), 5);
    assert_eq!(a.range_inclusive(6, 2), 6);
    assert!(a.choose::<u8>(&[]).is_none());
    let f = a.next_f64();
    assert!((0.0..1.0).contains(&f));
    let mut v: Vec<u32> = (0..20).collect();
    a.shuffle(&mut v);
    let mut sorted = v.clone();
    sorted.sort();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>());
}

#[test]
fn train_augment_recipe_scales() {
    let full = TrainAugment::new(1333);
    assert_eq!(full.scales, vec![480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800]);
    assert_eq!(full.crop_resize_scales, vec![400, 500, 600]);
    assert_eq!((full.crop_min, full.crop_max), (384, 600));
    let small = TrainAugment::new(640);
    assert_eq!(small.scales[0], 230); // 480 * 640 / 1333 = 230.5 -> round
    assert_eq!(*small.scales.last().unwrap(), 384);
    assert_eq!((small.crop_min, small.crop_max), (184, 288));
}

#[test]
fn augmentation_keeps_boxes_inside_and_is_deterministic() {
    let aug = TrainAugment::new(320);
    let mut crops_seen = 0;
    for seed in 0..40u64 {
        let (w, h) = [(160, 120), (90, 200), (333, 250), (64, 64)][seed as usize % 4];
        let (img, boxes) = synth_sample(seed, w, h, 5);
        let mut rng = Rng::new(seed * 7 + 1);
        let (out, out_boxes) = aug.apply(&img, &boxes, &mut rng);
        assert!(out.width().max(out.height()) <= 320, "{:?}", out.dimensions());
        assert!(out.width().min(out.height()) <= *aug.scales.last().unwrap());
        assert_inside(&out, &out_boxes);
        assert!(out_boxes.len() <= boxes.len());
        if out_boxes.len() < boxes.len() {
            crops_seen += 1;
        }
        // same seed, same result
        let mut rng2 = Rng::new(seed * 7 + 1);
        let (out2, out_boxes2) = aug.apply(&img, &boxes, &mut rng2);
        assert_eq!(out, out2);
        assert_eq!(out_boxes, out_boxes2);
        assert_eq!(rng, rng2);
    }
    assert!(crops_seen > 0, "the crop branch never removed a box");
    // different seeds give different results
    let (img, boxes) = synth_sample(1, 200, 150, 3);
    let outs: Vec<_> = (0..6).map(|s| aug.apply(&img, &boxes, &mut Rng::new(s))).collect();
    assert!(outs.iter().any(|o| o != &outs[0]));
}

#[test]
fn hflip_maps_boxes_and_pixels() {
    let scene = synth_scene(9, 120, 80, 3);
    let boxes: Vec<BoxAnnotation> = scene.objects.iter().map(|o| ann(o.class_id, o.bbox)).collect();
    let (img, flipped) = hflip(&scene.image, &boxes);
    for (b, f) in boxes.iter().zip(&flipped) {
        assert_eq!(f.class_id, b.class_id);
        assert_eq!(f.bbox, [120.0 - b.bbox[2], b.bbox[1], 120.0 - b.bbox[0], b.bbox[3]]);
    }
    for y in 0..80 {
        for x in 0..120 {
            assert_eq!(img.get_pixel(119 - x, y), scene.image.get_pixel(x, y));
        }
    }
    // the last-drawn shape is never occluded: its colour's extent in the flipped image is the flipped box
    let last = scene.objects.last().unwrap();
    let f = flipped.last().unwrap().bbox;
    assert_eq!(colour_extent(&img, last.color), Some(f));
    // flipping twice is the identity
    let (img2, back) = hflip(&img, &flipped);
    assert_eq!(img2, scene.image);
    assert_eq!(back, boxes);
}

#[test]
fn crop_and_resize_boxes() {
    let img = RgbImage::new(100, 80);
    let boxes = vec![ann(0, [10.0, 10.0, 30.0, 30.0]), ann(1, [50.0, 40.0, 90.0, 70.0]), ann(2, [0.0, 0.0, 5.0, 5.0])];
    // official crop: shift, clip to the crop, drop empty
    let (c, kept) = crop(&img, &boxes, 20, 20, 40, 60); // top, left, height, width
    assert_eq!(c.dimensions(), (60, 40));
    assert_eq!(kept, vec![ann(0, [0.0, 0.0, 10.0, 10.0]), ann(1, [30.0, 20.0, 60.0, 40.0])]);
    // resize scales by new/old
    let (r, scaled) = resize_with_boxes(&img, &boxes, 50, 160);
    assert_eq!(r.dimensions(), (50, 160));
    assert_eq!(scaled[1].bbox, [25.0, 80.0, 45.0, 140.0]);
    // random size crop stays within bounds even for images smaller than the minimum crop
    let mut rng = Rng::new(3);
    for _ in 0..50 {
        let (c, kept) = random_size_crop(&img, &boxes, 60, 90, &mut rng);
        assert!((60..=90).contains(&c.width()) && (60..=80).contains(&c.height()));
        assert_inside(&c, &kept);
        let (c, kept) = random_size_crop(&img, &boxes, 384, 600, &mut rng);
        assert_eq!(c.dimensions(), (100, 80));
        assert_eq!(kept, boxes);
    }
    // eval resize: processor sizes, boxes scaled
    let (e, eb) = resize_for_eval(&img, &boxes, ResizeMode::Size { shortest_edge: 40, longest_edge: 100 });
    assert_eq!(e.dimensions(), (50, 40));
    assert_eq!(eb[0].bbox, [5.0, 5.0, 15.0, 15.0]);
    let (e, eb) = resize_for_eval(&img, &boxes, ResizeMode::None);
    assert_eq!((e, eb), (img.clone(), boxes.clone()));
}

// ---------------------------------------------------------------------------------------------------------
// collate
// ---------------------------------------------------------------------------------------------------------

#[test]
fn collate_normalises_by_unpadded_size() {
    let a = RgbImage::from_pixel(100, 50, image::Rgb([10, 20, 30]));
    let b = RgbImage::from_pixel(40, 80, image::Rgb([200, 100, 0]));
    let boxes = vec![
        vec![ann(1, [10.0, 5.0, 30.0, 45.0]), ann(0, [0.0, 0.0, 100.0, 50.0])],
        vec![ann(2, [20.0, 40.0, 40.0, 80.0])],
    ];
    let (batch, targets) = collate(vec![a, b], boxes);
    assert_eq!((batch.batch, batch.height, batch.width), (2, 80, 100));
    assert_eq!(batch.image_sizes, vec![(50, 100), (80, 40)]);
    assert_eq!(targets[0].labels, vec![1, 0]);
    assert_eq!(targets[0].boxes_cxcywh, vec![[0.2, 0.5, 0.2, 0.8], [0.5, 0.5, 1.0, 1.0]]);
    assert_eq!(targets[1].labels, vec![2]);
    assert_eq!(targets[1].boxes_cxcywh, vec![[0.75, 0.75, 0.5, 0.5]]);
    // pixels: normalised inside, zero + mask 0 in the padding
    let plane = 80 * 100;
    assert_eq!(batch.pixel_values[0], normalize_value(10, 0));
    assert_eq!(batch.pixel_values[plane + 99], normalize_value(20, 1));
    assert_eq!(batch.pixel_values[60 * 100], 0.0);
    assert_eq!(batch.pixel_mask[49 * 100 + 99], 1);
    assert_eq!(batch.pixel_mask[50 * 100], 0);
    assert_eq!(batch.pixel_mask[plane + 79 * 100 + 39], 1);
    assert_eq!(batch.pixel_mask[plane + 79 * 100 + 40], 0);
    // fewer box lists than images: no boxes
    let (_, t) = collate(vec![RgbImage::new(4, 4)], vec![]);
    assert!(t[0].labels.is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// synthetic dataset
// ---------------------------------------------------------------------------------------------------------

/// Tight extent of the pixels of exactly this colour.
fn colour_extent(img: &RgbImage, colour: [u8; 3]) -> Option<[f32; 4]> {
    let mut ext: Option<[u32; 4]> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if p.0 == colour {
            ext = Some(match ext {
                None => [x, y, x + 1, y + 1],
                Some([a, b, c, d]) => [a.min(x), b.min(y), c.max(x + 1), d.max(y + 1)],
            });
        }
    }
    ext.map(|e| e.map(|v| v as f32))
}

fn overlaps(a: &[f32; 4], b: &[f32; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

#[test]
fn synth_boxes_are_tight() {
    let mut checked_full = 0;
    for seed in 0..30u64 {
        let (w, h) = [(128, 96), (64, 64), (200, 120)][seed as usize % 3];
        let scene = synth_scene(seed, w, h, 5);
        assert!(!scene.objects.is_empty() && scene.objects.len() <= 5);
        for (k, o) in scene.objects.iter().enumerate() {
            assert!(o.class_id < SYNTH_CLASSES.len());
            let [x0, y0, x1, y1] = o.bbox;
            assert!(0.0 <= x0 && x0 < x1 && x1 <= w as f32 && 0.0 <= y0 && y0 < y1 && y1 <= h as f32);
            let side = w.min(h) as f32;
            let extent = (x1 - x0).max(y1 - y0);
            assert!(extent >= 0.1 * side - 1.0 && extent <= 0.45 * side + 1.0, "{extent} of {side}");
            // saturated shape colours never occur in the low-saturation background
            let spread = o.color.iter().max().unwrap() - o.color.iter().min().unwrap();
            assert!(spread > 100, "{:?}", o.color);
            if scene.objects.iter().enumerate().any(|(j, p)| j != k && p.color == o.color) {
                continue;
            }
            // every pixel of this colour is inside the box ...
            let ext = colour_extent(&scene.image, o.color).expect("shape visible");
            assert!(ext[0] >= x0 && ext[1] >= y0 && ext[2] <= x1 && ext[3] <= y1, "{ext:?} outside {:?}", o.bbox);
            // ... and the box is exactly their extent when no later shape covers it
            if !scene.objects[k + 1..].iter().any(|p| overlaps(&p.bbox, &o.bbox)) {
                assert_eq!(ext, o.bbox, "seed {seed} object {k}");
                checked_full += 1;
            }
        }
    }
    assert!(checked_full > 40, "{checked_full}");
}

#[test]
fn synth_is_deterministic() {
    let (img_a, boxes_a) = synth_sample(5, 96, 64, 4);
    let (img_b, boxes_b) = synth_sample(5, 96, 64, 4);
    assert_eq!((img_a, boxes_a), (img_b.clone(), boxes_b));
    let (img_c, _) = synth_sample(6, 96, 64, 4);
    assert_ne!(img_b, img_c);
    let (d, images) = synth_dataset(1, 8, 48, 40);
    assert_eq!(d.class_names, SYNTH_CLASSES.to_vec());
    assert_eq!(images.len(), 8);
    assert_eq!(d.samples[3].image, "synth_00003.png");
    assert!(d.samples.iter().all(|s| !s.annotations.is_empty() && s.annotations.len() <= SYNTH_MAX_OBJECTS));
    assert_eq!(synth_dataset(1, 8, 48, 40), (d, images));
    // degenerate sizes never panic
    assert!(synth_sample(1, 0, 0, 3).1.is_empty());
    assert!(synth_sample(1, 3, 100, 3).1.is_empty());
    assert!(synth_sample(1, 50, 50, 0).1.is_empty());
}

#[test]
fn synth_dataset_is_valid_training_data() {
    // every class appears and boxes survive validation unchanged
    let (d, _) = synth_dataset(2024, 30, 96, 96);
    assert!(d.class_counts().iter().all(|&c| c > 0), "{:?}", d.class_counts());
    let mut r = ValidationReport::default();
    for s in &d.samples {
        for a in &s.annotations {
            assert_eq!(validate_box(a.bbox, s.width, s.height, &s.image, "box", &mut r), Some(a.bbox));
        }
    }
    assert!(r.is_clean());
    let _ = Path::new(&d.samples[0].image);
}

/// A COCO file whose `images` have no width/height (the official loader does not need them): the sizes come
/// from the image files; without the files it is an error naming the field.
#[test]
fn coco_without_image_sizes_reads_them_from_the_images() {
    let dir = scratch("coco-nosize");
    let (d, images) = synth_dataset(3, 3, 80, 60);
    let json = write_coco_dataset(&dir, &d, &images).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for im in doc["images"].as_array_mut().unwrap() {
        let im = im.as_object_mut().unwrap();
        im.remove("width");
        im.remove("height");
    }
    let text = doc.to_string();
    std::fs::write(&json, &text).unwrap();
    let (back, _) = load_dataset(&json, None).unwrap();
    assert_eq!(training_view(&back.samples), d.samples);
    // A model config beside the annotations (of any name) does not make the folder ambiguous.
    std::fs::rename(&json, dir.join("shapes_train.json")).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"d_model": 32, "id2label": {"0": "a"}}"#).unwrap();
    let (back, _) = load_dataset(&dir, None).unwrap();
    assert_eq!(back.samples.len(), 3);
    let err = parse_coco(&text, "nosize.json").unwrap_err().to_string();
    assert!(err.contains("nosize.json") && err.contains("images[0].width"), "{err}");
}
