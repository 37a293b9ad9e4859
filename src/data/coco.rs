//! COCO detection JSON (`instances_*.json`): parse into a [`Dataset`] and write one back.
//!
//! Follows the official DETR loader (`datasets/coco.py`: torchvision `CocoDetection` + `ConvertCocoPolysToMask`):
//! images are taken in ascending `id` order, `bbox` is `[x, y, w, h]` in pixels and becomes
//! `[x, y, x + w, y + h]` clipped to the image, boxes without area are removed and `iscrowd = 1` annotations are
//! skipped (each sample also keeps every annotation as written, crowd ones included, for evaluation: see
//! [`SampleMeta::eval_annotations`]). Unlike the official repo (which keeps raw COCO ids as class indices,
//! 91 classes) the class index is the position of the category in the category list sorted by id;
//! [`Dataset::category_ids`] maps it back.
//! Only `images`, `annotations` and `categories` are read; other keys (segmentation, info, ...) are ignored.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::{BoxAnnotation, DataError, Dataset, EvalAnnotation, SampleMeta, ValidationReport, validate_box};

#[derive(Deserialize)]
struct RawFile {
    images: Option<Vec<RawImage>>,
    annotations: Option<Vec<RawAnnotation>>,
    categories: Option<Vec<RawCategory>>,
}

#[derive(Deserialize)]
struct RawImage {
    id: Option<Value>,
    file_name: Option<Value>,
    width: Option<Value>,
    height: Option<Value>,
}

#[derive(Deserialize)]
struct RawAnnotation {
    image_id: Option<Value>,
    category_id: Option<Value>,
    bbox: Option<Value>,
    area: Option<Value>,
    iscrowd: Option<Value>,
}

#[derive(Deserialize)]
struct RawCategory {
    id: Option<Value>,
    name: Option<Value>,
}

/// serde_json's message without its " at line L column C" suffix (the position is reported separately).
pub(crate) fn json_syntax_error(file: &str, e: &serde_json::Error) -> DataError {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = msg.strip_suffix(&suffix).unwrap_or(&msg).to_string();
    DataError::Syntax { file: file.to_string(), line: e.line(), column: e.column(), message }
}

struct Fields<'a> {
    file: &'a str,
}

impl Fields<'_> {
    fn err(&self, field: String, message: impl Into<String>) -> DataError {
        DataError::Field { file: self.file.to_string(), field, message: message.into() }
    }

    fn int(&self, v: &Option<Value>, field: String) -> Result<i64, DataError> {
        match v {
            None => Err(self.err(field, "missing (expected an integer)")),
            Some(v) => match v.as_i64() {
                Some(i) => Ok(i),
                // integral floats such as 3.0 are accepted
                None => match v.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                    _ => Err(self.err(field, format!("expected an integer, got {v}"))),
                },
            },
        }
    }

    fn dim(&self, v: &Option<Value>, field: String) -> Result<u32, DataError> {
        let i = self.int(v, field.clone())?;
        if i <= 0 || i > u32::MAX as i64 {
            return Err(self.err(field, format!("expected a positive image size, got {i}")));
        }
        Ok(i as u32)
    }

    fn string(&self, v: &Option<Value>, field: String) -> Result<String, DataError> {
        match v {
            Some(Value::String(s)) => Ok(s.clone()),
            None => Err(self.err(field, "missing (expected a string)")),
            Some(v) => Err(self.err(field, format!("expected a string, got {v}"))),
        }
    }
}

/// Parses a COCO detection JSON file. `file` names it in errors and messages.
///
/// Fatal: malformed JSON (line/column), missing `images`/`annotations`/`categories`, a field of the wrong type,
/// duplicate image or category ids. Not fatal (counted in the report with a message): annotations of unknown
/// images or categories, crowd annotations, boxes that are clipped, empty or outside the image.
pub fn parse_coco(json: &str, file: &str) -> Result<Dataset, DataError> {
    parse_coco_with_dims(json, file, &|_| None)
}

