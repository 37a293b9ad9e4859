//! Labeled detection datasets for fine-tuning: the common types, box validation and batching.
//!
//! Follows the official DETR / Conditional DETR training data semantics (`datasets/coco.py`,
//! `datasets/transforms.py` of facebookresearch/detr and Atten4Vis/ConditionalDETR):
//! boxes are `(x0, y0, x1, y1)` in pixels, clipped to the image, boxes without area are removed, crowd boxes are
//! skipped, and the model targets are `(cx, cy, w, h)` normalised by the size of the (augmented, unpadded)
//! image.
//!
//! Sub-modules: [`coco`] (COCO JSON), [`voc`] (Pascal VOC XML), [`yolo`] (YOLO txt + class lists),
//! [`augment`] (the DETR training augmentation and a seeded PRNG), [`synth`] (a synthetic shapes dataset) and,
//! natively only, `native` (reading dataset folders and images from disk). Everything except `native` is
//! platform-free and compiles to `wasm32-unknown-unknown`: parsers take file contents plus a file name used in
//! messages, so the browser can feed them uploaded files.

pub mod augment;
pub mod coco;
pub mod label_plan;
#[cfg(not(target_family = "wasm"))]
pub mod native;
pub mod synth;
pub mod training_set;
pub mod upload;
pub mod voc;
pub mod yolo;

use std::fmt;
use std::str::FromStr;

use image::RgbImage;

use crate::preprocess::{Batch, pad_batch};

pub use augment::{Rng, TrainAugment, resize_for_eval};
pub use coco::{parse_coco, parse_coco_with_dims, to_coco_json};
#[cfg(not(target_family = "wasm"))]
pub use native::{load_dataset, load_dataset_split, load_image};
pub use synth::{SYNTH_CLASSES, synth_dataset, synth_sample};
pub use voc::{VocFile, VocObject, parse_voc, parse_voc_with_dims, voc_dataset};
pub use yolo::{parse_class_names, parse_yolo, parse_yolo_with_report, to_yolo_txt};

/// One ground-truth box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxAnnotation {
    /// Index into [`Dataset::class_names`].
    pub class_id: usize,
    /// `(x0, y0, x1, y1)` in pixels of the image.
    pub bbox: [f32; 4],
}

/// A ground-truth annotation as COCO's evaluator (pycocotools `COCOeval`) sees it: the box as written (not
/// clipped, zero-area boxes included), the annotation's `area` (the segmentation area in COCO itself) and
/// its crowd flag (crowd regions are matched but never count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalAnnotation {
    /// Index into [`Dataset::class_names`].
    pub class_id: usize,
    /// `[x, y, w, h]` in pixels.
    pub bbox_xywh: [f64; 4],
    pub area: f64,
    pub iscrowd: bool,
}

/// One image of a dataset and its (validated) boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleMeta {
    /// File name or path as given by the annotation, relative to the image folder.
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub annotations: Vec<BoxAnnotation>,
    /// COCO image id (for evaluation output); the sample index for VOC, YOLO and synthetic datasets.
    pub image_id: i64,
    /// COCO files only: every annotation of the image as the COCO evaluator reads it (crowd ones too), so
    /// that `cdetr eval` equals pycocotools on the file itself. `None`: evaluate against `annotations`.
    pub eval_annotations: Option<Vec<EvalAnnotation>>,
}

impl SampleMeta {
    /// The ground truth a COCO evaluator scores against: the file's own annotations where the format keeps
    /// them ([`SampleMeta::eval_annotations`]), otherwise the validated boxes (`area` = box area, no crowd).
    pub fn evaluation_annotations(&self) -> Vec<EvalAnnotation> {
        if let Some(eval) = &self.eval_annotations {
            return eval.clone();
        }
        self.annotations
            .iter()
            .map(|a| {
                let [x0, y0, x1, y1] = a.bbox.map(f64::from);
                let (w, h) = (x1 - x0, y1 - y0);
                EvalAnnotation { class_id: a.class_id, bbox_xywh: [x0, y0, w, h], area: w * h, iscrowd: false }
            })
            .collect()
    }
}

/// A labeled dataset: class names, samples and what validation changed or dropped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    /// Class names; the index is the `class_id` of the boxes.
    pub class_names: Vec<String>,
    /// COCO `category_id` of each class (same order as `class_names`), for evaluation output. For VOC, YOLO and
    /// synthetic datasets these are `0..num_classes`.
    pub category_ids: Vec<i64>,
    pub samples: Vec<SampleMeta>,
    pub report: ValidationReport,
}

impl Dataset {
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Total number of (kept) boxes.
    pub fn num_boxes(&self) -> usize {
        self.samples.iter().map(|s| s.annotations.len()).sum()
    }

