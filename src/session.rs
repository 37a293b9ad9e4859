//! A fine-tuning session as the page runs it, platform-free (the wasm shell `web.rs` only converts
//! arguments): label planning against the starting model, the training set (augmented images, or cached
//! backbone features in the fast mode), the [`Trainer`], snapshots, and validation with the diagnostics
//! of `cdetr eval --json` ([`crate::evaluate`]).

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::ConditionalDetrConfig;
use crate::data::BoxAnnotation;
use crate::data::augment::{Rng, TrainAugment};
use crate::data::label_plan::{plan_labels, remap_boxes};
use crate::data::training_set::{TrainingSet, TrainingSetConfig};
use crate::eval::{CocoMetrics, ConfusionMatrix, ConfusionOptions, Detection, ImageErrors, confusion_matrix};
use crate::evaluate::{
    ClassReport, EvalSet, EvaluateError, class_reports, confusion_labels, evaluate_model, ground_truth_of_boxes,
};
use crate::feature_cache::{FeatureCache, FeatureCacheConfig};
use crate::memory::{BackboneTraining, Limits, ModelSize, TooBig, stage_strides};
use crate::model::ConditionalDetr;
use crate::model::inference::InferenceModel;
use crate::preprocess::ResizeMode;
use crate::readback::ReadbackError;
use crate::train::{Batches, StepMetrics, TrainError, TrainOptions, Trainer, TrainingSnapshot};

/// Why a session could not start or step.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the dataset has no classes")]
    NoClasses,
    #[error("the training split is empty: add labeled images first")]
    NoTrainingImages,
    #[error("the validation split is empty")]
    NoValidationImages,
    #[error("box {index} has class {class}, but the dataset has {classes} classes")]
    UnknownClass { index: usize, class: usize, classes: usize },
    #[error("{0}")]
    TooBig(#[from] TooBig),
    #[error("{0}")]
    Train(#[from] TrainError),
    #[error("{0}")]
    Readback(#[from] ReadbackError),
    #[error("{0}")]
    Evaluate(#[from] EvaluateError),
}

/// One labeled image; box classes index the dataset's `class_names`.
#[derive(Debug, Clone)]
pub struct LabeledImage {
    pub image: image::RgbImage,
    pub boxes: Vec<BoxAnnotation>,
}

/// The images of a session, split.
#[derive(Debug, Clone, Default)]
pub struct SessionDataset {
    pub class_names: Vec<String>,
    pub train: Vec<LabeledImage>,
    pub val: Vec<LabeledImage>,
}

/// Fine-tuning settings (the page's panel; camelCase in JS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionOptions {
    pub lr: f64,
    pub lr_backbone: f64,
    pub batch_size: usize,
    /// Longest side of augmented images (the official recipe scaled down).
    pub max_size: u32,
    pub augment: bool,
    pub freeze_backbone: bool,
    /// Fast mode: a frozen backbone whose features are computed once per image (flip + `fast_scales` sizes).
    pub fast_mode: bool,
    pub fast_scales: usize,
    pub dropout: f64,
    pub seed: u64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            lr_backbone: 1e-5,
            batch_size: 2,
            max_size: 512,
            augment: true,
            freeze_backbone: false,
            fast_mode: false,
            fast_scales: 1,
            dropout: 0.1,
            seed: 0,
        }
    }
}

/// What a session starts from: the weights (inference device) and their configuration, and the memory the
/// step may use ([`crate::memory`]).
pub struct SessionStart<'a> {
    pub model: ConditionalDetr,
    pub config: ConditionalDetrConfig,
    pub size: ModelSize<'a>,
    pub limits: Limits,
}

/// What [`TrainingSession::new`] reports to the page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub new_head: bool,
    pub labels: Vec<String>,
    pub train_images: usize,
    pub val_images: usize,
    pub steps_per_epoch: usize,
    /// The fast mode's views (`None` without the fast mode).
    pub fast_mode: Option<String>,
}

