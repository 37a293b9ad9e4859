//! `cdetr eval`: COCO box AP of a model on a labeled dataset (the pycocotools protocol).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cdetr::data::DataFormat;
use cdetr::data::label_plan::{LabelPlan, plan_labels_with_ids};
use cdetr::draw::{Annotation, draw_annotations};
use cdetr::eval::{CocoMetrics, ConfusionMatrix, ConfusionOptions, GroundTruth, ImageErrors};
use cdetr::evaluate::{ClassReport, EvalSet, ModelEvaluation, class_reports, confusion_labels, evaluate_model};
use cdetr::model::inference::InferenceModel;
use cdetr::plot::{self, Curve};
use cdetr::preprocess::ResizeMode;
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
    let detailed = c.metrics()?;
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
    let confusion = c.confusion(options)?;
    let report = Report {
        stats: metrics,
        classes: class_reports(&detailed, &labels),
        confusion_labels: confusion_labels(&confusion, &labels),
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
    c: &ModelEvaluation,
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

/// Runs the model on every image (top 100 detections, no threshold) and gathers what the evaluator takes;
/// dataset classes become model labels through `class_to_label`.
pub fn collect(
    model: &InferenceModel,
    labels: &[String],
    images: &[image::RgbImage],
    ground_truth: &[Vec<cdetr::data::EvalAnnotation>],
    class_to_label: &[usize],
    resize: ResizeMode,
    device: &burn::tensor::Device,
) -> Result<ModelEvaluation> {
    let ground_truth = ground_truth
        .iter()
        .enumerate()
        .flat_map(|(i, anns)| {
            anns.iter().map(move |g| GroundTruth {
                image_id: i as u64,
                category_id: class_to_label[g.class_id] as u64,
                bbox: g.bbox_xywh,
                area: g.area,
                iscrowd: g.iscrowd,
            })
        })
        .collect();
    let set = EvalSet { images, ground_truth, categories: class_to_label.iter().map(|&c| c as u64).collect() };
    Ok(pollster::block_on(evaluate_model(model, set, labels, resize, device))?)
}

pub fn print_metrics(m: &CocoMetrics) {
    println!(
        "AP {:.3}  AP50 {:.3}  AP75 {:.3}  APs {:.3}  APm {:.3}  APl {:.3}",
        m.ap, m.ap50, m.ap75, m.ap_small, m.ap_medium, m.ap_large
    );
}