/// [`parse_coco`] for files whose `images` may lack `width`/`height` (the official loader reads the size
/// from the image): `dims(file_name)` gives `(width, height)` of such an image, or `None` when it cannot be
/// found, which is then an error naming the field.
pub fn parse_coco_with_dims(
    json: &str,
    file: &str,
    dims: &dyn Fn(&str) -> Option<(u32, u32)>,
) -> Result<Dataset, DataError> {
    let raw: RawFile = serde_json::from_str(json).map_err(|e| json_syntax_error(file, &e))?;
    let f = Fields { file };
    let missing = |key: &str| f.err(key.to_string(), "missing (expected an array)");
    let images = raw.images.ok_or_else(|| missing("images"))?;
    let annotations = raw.annotations.ok_or_else(|| missing("annotations"))?;
    let categories = raw.categories.ok_or_else(|| missing("categories"))?;

    // categories sorted by id -> class index
    let mut cats: Vec<(i64, String)> = Vec::with_capacity(categories.len());
    for (i, c) in categories.iter().enumerate() {
        let id = f.int(&c.id, format!("categories[{i}].id"))?;
        let name = f.string(&c.name, format!("categories[{i}].name"))?;
        if cats.iter().any(|(other, _)| *other == id) {
            return Err(f.err(format!("categories[{i}].id"), format!("duplicate category id {id}")));
        }
        cats.push((id, name));
    }
    cats.sort_by_key(|(id, _)| *id);
    let class_of: HashMap<i64, usize> = cats.iter().enumerate().map(|(k, (id, _))| (*id, k)).collect();

    // images sorted by id (torchvision CocoDetection: `sorted(coco.imgs.keys())`)
    let mut samples: Vec<SampleMeta> = Vec::with_capacity(images.len());
    let mut sample_of: HashMap<i64, usize> = HashMap::with_capacity(images.len());
    for (i, im) in images.iter().enumerate() {
        let id = f.int(&im.id, format!("images[{i}].id"))?;
        let file_name = f.string(&im.file_name, format!("images[{i}].file_name"))?;
        let (width, height) = match (&im.width, &im.height, dims(&file_name)) {
            (None | Some(Value::Null), None | Some(Value::Null), Some(wh)) => wh,
            _ => (f.dim(&im.width, format!("images[{i}].width"))?, f.dim(&im.height, format!("images[{i}].height"))?),
        };
        if sample_of.insert(id, i).is_some() {
            return Err(f.err(format!("images[{i}].id"), format!("duplicate image id {id}")));
        }
        samples.push(SampleMeta {
            image: file_name,
            width,
            height,
            annotations: Vec::new(),
            image_id: id,
            eval_annotations: Some(Vec::new()),
        });
    }

    let mut report = ValidationReport::default();
    for (i, a) in annotations.iter().enumerate() {
        let image_id = f.int(&a.image_id, format!("annotations[{i}].image_id"))?;
        let category_id = f.int(&a.category_id, format!("annotations[{i}].category_id"))?;
        let bbox = match &a.bbox {
            Some(Value::Array(v)) if v.len() == 4 && v.iter().all(Value::is_number) => {
                let n: Vec<f64> = v.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
                [n[0], n[1], n[2], n[3]]
            }
            Some(v) => return Err(f.err(format!("annotations[{i}].bbox"), format!("expected 4 numbers, got {v}"))),
            None => return Err(f.err(format!("annotations[{i}].bbox"), "missing (expected 4 numbers)")),
        };
        let crowd = match &a.iscrowd {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => f.int(&Some(v.clone()), format!("annotations[{i}].iscrowd"))? != 0,
        };
        let what = format!("annotations[{i}]");
        let Some(&s) = sample_of.get(&image_id) else {
            report.dropped_unknown_image += 1;
            report.messages.push(format!("{file}: {what}: image_id {image_id} is not in images; dropped"));
            continue;
        };
        let Some(&class_id) = class_of.get(&category_id) else {
            report.dropped_unknown_class += 1;
            report.messages.push(format!("{file}: {what}: category_id {category_id} is not in categories; dropped"));
            continue;
        };
        let [x, y, w, h] = bbox;
        if [x, y, w, h].iter().all(|v| v.is_finite()) {
            let area = a.area.as_ref().and_then(Value::as_f64).filter(|v| v.is_finite()).unwrap_or(w * h);
            if let Some(eval) = samples[s].eval_annotations.as_mut() {
                eval.push(EvalAnnotation { class_id, bbox_xywh: [x, y, w, h], area, iscrowd: crowd });
            }
        }
        if crowd {
            report.skipped_crowd += 1;
            report.messages.push(format!("{file}: {what}: iscrowd = 1; skipped (as in the official training)"));
            continue;
        }
        let sample = &mut samples[s];
        let xyxy = [x as f32, y as f32, (x + w) as f32, (y + h) as f32];
        if let Some(b) = validate_box(xyxy, sample.width, sample.height, file, &what, &mut report) {
            sample.annotations.push(BoxAnnotation { class_id, bbox: b });
        }
    }
    samples.sort_by_key(|s| s.image_id);

    Ok(Dataset {
        class_names: cats.iter().map(|(_, n)| n.clone()).collect(),
        category_ids: cats.iter().map(|(id, _)| *id).collect(),
        samples,
        report,
    })
}

/// Writes a dataset as COCO detection JSON (pretty-printed): `images` (id = `image_id`), `annotations` (ids from
/// 1, `bbox` `[x, y, w, h]`, `area` = `w * h`, `iscrowd` 0) and `categories` (`category_ids` when they match
/// the classes, else `0..num_classes`). [`parse_coco`] reads it back to the same samples.
pub fn to_coco_json(dataset: &Dataset) -> String {
    let cat_ids: Vec<i64> = if dataset.category_ids.len() == dataset.class_names.len() {
        dataset.category_ids.clone()
    } else {
        (0..dataset.class_names.len() as i64).collect()
    };
    let images: Vec<Value> = dataset
        .samples
        .iter()
        .map(|s| serde_json::json!({"id": s.image_id, "file_name": s.image, "width": s.width, "height": s.height}))
        .collect();
    let mut annotations = Vec::new();
    for s in &dataset.samples {
        for a in &s.annotations {
            let [x0, y0, x1, y1] = a.bbox.map(f64::from);
            let (w, h) = (x1 - x0, y1 - y0);
            annotations.push(serde_json::json!({
                "id": annotations.len() + 1,
                "image_id": s.image_id,
                "category_id": cat_ids.get(a.class_id).copied().unwrap_or(a.class_id as i64),
                "bbox": [x0, y0, w, h],
                "area": w * h,
                "iscrowd": 0,
            }));
        }
    }
    let categories: Vec<Value> = dataset
        .class_names
        .iter()
        .zip(&cat_ids)
        .map(|(name, id)| serde_json::json!({"id": id, "name": name, "supercategory": "object"}))
        .collect();
    let doc = serde_json::json!({"images": images, "annotations": annotations, "categories": categories});
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
