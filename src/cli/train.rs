//! `cdetr train`: fine-tune (or train from scratch) on a COCO / VOC / YOLO dataset, with the official
//! recipe; one `metrics.jsonl` line per step, one `results.csv` row per epoch (mean losses, learning
//! rates, and the validation AP with `--val`) drawn in `results.png`, a resumable checkpoint every epoch
//! and an HF-compatible `model.safetensors` + `config.json` at the end.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use cdetr::ConditionalDetrConfig;
use cdetr::data::label_plan::{LabelPlan, plan_labels_with_ids, remap_boxes, unknown_classes};
use cdetr::data::training_set::{TrainingSet, TrainingSetConfig};
use cdetr::data::{DataFormat, Rng, TrainAugment, load_dataset_split, load_image};
use cdetr::feature_cache::{FeatureCache, FeatureCacheConfig};
use cdetr::model::ConditionalDetr;
use cdetr::model::inference::InferenceModel;
use cdetr::preprocess::ResizeMode;
use cdetr::results::{EpochAccumulator, EpochResult, EpochValidation, parse_csv, to_csv};
use cdetr::train::{Batches, TrainOptions, Trainer, TrainingSnapshot};
use cdetr::weights::{backbone_config, collect_hf_tensors, load_model, read_checkpoint_file, write_safetensors};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::common::{cpu, resolve_config};

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Augment {
    /// The official DETR recipe (flip, multi-scale resize, random crop), scaled by --max-size.
    Default,
    /// Only resize (--resize).
    None,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Dataset: a COCO JSON file or folder, a Pascal VOC root, or a YOLO folder.
    #[arg(long)]
    data: PathBuf,
    /// Dataset format (default: detected).
    #[arg(long)]
    format: Option<DataFormat>,
    /// Split to train on where the dataset has splits (VOC ImageSets/Main/<split>.txt).
    #[arg(long)]
    split: Option<String>,
    /// Validation dataset (same formats as --data): COCO AP after every epoch in `results.csv`, at the
    /// --resize input size, as `cdetr eval` computes it.
    #[arg(long)]
    val: Option<PathBuf>,
    /// Split of --val where it has splits (e.g. `val`).
    #[arg(long)]
    val_split: Option<String>,
    /// Starting checkpoint, or `none` to train from scratch.
    #[arg(long, default_value = "none")]
    weights: String,
    /// Model config.json (default: embedded in the checkpoint, else R50 COCO).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 2)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 1e-5)]
    lr_backbone: f64,
    /// Drop the learning rates ×0.1 every this many epochs (default: at 4/5 of the run, as 40 of 50).
    #[arg(long)]
    lr_drop: Option<usize>,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f32,
    /// Global gradient-norm clipping (0 disables).
    #[arg(long, default_value_t = 0.1)]
    clip_max_norm: f32,
    /// Freeze the whole backbone (default: only the stem and layer1, as the official recipe; nothing when
    /// training from scratch).
    #[arg(long)]
    freeze_backbone: bool,
    /// Fast mode (implies --freeze-backbone): compute each image's backbone features once, for its flip and
    /// --cache-scales sizes, and train only the input projection, transformer and heads. Keeps the flip and
    /// those sizes of the augmentation; drops the random crop.
    #[arg(long)]
    cache_features: bool,
    /// Sizes per image in the fast mode (shortest edges spread over the training scales, the largest first).
    #[arg(long, default_value_t = 1)]
    cache_scales: usize,
    /// Longest image side of the augmentation (the official 1333 scaled down, e.g. 512 on a CPU).
    #[arg(long, default_value_t = 1333)]
    max_size: u32,
    /// Resize without augmentation: `default`, `none` or `SHORT,LONG`.
    #[arg(long, default_value = "default")]
    resize: ResizeMode,
    #[arg(long, value_enum, default_value = "default")]
    augment: Augment,
    /// Dropout of the transformer (attention, residual and feed-forward).
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    /// Keep the dataset order.
    #[arg(long)]
    no_shuffle: bool,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Continue the run saved in --output.
    #[arg(long)]
    resume: bool,
    /// Output folder.
    #[arg(long)]
    output: PathBuf,
}