/// The validation numbers and diagnostics (`cdetr eval --json`'s, with the page's field names).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    #[serde(flatten)]
    pub stats: CocoMetrics,
    pub classes: Vec<ClassReport>,
    pub confusion_labels: Vec<String>,
    pub confusion: ConfusionMatrix,
    /// Images with errors (image id = index into the validation split), most first.
    pub worst: Vec<ImageErrors>,
    /// The detections counted on the first [`WORST_WITH_PREDICTIONS`] of `worst` (score ≥ 0.25), for the
    /// page to draw over the ground truth.
    pub predictions: Vec<ImagePredictions>,
}

/// How many of the worst validation images keep their detections in a [`ValidationReport`] (the page lists
/// ten).
pub const WORST_WITH_PREDICTIONS: usize = 10;

/// One detection on a validation image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    /// Model class id.
    pub label: u64,
    /// `[x0, y0, x1, y1]` in pixels of the image the session validated on.
    pub bbox: [f64; 4],
    pub score: f64,
}

/// The counted detections of one validation image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePredictions {
    /// Index into the validation split.
    pub image_id: u64,
    /// Size of the image the session validated on (the page sends a copy of at most 1.25 × the max size).
    pub width: u32,
    pub height: u32,
    pub detections: Vec<Prediction>,
}

/// Training images whose backbone features are computed on the first step of a fast-mode session.
struct PendingCache {
    images: Vec<image::RgbImage>,
    boxes: Vec<Vec<BoxAnnotation>>,
    config: FeatureCacheConfig,
    seed: u64,
}

/// A model being fine-tuned on a [`SessionDataset`].
pub struct TrainingSession {
    pub trainer: Trainer,
    /// The trained model's configuration (its labels: the dataset's when the head is new).
    pub config: ConditionalDetrConfig,
    /// `None` until the fast mode's cache is built (`pending`).
    train: Option<Batches>,
    pending: Option<PendingCache>,
    /// Validation images with model class ids.
    val_images: Vec<image::RgbImage>,
    val_boxes: Vec<Vec<BoxAnnotation>>,
    max_size: u32,
    /// Dataset class index → model class index.
    label_map: Vec<usize>,
    /// The inference device (the trainer's autodiff device wraps it).
    device: Device,
}

impl TrainingSession {
    /// Plans the labels (keeps the class head when every class name is one of the model's, else makes a new
    /// one), checks that a step fits in memory, and prepares the batches.
    pub fn new(
        start: SessionStart<'_>,
        dataset: SessionDataset,
        options: &SessionOptions,
        device: &Device,
    ) -> Result<(Self, SessionSummary), SessionError> {
        if dataset.class_names.is_empty() {
            return Err(SessionError::NoClasses);
        }
        if dataset.train.is_empty() {
            return Err(SessionError::NoTrainingImages);
        }
        check_training_memory(&start.size, &dataset.train, options, start.limits)?;
        let SessionStart { model, mut config, .. } = start;
        let (label_map, new_head) =
            plan_labels(&dataset.class_names, &config.labels()).class_map(dataset.class_names.len());
        if new_head {
            config.set_labels(&dataset.class_names);
        }
        let train_options = TrainOptions {
            lr: options.lr,
            lr_backbone: options.lr_backbone,
            freeze_backbone: options.freeze_backbone || options.fast_mode,
            dropout: options.dropout,
            ..TrainOptions::default()
        }
        .with_config_weights(&config);
        // The starting weights, switched to autodiff (no copy through the host).
        let autodiff = device.clone().autodiff();
        let mut model = model.train();
        if new_head {
            model = model.with_new_class_head(config.num_labels(), &autodiff);
        }
        let trainer = Trainer::new(model.with_dropout(train_options.dropout_rates()), train_options);

        let split = |samples: Vec<LabeledImage>| -> (Vec<_>, Vec<_>) {
            samples.into_iter().map(|s| (s.image, remap_boxes(&s.boxes, &label_map))).unzip()
        };
        let (images, boxes) = split(dataset.train);
        let (val_images, val_boxes) = split(dataset.val);
        let resize = ResizeMode::for_max_size(options.max_size);
        let batch_size = options.batch_size.max(1);
        let summary = SessionSummary {
            new_head,
            labels: config.labels(),
            train_images: images.len(),
            val_images: val_images.len(),
            steps_per_epoch: images.len().div_ceil(batch_size),
            fast_mode: None,
        };
        let (train, pending, fast_mode) = if options.fast_mode {
            let config = if options.augment {
                FeatureCacheConfig::for_max_size(options.max_size, options.fast_scales, batch_size)
            } else {
                FeatureCacheConfig { flip: false, resizes: vec![resize], batch_size, shuffle: true }
            };
            let description = config.describe();
            (None, Some(PendingCache { images, boxes, config, seed: options.seed }), Some(description))
        } else {
            let augment = options.augment.then(|| TrainAugment::new(options.max_size));
            let config = TrainingSetConfig { batch_size, augment, resize, shuffle: true };
            (Some(Batches::Images(TrainingSet::new(images, boxes, config, Rng::new(options.seed)))), None, None)
        };
        let session = Self {
            trainer,
            config,
            train,
            pending,
            val_images,
            val_boxes,
            max_size: options.max_size,
            label_map,
            device: device.clone(),
        };
        Ok((session, SessionSummary { fast_mode, ..summary }))
    }

