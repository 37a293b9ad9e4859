//! `cdetr detect`: run the detector on image files.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cdetr::model::ForwardOptions;
use cdetr::model::inference::InferenceModel;
use cdetr::model::nested_tensor::NestedTensor;
use cdetr::postprocess::{Detection, PostProcessOptions, post_process, read_predictions};
use cdetr::preprocess::{ResizeMode, preprocess};
use clap::Args;
use serde::Serialize;

use super::common::{cpu, load, read_image};

#[derive(Args)]
pub struct DetectArgs {
    /// Images to run on (PNG or JPEG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Checkpoint: HF model.safetensors, official .pth / .safetensors, or a Burnpack.
    #[arg(long)]
    weights: PathBuf,
    /// The model's config.json (default: embedded in the checkpoint, else R50 COCO).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Keep detections scoring strictly above this.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// (query, class) pairs considered per image (DETR: detections kept per image).
    #[arg(long, default_value_t = 100)]
    top_k: usize,
    /// Input size: `default` (shortest edge 800, longest 1333), `none` (as is) or `SHORT,LONG`.
    #[arg(long, default_value = "default")]
    resize: ResizeMode,
    /// Run all images as one padded batch (as the reference image processor pads a batch).
    #[arg(long)]
    batch: bool,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Write annotated PNGs (boxes, labels, scores, reference points when the model has them) into this folder.
    #[arg(long)]
    draw: Option<PathBuf>,
}

/// The JSON record of one image.
#[derive(Serialize)]
pub struct ImageResult {
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub detections: Vec<Detection>,
}

pub fn run(args: DetectArgs) -> Result<()> {
    if args.threshold.is_nan() {
        bail!("--threshold must be a number (a score between 0 and 1)");
    }
    let images = args.images.iter().map(|p| read_image(p)).collect::<Result<Vec<_>>>()?;
    let device = cpu();
    let loaded = load(&args.weights, args.config.as_ref(), &device)?;
    let labels = loaded.config.labels();
    let model = InferenceModel::new(loaded.model.clone());
    let options = PostProcessOptions { threshold: args.threshold, top_k: args.top_k };
    let groups: Vec<Vec<usize>> =
        if args.batch { vec![(0..images.len()).collect()] } else { (0..images.len()).map(|i| vec![i]).collect() };
    let mut results = Vec::with_capacity(images.len());
    for group in groups {
        let batch_images: Vec<image::RgbImage> = group.iter().map(|&i| images[i].clone()).collect();
        let batch = preprocess(&batch_images, args.resize);
        let input = NestedTensor::from_batch(&batch, &device);
        let output = model.forward(input.tensors, &input.mask, ForwardOptions::default());
        let raw = pollster::block_on(read_predictions(&output)).context("reading the predictions back")?;
        let sizes: Vec<(usize, usize)> =
            batch_images.iter().map(|im| (im.height() as usize, im.width() as usize)).collect();
        for (k, dets) in post_process(&raw, &sizes, &labels, options).into_iter().enumerate() {
            let i = group[k];
            results.push(ImageResult {
                image: args.images[i].display().to_string(),
                width: images[i].width(),
                height: images[i].height(),
                detections: dets,
            });
        }
    }
    if let Some(dir) = &args.draw {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
        for (result, (img, path)) in results.iter().zip(images.iter().zip(&args.images)) {
            let mut canvas = img.clone();
            cdetr::draw::draw_annotations(&mut canvas, &annotations(&result.detections));
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
            let out = dir.join(format!("{stem}.detections.png"));
            canvas.save(&out).with_context(|| format!("{}: cannot write", out.display()))?;
        }
    }
    let json = serde_json::to_string_pretty(&results)?;
    match &args.output {
        Some(path) => std::fs::write(path, json + "\n").with_context(|| format!("{}: cannot write", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}

fn annotations(dets: &[Detection]) -> Vec<cdetr::draw::Annotation> {
    dets.iter()
        .map(|d| cdetr::draw::Annotation {
            bbox: d.bbox,
            label: format!("{} {:.2}", d.label_name, d.score),
            class_index: d.label,
            reference_point: d.reference_point,
        })
        .collect()
}