/// Dataset images and boxes in memory, with the model's class indices.
pub struct LoadedData {
    pub class_names: Vec<String>,
    /// The dataset's category id of each class (COCO `category_id`; `0..n` for VOC and YOLO).
    pub category_ids: Vec<i64>,
    pub images: Vec<image::RgbImage>,
    pub boxes: Vec<Vec<cdetr::data::BoxAnnotation>>,
    /// Ground truth as the COCO evaluator reads it (the file's own boxes, areas and crowd regions for COCO
    /// JSON; the validated boxes otherwise).
    pub eval: Vec<Vec<cdetr::data::EvalAnnotation>>,
    /// Each image's path as the dataset names it.
    pub names: Vec<String>,
}

pub fn load_data(path: &Path, format: Option<DataFormat>, split: Option<&str>) -> Result<LoadedData> {
    let (dataset, root) = load_dataset_split(path, format, split)?;
    if dataset.samples.is_empty() {
        bail!("{}: the dataset has no images", path.display());
    }
    if dataset.class_names.is_empty() {
        bail!("{}: the dataset has no classes (no categories or labeled objects)", path.display());
    }
    eprintln!("{}: {}", path.display(), dataset.summary());
    for message in dataset.report.messages.iter().take(5) {
        eprintln!("  {message}");
    }
    if dataset.report.messages.len() > 5 {
        eprintln!("  … {} more", dataset.report.messages.len() - 5);
    }
    let mut images = Vec::with_capacity(dataset.samples.len());
    let mut boxes = Vec::with_capacity(dataset.samples.len());
    let mut eval = Vec::with_capacity(dataset.samples.len());
    let mut size_mismatches = Vec::new();
    for s in &dataset.samples {
        let image = load_image(&root.join(&s.image))?;
        if image.dimensions() != (s.width, s.height) {
            size_mismatches.push(format!(
                "{}: the annotations say {}×{}, the image is {}×{}",
                s.image,
                s.width,
                s.height,
                image.width(),
                image.height()
            ));
        }
        images.push(image);
        boxes.push(s.annotations.clone());
        eval.push(s.evaluation_annotations());
    }
    if !size_mismatches.is_empty() {
        // As the official loader, the decoded image's size is the one that counts (boxes are normalised by it).
        eprintln!(
            "warning: {} image(s) differ in size from their annotations (boxes were clipped to the annotated size):",
            size_mismatches.len()
        );
        for m in size_mismatches.iter().take(5) {
            eprintln!("  {m}");
        }
    }
    let names = dataset.samples.iter().map(|s| s.image.clone()).collect();
    Ok(LoadedData { class_names: dataset.class_names, category_ids: dataset.category_ids, images, boxes, eval, names })
}

