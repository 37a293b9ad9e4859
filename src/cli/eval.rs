//! `cdetr eval`: COCO box AP of a model on a labeled dataset (the pycocotools protocol).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{Tensor, TensorData};
use cdetr::data::DataFormat;
use cdetr::draw::{Annotation, draw_annotations};
use cdetr::eval::{
    ClassMetrics, CocoMetrics, ConfusionMatrix, ConfusionOptions, Detection, GroundTruth, ImageErrors,
    confusion_matrix, evaluate_detailed,
};
use cdetr::model::ForwardOptions;
use cdetr::model::inference::InferenceModel;
use cdetr::model::mask::PixelMask;
use cdetr::plot::{self, Curve};
use cdetr::postprocess::{PostProcessOptions, post_process, read_predictions};
use cdetr::preprocess::{ResizeMode, preprocess};
use cdetr::train::{LabelPlan, plan_labels_with_ids};
use clap::Args;
use serde::Serialize;

use super::common::{cpu, load};
use super::train::load_data;

#[derive(Args)]
pub struct EvalArgs {
    /// Checkpoint to evaluate.
    #[arg(long)]
    weights: PathBuf,
    /// Model config.json (default: embedded in the checkpoint, else R50 COCO).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Dataset: a COCO JSON file or folder, a Pascal VOC root, or a YOLO folder.
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    format: Option<DataFormat>,
    /// Split to evaluate where the dataset has splits (e.g. `val`).
    #[arg(long)]
    split: Option<String>,
    /// Input size: `default`, `none` or `SHORT,LONG`.
    #[arg(long, default_value = "default")]
    resize: ResizeMode,
    /// Write the metrics as JSON here.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Print the full diagnostics as JSON on stdout: overall stats, per-class AP / AP50 / AP75 and
    /// IoU-0.5 precision-recall curve, the confusion matrix and the worst images.
    #[arg(long)]
    json: bool,
    /// Write `results.csv` (per class), `pr_curves.png`, `confusion_matrix.png` and the worst
    /// images annotated (`worst_N.png`: ground truth `GT name`, detections `name score`) here.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Score threshold of the confusion matrix and of the worst-image counts.
    #[arg(long, default_value_t = 0.25)]
    conf: f64,
    /// IoU threshold of the confusion matrix.
    #[arg(long, default_value_t = 0.5)]
    iou: f64,
}

/// One class in `eval --json`.
#[derive(Serialize)]
pub struct ClassReport {
    pub name: String,
    #[serde(flatten)]
    pub metrics: ClassMetrics,
}

/// One image of `worst_images` in `eval --json`.
#[derive(Serialize)]
pub struct ImageReport {
    pub index: usize,
    pub image: String,
    #[serde(flatten)]
    pub errors: ImageErrors,
}