    /// Number of kept boxes per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for a in self.samples.iter().flat_map(|s| &s.annotations) {
            if let Some(c) = counts.get_mut(a.class_id) {
                *c += 1;
            }
        }
        counts
    }

    /// One-line summary, e.g. `292 images, 4836 boxes, 3 classes (RBC 4155, ...); 2 boxes dropped (zero area)`.
    pub fn summary(&self) -> String {
        let counts = self.class_counts();
        let per_class: Vec<String> = self.class_names.iter().zip(&counts).map(|(n, c)| format!("{n} {c}")).collect();
        format!(
            "{} images, {} boxes, {} classes ({}); {}",
            self.samples.len(),
            self.num_boxes(),
            self.class_names.len(),
            per_class.join(", "),
            self.report.summary()
        )
    }
}

/// What box validation changed or dropped while loading a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationReport {
    /// Boxes clipped to the image (kept).
    pub clipped: usize,
    /// Boxes without area (after clipping), dropped.
    pub dropped_zero_area: usize,
    /// Boxes entirely outside the image, dropped.
    pub dropped_outside: usize,
    /// Boxes whose class is unknown (not in the category list / class list), dropped.
    pub dropped_unknown_class: usize,
    /// Boxes with a NaN or infinite coordinate, dropped.
    pub dropped_invalid: usize,
    /// COCO annotations whose `image_id` is not in `images`, dropped.
    pub dropped_unknown_image: usize,
    /// COCO `iscrowd = 1` annotations, skipped like the official training does.
    pub skipped_crowd: usize,
    /// One human-readable line per problem, naming the file and the box.
    pub messages: Vec<String>,
}

impl ValidationReport {
    /// Number of dropped or skipped boxes.
    pub fn dropped(&self) -> usize {
        self.dropped_zero_area
            + self.dropped_outside
            + self.dropped_unknown_class
            + self.dropped_invalid
            + self.dropped_unknown_image
            + self.skipped_crowd
    }

    /// True when nothing was clipped, dropped or skipped.
    pub fn is_clean(&self) -> bool {
        self.clipped == 0 && self.dropped() == 0 && self.messages.is_empty()
    }

    /// Adds the counts and messages of `other`.
    pub fn merge(&mut self, other: ValidationReport) {
        self.clipped += other.clipped;
        self.dropped_zero_area += other.dropped_zero_area;
        self.dropped_outside += other.dropped_outside;
        self.dropped_unknown_class += other.dropped_unknown_class;
        self.dropped_invalid += other.dropped_invalid;
        self.dropped_unknown_image += other.dropped_unknown_image;
        self.skipped_crowd += other.skipped_crowd;
        self.messages.extend(other.messages);
    }

    /// Counts in one line, e.g. `3 clipped, 2 dropped (zero area 2)`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("zero area", self.dropped_zero_area),
            ("outside the image", self.dropped_outside),
            ("unknown class", self.dropped_unknown_class),
            ("NaN/inf", self.dropped_invalid),
            ("unknown image", self.dropped_unknown_image),
            ("crowd", self.skipped_crowd),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
        if parts.is_empty() {
            format!("{} clipped, none dropped", self.clipped)
        } else {
            format!("{} clipped, {} dropped ({})", self.clipped, self.dropped(), parts.join(", "))
        }
    }
}

/// Annotation formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    Coco,
    Voc,
    Yolo,
}

impl FromStr for DataFormat {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "coco" => Ok(DataFormat::Coco),
            "voc" | "pascal_voc" | "pascal-voc" => Ok(DataFormat::Voc),
            "yolo" => Ok(DataFormat::Yolo),
            _ => Err(DataError::UnknownFormat(s.to_string())),
        }
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataFormat::Coco => "coco",
            DataFormat::Voc => "voc",
            DataFormat::Yolo => "yolo",
        })
    }
}

/// Errors while reading a dataset. Every variant names the file and where in it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// JSON or XML that does not parse.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    /// A field that is missing or has the wrong type/value; `field` is a JSON path such as
    /// `annotations[3].bbox` or an XML location such as `line 14: object[2]/bndbox/xmin`.
    #[error("{file}: {field}: {message}")]
    Field { file: String, field: String, message: String },
    /// A bad line of a text file (YOLO labels, class lists, ImageSets).
    #[error("{file}: line {line}: {message}")]
    Line { file: String, line: usize, message: String },
    /// A file or folder that cannot be read.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// An image that cannot be opened or decoded.
    #[error("{path}: cannot read image: {message}")]
    Image { path: String, message: String },
    /// A dataset folder whose layout is not recognised.
    #[error("{path}: {message}")]
    Layout { path: String, message: String },
    /// A format name other than coco, voc, yolo.
    #[error("unknown dataset format {0:?}: expected coco, voc or yolo")]
    UnknownFormat(String),
}

/// Bounds an image file must keep before its pixels are decoded: the size its header declares is checked
/// first, so a small file claiming a huge picture is refused at once instead of being decoded to filler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// The most pixels (width × height) read from one file.
    pub max_pixels: u64,
}