pub fn run(args: TrainArgs) -> Result<()> {
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create folder", args.output.display()))?;
    let data = load_data(&args.data, args.format, args.split.as_deref())?;
    let options = TrainOptions {
        lr: args.lr,
        lr_backbone: args.lr_backbone,
        weight_decay: args.weight_decay,
        clip_max_norm: args.clip_max_norm,
        lr_drop: args.lr_drop.unwrap_or((args.epochs * 4 / 5).max(1)),
        freeze_backbone: args.freeze_backbone || args.cache_features,
        // The official recipe freezes a pretrained stem and layer1; random ones are trained.
        freeze_stem: args.weights != "none",
        dropout: args.dropout,
        ..TrainOptions::default()
    };

    // Model: from the checkpoint (keeping the class head when the dataset's classes are among its
    // labels) or fresh from the config.
    let device = cpu();
    let (model, mut config, label_map) = initial_model(&args, &data.class_names, &data.category_ids, &device)?;
    let options = options.with_config_weights(&config);
    let model = model.with_dropout(options.dropout_rates()).train();
    let mut trainer = Trainer::new(model, options);
    let checkpoint_dir = args.output.join("checkpoint");
    if args.resume {
        let snapshot = TrainingSnapshot {
            model: std::fs::read(checkpoint_dir.join("model.bpk"))
                .with_context(|| format!("{}: nothing to resume", checkpoint_dir.display()))?,
            optimizer: std::fs::read(checkpoint_dir.join("optimizer.bpk"))
                .with_context(|| format!("{}: nothing to resume", checkpoint_dir.display()))?,
        };
        trainer.restore(&snapshot)?;
        eprintln!("resuming at epoch {} (step {})", trainer.epoch, trainer.step);
    }
    if label_map.is_none() {
        config.set_labels(&data.class_names);
    }
    // Validation images with their classes mapped onto the model's labels (checked before any training).
    let labels = config.labels();
    let val = match &args.val {
        Some(path) => Some(validation_set(path, args.format, args.val_split.as_deref(), &labels)?),
        None => None,
    };
    let boxes = match &label_map {
        Some(map) => data.boxes.iter().map(|b| remap_boxes(b, map)).collect(),
        None => data.boxes.clone(),
    };
    // One generator for the run, resumed or not: every epoch and sample draws from a fork addressed by its
    // position (`TrainingSet`), so the resumed epochs see the uninterrupted run's batches.
    let rng = Rng::new(args.seed);
    let mut batches = if args.cache_features {
        let config = match args.augment {
            Augment::Default => FeatureCacheConfig {
                shuffle: !args.no_shuffle,
                ..FeatureCacheConfig::for_max_size(args.max_size, args.cache_scales, args.batch_size)
            },
            Augment::None => FeatureCacheConfig {
                flip: false,
                resizes: vec![args.resize],
                batch_size: args.batch_size,
                shuffle: !args.no_shuffle,
            },
        };
        eprintln!("fast mode: {}", config.describe());
        let started = std::time::Instant::now();
        let backbone = InferenceModel::new(trainer.inference_model());
        let cache = pollster::block_on(FeatureCache::build(&backbone, &data.images, &boxes, config, rng, &cpu()))?;
        eprintln!(
            "cached the features of {} images in {:.1} s ({} MB)",
            cache.len(),
            started.elapsed().as_secs_f64(),
            cache.bytes() >> 20
        );
        Batches::Features(cache)
    } else {
        let augment = (args.augment == Augment::Default).then(|| TrainAugment::new(args.max_size));
        let config =
            TrainingSetConfig { batch_size: args.batch_size, augment, resize: args.resize, shuffle: !args.no_shuffle };
        Batches::Images(TrainingSet::new(data.images, boxes, config, rng))
    };

    let metrics_path = args.output.join("metrics.jsonl");
    if args.resume && metrics_path.exists() {
        // Steps after the checkpoint (a run stopped mid-epoch) are redone: drop their lines first.
        let text = std::fs::read_to_string(&metrics_path)
            .with_context(|| format!("{}: cannot read", metrics_path.display()))?;
        let kept: String = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["step"].as_u64())
                    .is_some_and(|step| (step as usize) < trainer.step)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        write_atomically(&metrics_path, kept.as_bytes())?;
    }
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(args.resume)
        .write(true)
        .truncate(!args.resume)
        .open(&metrics_path)
        .with_context(|| format!("{}: cannot write", metrics_path.display()))?;
    let steps_per_epoch = batches.steps_per_epoch();
    let total = (args.epochs.saturating_sub(trainer.epoch) * steps_per_epoch) as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{spinner} epoch {prefix} [{bar:30}] {pos}/{len} steps {elapsed}<{eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let results_path = args.output.join("results.csv");
    let mut results: Vec<EpochResult> = if args.resume && results_path.exists() {
        let text = std::fs::read_to_string(&results_path)
            .with_context(|| format!("{}: cannot read", results_path.display()))?;
        parse_csv(&text).into_iter().filter(|r| r.epoch <= trainer.epoch).collect()
    } else {
        Vec::new()
    };
    let start = std::time::Instant::now();
    while trainer.epoch < args.epochs {
        bar.set_prefix(format!("{}/{}", trainer.epoch + 1, args.epochs));
        let epoch_start = std::time::Instant::now();
        let mut epoch = EpochAccumulator::default();
        loop {
            let (m, epoch_done) = pollster::block_on(batches.step(&mut trainer))?;
            epoch.add(&m);
            let mut line = serde_json::to_value(&m)?;
            line["time_s"] = serde_json::json!(start.elapsed().as_secs_f64());
            writeln!(metrics, "{line}")?;
            bar.set_message(format!("loss {:.3}", m.loss));
            bar.inc(1);
            if epoch_done {
                break;
            }
        }
        trainer.epoch += 1;
        metrics.flush()?;
        let validation = match &val {
            Some(v) => {
                bar.set_message("validating");
                let model = InferenceModel::new(trainer.inference_model());
                let c =
                    super::eval::collect(&model, &labels, &v.images, &v.eval, &v.class_to_label, args.resize, &device)?;
                let m = c.metrics()?.summarize();
                bar.println(format!("epoch {}: AP {:.3}  AP50 {:.3}  AP75 {:.3}", trainer.epoch, m.ap, m.ap50, m.ap75));
                Some(EpochValidation::from(&m))
            }
            None => None,
        };
        results.extend(epoch.finish(trainer.epoch, epoch_start.elapsed().as_secs_f64(), validation));
        write_results(&args.output, &results)?;
        let snapshot = pollster::block_on(trainer.snapshot(&config))?;
        std::fs::create_dir_all(&checkpoint_dir)?;
        write_atomically(&checkpoint_dir.join("model.bpk"), &snapshot.model)?;
        write_atomically(&checkpoint_dir.join("optimizer.bpk"), &snapshot.optimizer)?;
    }
    bar.finish_and_clear();

    let model = trainer.inference_model();
    let tensors = pollster::block_on(collect_hf_tensors(&model))?;
    write_atomically(&args.output.join("model.safetensors"), &write_safetensors(&tensors, Some(&config)))?;
    std::fs::write(args.output.join("config.json"), config.to_json())?;
    eprintln!(
        "trained {} epochs ({} steps) in {:.0} s → {}",
        args.epochs,
        trainer.step,
        start.elapsed().as_secs_f64(),
        args.output.join("model.safetensors").display()
    );
    Ok(())
}