    /// One optimisation step on the next batch; also says whether it ended an epoch (then `trainer.epoch`
    /// has moved on).
    pub async fn step(&mut self) -> Result<(StepMetrics, bool), SessionError> {
        if let Some(p) = self.pending.take() {
            // Fast mode: the backbone runs once per image and view, here, on the first step.
            let backbone = InferenceModel::new(self.trainer.inference_model());
            let cache =
                FeatureCache::build(&backbone, &p.images, &p.boxes, p.config, Rng::new(p.seed), &self.device).await?;
            self.train = Some(Batches::Features(cache));
        }
        let batches =
            self.train.as_mut().ok_or_else(|| TrainError::State("the training batches are missing".into()))?;
        let (metrics, epoch_done) = batches.step(&mut self.trainer).await?;
        if epoch_done {
            self.trainer.epoch += 1;
        }
        Ok((metrics, epoch_done))
    }

    /// COCO AP of the current weights on the validation split, with the diagnostics (score 0.25, IoU 0.5).
    pub async fn evaluate(&self) -> Result<ValidationReport, SessionError> {
        if self.val_images.is_empty() {
            return Err(SessionError::NoValidationImages);
        }
        let model = InferenceModel::new(self.trainer.inference_model());
        let labels = self.config.labels();
        let set = EvalSet {
            images: &self.val_images,
            ground_truth: ground_truth_of_boxes(&self.val_boxes),
            categories: self.label_map.iter().map(|&c| c as u64).collect(),
        };
        let resize = ResizeMode::for_max_size(self.max_size);
        let evaluation = evaluate_model(&model, set, &labels, resize, &self.device).await?;
        let metrics = evaluation.metrics().map_err(EvaluateError::from)?;
        let options = ConfusionOptions::default();
        let confusion = evaluation.confusion(options).map_err(EvaluateError::from)?;
        let worst = confusion.worst_images();
        let predictions = worst
            .iter()
            .take(WORST_WITH_PREDICTIONS)
            .map(|e| {
                let image = &self.val_images[e.image_id as usize];
                let detections = evaluation
                    .dets
                    .iter()
                    .filter(|d| d.image_id == e.image_id && d.score >= options.score_threshold)
                    .map(|d| {
                        let [x, y, w, h] = d.bbox;
                        Prediction { label: d.category_id, bbox: [x, y, x + w, y + h], score: d.score }
                    })
                    .collect();
                ImagePredictions { image_id: e.image_id, width: image.width(), height: image.height(), detections }
            })
            .collect();
        Ok(ValidationReport {
            stats: metrics.summarize(),
            classes: class_reports(&metrics, &labels),
            confusion_labels: confusion_labels(&confusion, &labels),
            worst,
            predictions,
            confusion,
        })
    }