impl ImageLimits {
    /// The CLI's limit: 100 megapixels (a 12 000 × 8 000 photo), 300 MB as RGB, beyond any camera a user
    /// fine-tunes on and far above the 1333 pixels the model sees.
    pub const DEFAULT: ImageLimits = ImageLimits { max_pixels: 100_000_000 };
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Decodes an image file's bytes (PNG or JPEG, detected from the content) to RGB, alpha dropped and grey
/// expanded; `source` names the file in errors. This is the one decoder of the CLI (`detect`, `train`, `eval`),
/// with [`ImageLimits::DEFAULT`].
pub fn decode_image(bytes: &[u8], source: &str) -> Result<RgbImage, DataError> {
    decode_image_within(bytes, source, ImageLimits::DEFAULT)
}

/// [`decode_image`] with other limits (the fuzz target uses smaller ones, so that its time goes to the
/// decoders' logic rather than to filling large declared sizes).
pub fn decode_image_within(bytes: &[u8], source: &str, limits: ImageLimits) -> Result<RgbImage, DataError> {
    let err = |message: String| DataError::Image { path: source.to_string(), message };
    let reader =
        || image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| err(e.to_string()));
    let (width, height) = reader()?.into_dimensions().map_err(|e| err(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(err("the image is empty".into()));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(err(format!(
            "the file declares {width}×{height} pixels ({:.1} megapixels), above the limit of {:.1} megapixels",
            pixels as f64 / 1e6,
            limits.max_pixels as f64 / 1e6
        )));
    }
    let img = reader()?.decode().map_err(|e| err(e.to_string()))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(err("the image is empty".into()));
    }
    Ok(img.to_rgb8())
}

/// Validates one box of an image of `width x height` (shared by all formats).
///
/// * a NaN or infinite coordinate: dropped (`dropped_invalid`);
/// * `x1 <= x0` or `y1 <= y0` as given: dropped (`dropped_zero_area`);
/// * clipped to `[0, width] x [0, height]` like the official `ConvertCocoPolysToMask`; counted as `clipped` if
///   that changed it, or dropped as `dropped_outside` if nothing of it is left inside the image.
///
/// `file` and `what` (e.g. `object[3] 'RBC'`, `annotations[7]`, `line 5`) name the box in the message line
/// added to `report` for every problem. Returns the box to keep, if any.
pub fn validate_box(
    bbox: [f32; 4],
    width: u32,
    height: u32,
    file: &str,
    what: &str,
    report: &mut ValidationReport,
) -> Option<[f32; 4]> {
    let [x0, y0, x1, y1] = bbox;
    let shown = format!("[{x0}, {y0}, {x1}, {y1}]");
    if !bbox.iter().all(|v| v.is_finite()) {
        report.dropped_invalid += 1;
        report.messages.push(format!("{file}: {what}: box {shown} has a NaN or infinite coordinate; dropped"));
        return None;
    }
    if x1 <= x0 || y1 <= y0 {
        report.dropped_zero_area += 1;
        report.messages.push(format!("{file}: {what}: box {shown} has zero or negative area; dropped"));
        return None;
    }
    let (w, h) = (width as f32, height as f32);
    let clipped = [x0.clamp(0.0, w), y0.clamp(0.0, h), x1.clamp(0.0, w), y1.clamp(0.0, h)];
    if clipped[2] <= clipped[0] || clipped[3] <= clipped[1] {
        report.dropped_outside += 1;
        report.messages.push(format!("{file}: {what}: box {shown} lies outside the {width}x{height} image; dropped"));
        return None;
    }
    if clipped != bbox {
        report.clipped += 1;
        let [a, b, c, d] = clipped;
        report.messages.push(format!(
            "{file}: {what}: box {shown} extends outside the {width}x{height} image; clipped to [{a}, {b}, {c}, {d}]"
        ));
    }
    Some(clipped)
}

/// Targets of one image for the set-prediction loss.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetBoxes {
    /// Class index of each box.
    pub labels: Vec<usize>,
    /// `(cx, cy, w, h)` normalised by the unpadded (augmented) image size, like the official `Normalize`.
    pub boxes_cxcywh: Vec<[f32; 4]>,
}

impl TargetBoxes {
    /// Converts pixel `(x0, y0, x1, y1)` boxes of an image of `width x height` to normalised `cxcywh`.
    pub fn from_annotations(boxes: &[BoxAnnotation], width: u32, height: u32) -> TargetBoxes {
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        TargetBoxes {
            labels: boxes.iter().map(|b| b.class_id).collect(),
            boxes_cxcywh: boxes
                .iter()
                .map(|b| {
                    let [x0, y0, x1, y1] = b.bbox;
                    [(x0 + x1) / 2.0 / w, (y0 + y1) / 2.0 / h, (x1 - x0) / w, (y1 - y0) / h]
                })
                .collect(),
        }
    }
}

/// Batches already augmented/resized images: normalise + zero-pad + mask (see [`crate::preprocess::pad_batch`])
/// and converts each image's boxes to normalised `cxcywh` targets (by that image's own size, before padding).
/// A missing box list (fewer lists than images) means no boxes.
pub fn collate(images: Vec<RgbImage>, boxes: Vec<Vec<BoxAnnotation>>) -> (Batch, Vec<TargetBoxes>) {
    let targets = images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let b = boxes.get(i).map(Vec::as_slice).unwrap_or(&[]);
            TargetBoxes::from_annotations(b, img.width(), img.height())
        })
        .collect();
    (pad_batch(&images), targets)
}