/// The starting model, its config, and (when the class head is kept) dataset class → model class.
fn initial_model(
    args: &TrainArgs,
    classes: &[String],
    category_ids: &[i64],
    device: &Device,
) -> Result<(ConditionalDetr, ConditionalDetrConfig, Option<Vec<usize>>)> {
    if args.weights == "none" {
        let mut config = resolve_config(args.config.as_deref(), None)?;
        config.set_labels(classes);
        let model = ConditionalDetr::init(&config, &backbone_config(&config, None)?, device);
        return Ok((model, config, None));
    }
    let checkpoint = read_checkpoint_file(Path::new(&args.weights))?;
    let config = resolve_config(args.config.as_deref(), Some(&checkpoint))?;
    let model = load_model(&config, &checkpoint, device)?;
    match plan_labels_with_ids(classes, category_ids, &config.labels()) {
        LabelPlan::Keep(map) => Ok((model, config, Some(map))),
        LabelPlan::NewHead => {
            eprintln!("new classes {classes:?}: a fresh class head replaces the checkpoint's");
            let model = model.with_new_class_head(classes.len(), device);
            Ok((model, config, None))
        }
    }
}

/// A validation dataset whose classes are all among the model's labels.
struct ValidationSet {
    images: Vec<image::RgbImage>,
    eval: Vec<Vec<cdetr::data::EvalAnnotation>>,
    class_to_label: Vec<usize>,
}

fn validation_set(
    path: &Path,
    format: Option<DataFormat>,
    split: Option<&str>,
    labels: &[String],
) -> Result<ValidationSet> {
    let data = load_data(path, format, split)?;
    let LabelPlan::Keep(class_to_label) = plan_labels_with_ids(&data.class_names, &data.category_ids, labels) else {
        let unknown = unknown_classes(&data.class_names, &data.category_ids, labels);
        bail!(
            "{}: the validation classes {unknown:?} are not classes of the training run ({labels:?})",
            path.display()
        );
    };
    Ok(ValidationSet { images: data.images, eval: data.eval, class_to_label })
}

/// `results.csv` and `results.png` of the epochs so far (rewritten after each epoch).
fn write_results(dir: &Path, rows: &[EpochResult]) -> Result<()> {
    write_atomically(&dir.join("results.csv"), to_csv(rows).as_bytes())?;
    let mut png = std::io::Cursor::new(Vec::new());
    cdetr::plot::results(rows).write_to(&mut png, image::ImageFormat::Png)?;
    write_atomically(&dir.join("results.png"), &png.into_inner())
}

/// Writes through a temporary file so an interrupted run never leaves a half-written checkpoint.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