    /// The errors of one image's `detections` (from [`Self::evaluate`]) against `boxes` (dataset class ids,
    /// pixels of the validated image), counted as in the confusion matrix: how a fix of the labels changes
    /// what validation found, without validating again.
    pub fn image_errors(
        &self,
        boxes: &[BoxAnnotation],
        detections: &[Prediction],
    ) -> Result<ImageErrors, SessionError> {
        let classes = self.label_map.len();
        if let Some((index, b)) = boxes.iter().enumerate().find(|(_, b)| b.class_id >= classes) {
            return Err(SessionError::UnknownClass { index, class: b.class_id, classes });
        }
        let gts = ground_truth_of_boxes(&[remap_boxes(boxes, &self.label_map)]);
        let dets: Vec<Detection> = detections
            .iter()
            .map(|p| {
                let [x0, y0, x1, y1] = p.bbox;
                Detection { image_id: 0, category_id: p.label, bbox: [x0, y0, x1 - x0, y1 - y0], score: p.score }
            })
            .collect();
        let mut categories: Vec<u64> = self.label_map.iter().map(|&c| c as u64).collect();
        categories.sort_unstable();
        categories.dedup();
        let confusion = confusion_matrix(&[0], &categories, &gts, &dets, ConfusionOptions::default())
            .map_err(|e| SessionError::Evaluate(e.into()))?;
        Ok(confusion.images[0])
    }

    /// The fine-tuned weights on the inference device.
    pub fn inference_model(&self) -> ConditionalDetr {
        self.trainer.inference_model()
    }

    /// The weights (with parameter ids) and the optimizer state, to resume after a reload.
    pub async fn snapshot(&self) -> Result<TrainingSnapshot, SessionError> {
        Ok(self.trainer.snapshot(&self.config).await?)
    }

    /// Restores a [`snapshot`](Self::snapshot) of a session on the same dataset classes.
    pub fn restore(&mut self, snapshot: &TrainingSnapshot) -> Result<(), SessionError> {
        Ok(self.trainer.restore(snapshot)?)
    }
}

/// Refuses, with what to change, a fine-tuning setting whose step would not fit ([`crate::memory`]): the
/// largest training image scaled to the max size, the batch size, the backbone mode; in the fast mode the
/// feature cache (each image and its flip at the largest scale) counts against the memory too.
pub fn check_training_memory(
    size: &ModelSize<'_>,
    train: &[LabeledImage],
    options: &SessionOptions,
    mut limits: Limits,
) -> Result<(), TooBig> {
    let max = options.max_size.max(1) as f64;
    let scaled = |img: &image::RgbImage| {
        let f = max / img.width().max(img.height()).max(1) as f64;
        ((img.height() as f64 * f).ceil() as usize, (img.width() as f64 * f).ceil() as usize)
    };
    let (height, width) =
        train.iter().map(|s| scaled(&s.image)).fold((0, 0), |(h, w), (ih, iw)| (h.max(ih), w.max(iw)));
    let mode = if options.fast_mode {
        BackboneTraining::Cached
    } else if options.freeze_backbone {
        BackboneTraining::Frozen
    } else {
        BackboneTraining::Trained
    };
    if options.fast_mode {
        let channels = 4 * size.backbone.widths[3];
        let stride = stage_strides(size.backbone)[3] as usize;
        let views = 2 * options.fast_scales.max(1);
        let cache: usize = train
            .iter()
            .map(|s| {
                let (h, w) = scaled(&s.image);
                views * channels * h.div_ceil(stride) * w.div_ceil(stride) * 4
            })
            .sum();
        limits.total_bytes = limits.total_bytes.map(|t| t.saturating_sub(cache as u64));
    }
    let batch = options.batch_size.max(1).min(train.len());
    size.check_train(height, width, batch, mode, limits)
}