/// What `eval --json` prints.
#[derive(Serialize)]
pub struct Report {
    pub stats: CocoMetrics,
    pub classes: Vec<ClassReport>,
    /// Row / column names of `confusion.counts`: the classes, then `background`.
    pub confusion_labels: Vec<String>,
    pub confusion: ConfusionMatrix,
    /// Images with errors at the confusion thresholds, most first.
    pub worst_images: Vec<ImageReport>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let data = load_data(&args.data, args.format, args.split.as_deref())?;
    let device = cpu();
    let loaded = load(&args.weights, args.config.as_ref(), &device)?;
    let labels = loaded.config.labels();
    let LabelPlan::Keep(class_to_label) = plan_labels_with_ids(&data.class_names, &data.category_ids, &labels) else {
        bail!(
            "{}: the model's classes ({} labels) do not include the dataset's {:?}",
            args.weights.display(),
            labels.len(),
            data.class_names
        );
    };
    let c = collect(
        &InferenceModel::new(loaded.model),
        &labels,
        &data.images,
        &data.eval,
        &class_to_label,
        args.resize,
        &device,
    )?;
    let detailed = evaluate_detailed(&c.image_ids, &c.categories, &c.gts, &c.dets)?;
    let metrics = detailed.summarize();
    if args.json {
        eprintln!(
            "AP {:.3}  AP50 {:.3}  AP75 {:.3}  APs {:.3}  APm {:.3}  APl {:.3}",
            metrics.ap, metrics.ap50, metrics.ap75, metrics.ap_small, metrics.ap_medium, metrics.ap_large
        );
    } else {
        print_metrics(&metrics);
    }
    if let Some(path) = &args.output {
        std::fs::write(path, serde_json::to_string_pretty(&metrics)? + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    if !(args.json || args.plots.is_some()) {
        return Ok(());
    }
    let options = ConfusionOptions { score_threshold: args.conf, iou_threshold: args.iou };
    let confusion = confusion_matrix(&c.image_ids, &c.categories, &c.gts, &c.dets, options)?;
    let name_of = |id: u64| labels.get(id as usize).cloned().unwrap_or_else(|| id.to_string());
    let report = Report {
        stats: metrics,
        classes: detailed
            .per_class()
            .into_iter()
            .map(|m| ClassReport { name: name_of(m.category_id), metrics: m })
            .collect(),
        confusion_labels: confusion.category_ids.iter().map(|&id| name_of(id)).chain(["background".into()]).collect(),
        worst_images: confusion
            .worst_images()
            .into_iter()
            .map(|e| ImageReport {
                index: e.image_id as usize,
                image: data.names[e.image_id as usize].clone(),
                errors: e,
            })
            .collect(),
        confusion,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if let Some(dir) = &args.plots {
        write_plots(dir, &report, &data.images, &c, &labels)?;
    }
    Ok(())
}

/// `results.csv`, `pr_curves.png`, `confusion_matrix.png` and `worst_N.png` (at most 3) in `dir`.
fn write_plots(
    dir: &Path,
    report: &Report,
    images: &[image::RgbImage],
    c: &Collected,
    labels: &[String],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
    let write = |name: &str, bytes: Vec<u8>| -> Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("{}: cannot write", path.display()))
    };
    let mut csv = String::from("class,category_id,instances,ap,ap50,ap75,recall50\n");
    for cl in &report.classes {
        let m = &cl.metrics;
        let name = if cl.name.contains([',', '"', '\n']) {
            format!("\"{}\"", cl.name.replace('"', "\"\""))
        } else {
            cl.name.clone()
        };
        csv += &format!("{name},{},{},{},{},{},{}\n", m.category_id, m.num_gt, m.ap, m.ap50, m.ap75, m.recall50);
    }
    write("results.csv", csv.into_bytes())?;
    let png = |img: &image::RgbImage| -> Result<Vec<u8>> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)?;
        Ok(out.into_inner())
    };
    let curves: Vec<Curve> = report
        .classes
        .iter()
        .map(|cl| Curve { name: &cl.name, precision: &cl.metrics.pr50, ap: cl.metrics.ap50 })
        .collect();
    write("pr_curves.png", png(&plot::pr_curves("precision-recall, IoU 0.5 (legend: AP50)", &curves))?)?;
    write("confusion_matrix.png", png(&plot::confusion_matrix(&report.confusion, &report.confusion_labels))?)?;
    let conf = report.confusion.options.score_threshold;
    for (rank, w) in report.worst_images.iter().take(3).enumerate() {
        let mut img = images[w.index].clone();
        let name = |id: u64| labels.get(id as usize).cloned().unwrap_or_else(|| id.to_string());
        let mut ann: Vec<Annotation> = c
            .gts
            .iter()
            .filter(|g| g.image_id == w.index as u64)
            .map(|g| Annotation {
                bbox: [g.bbox[0], g.bbox[1], g.bbox[0] + g.bbox[2], g.bbox[1] + g.bbox[3]].map(|v| v as f32),
                label: format!("GT {}", name(g.category_id)),
                class_index: g.category_id as usize,
                reference_point: None,
            })
            .collect();
        ann.extend(c.dets.iter().filter(|d| d.image_id == w.index as u64 && d.score >= conf).map(|d| Annotation {
            bbox: [d.bbox[0], d.bbox[1], d.bbox[0] + d.bbox[2], d.bbox[1] + d.bbox[3]].map(|v| v as f32),
            label: format!("{} {:.2}", name(d.category_id), d.score),
            class_index: d.category_id as usize,
            reference_point: None,
        }));
        draw_annotations(&mut img, &ann);
        write(&format!("worst_{}.png", rank + 1), png(&img)?)?;
    }
    Ok(())
}

/// Ground truth and detections of a dataset, as the evaluator takes them (image ids are indices).
pub struct Collected {
    pub image_ids: Vec<u64>,
    pub categories: Vec<u64>,
    pub gts: Vec<GroundTruth>,
    pub dets: Vec<Detection>,
}

/// Runs the model on every image (top 100 detections, no threshold) and gathers what the evaluator takes.
pub fn collect(
    model: &InferenceModel,
    labels: &[String],
    images: &[image::RgbImage],
    ground_truth: &[Vec<cdetr::data::EvalAnnotation>],
    class_to_label: &[usize],
    resize: ResizeMode,
    device: &burn::tensor::Device,
) -> Result<Collected> {
    let mut gts = Vec::new();
    let mut dets = Vec::new();
    for (i, (img, img_gt)) in images.iter().zip(ground_truth).enumerate() {
        let batch = preprocess(std::slice::from_ref(img), resize);
        let pixel_values =
            Tensor::<4>::from_data(TensorData::new(batch.pixel_values, [1, 3, batch.height, batch.width]), device);
        let mask = PixelMask { batch: 1, height: batch.height, width: batch.width, data: batch.pixel_mask };
        let out = model.forward(pixel_values, &mask, ForwardOptions::default());
        let raw = pollster::block_on(read_predictions(&out)).context("reading predictions")?;
        let found = post_process(
            &raw,
            &[(img.height() as usize, img.width() as usize)],
            labels,
            PostProcessOptions { threshold: 0.0, top_k: 100 },
        );
        for g in img_gt {
            gts.push(GroundTruth {
                image_id: i as u64,
                category_id: class_to_label[g.class_id] as u64,
                bbox: g.bbox_xywh,
                area: g.area,
                iscrowd: g.iscrowd,
            });
        }
        for d in found.into_iter().flatten() {
            let [x0, y0, x1, y1] = d.bbox.map(f64::from);
            dets.push(Detection {
                image_id: i as u64,
                category_id: d.label as u64,
                bbox: [x0, y0, x1 - x0, y1 - y0],
                score: d.score as f64,
            });
        }
    }
    let image_ids: Vec<u64> = (0..images.len() as u64).collect();
    let mut categories: Vec<u64> = class_to_label.iter().map(|&c| c as u64).collect();
    categories.sort_unstable();
    categories.dedup();
    Ok(Collected { image_ids, categories, gts, dets })
}

pub fn print_metrics(m: &CocoMetrics) {
    println!(
        "AP {:.3}  AP50 {:.3}  AP75 {:.3}  APs {:.3}  APm {:.3}  APl {:.3}",
        m.ap, m.ap50, m.ap75, m.ap_small, m.ap_medium, m.ap_large
    );
}
