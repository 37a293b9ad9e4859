//! `cdetr eval`: COCO box AP of a model on a labeled dataset (the pycocotools protocol).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::{Tensor, TensorData};
use cdetr::data::DataFormat;
use cdetr::eval::{CocoMetrics, Detection, GroundTruth, evaluate};
use cdetr::model::ForwardOptions;
use cdetr::model::inference::InferenceModel;
use cdetr::model::mask::PixelMask;
use cdetr::postprocess::{PostProcessOptions, post_process, read_predictions};
use cdetr::preprocess::{ResizeMode, preprocess};
use cdetr::train::{LabelPlan, plan_labels_with_ids};
use clap::Args;

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
    let metrics = coco_metrics(
        &InferenceModel::new(loaded.model),
        &labels,
        &data.images,
        &data.eval,
        &class_to_label,
        args.resize,
        &device,
    )?;
    print_metrics(&metrics);
    if let Some(path) = &args.output {
        std::fs::write(path, serde_json::to_string_pretty(&metrics)? + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// Runs the model on every image (top 100 detections, no threshold) and scores them like pycocotools.
pub fn coco_metrics(
    model: &InferenceModel,
    labels: &[String],
    images: &[image::RgbImage],
    ground_truth: &[Vec<cdetr::data::EvalAnnotation>],
    class_to_label: &[usize],
    resize: ResizeMode,
    device: &burn::tensor::Device,
) -> Result<CocoMetrics> {
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
    Ok(evaluate(&image_ids, &categories, &gts, &dets)?)
}

pub fn print_metrics(m: &CocoMetrics) {
    println!(
        "AP {:.3}  AP50 {:.3}  AP75 {:.3}  APs {:.3}  APm {:.3}  APl {:.3}",
        m.ap, m.ap50, m.ap75, m.ap_small, m.ap_medium, m.ap_large
    );
}
