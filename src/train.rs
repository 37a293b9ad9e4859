//! Training: the official optimisation recipe (official `main.py`, `engine.py` `train_one_epoch`) as one
//! platform-free async step that the CLI and the browser both call.
//!
//! AdamW (β 0.9/0.999, ε 1e-8, weight decay 1e-4 on every parameter), learning rate 1e-4 and 1e-5 for the
//! backbone, the stem and `layer1` of the backbone frozen (optionally all of it), gradient clipping by the
//! **global** L2 norm over all parameters (0.1; Burn's built-in clipping is per tensor), StepLR ×0.1 every
//! `lr_drop` epochs, dropout 0.1 in training. Predictions are read back asynchronously for matching, so the
//! step never blocks on the device (WebGPU forbids synchronous reads).

use std::collections::BTreeMap;

use burn::module::ParamId;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::store::{ModuleSnapshot, bridge, burn_pack};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::config::ConditionalDetrConfig;
use crate::criterion::{Criterion, CriterionError, DetrCriterion, LossWeights, SetCriterion};
use crate::data::TargetBoxes;
use crate::data::training_set::TrainingSet;
use crate::feature_cache::{FeatureBatch, FeatureCache};
use crate::matcher::MatcherCosts;
use crate::model::nested_tensor::NestedTensor;
use crate::model::transformer::DropoutRates;
use crate::model::{ConditionalDetr, DetrOutput, ForwardOptions};
use crate::optim::AdamW;
use crate::preprocess::Batch;
use crate::readback::{ReadbackError, read_floats};
use crate::weights::{ModelParams, WeightsError};

/// Hyper-parameters of a training run (official defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    pub lr: f64,
    pub lr_backbone: f64,
    pub weight_decay: f32,
    /// Global gradient-norm clipping threshold (0 disables it).
    pub clip_max_norm: f32,
    /// Multiply the learning rates by 0.1 every this many epochs (0: never).
    pub lr_drop: usize,
    /// Freeze the whole backbone.
    pub freeze_backbone: bool,
    /// Freeze the stem and `layer1` (the official recipe, meant for an ImageNet-pretrained backbone; a
    /// run from random weights trains them).
    pub freeze_stem: bool,
    /// Dropout of the transformer (residual, attention and feed-forward dropout, as the official code).
    pub dropout: f64,
    /// Weights of the loss terms (2 / 5 / 2).
    pub loss: LossWeights,
    /// Weights of the matching costs (2 / 5 / 2).
    pub matcher: MatcherCosts,
    pub focal_alpha: f32,
    /// Weight of DETR's no-object class in `loss_ce` (unused by Conditional DETR).
    pub eos_coefficient: f32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            lr_backbone: 1e-5,
            weight_decay: 1e-4,
            clip_max_norm: 0.1,
            lr_drop: 0,
            freeze_backbone: false,
            freeze_stem: true,
            dropout: 0.1,
            loss: LossWeights::default(),
            matcher: MatcherCosts::default(),
            focal_alpha: 0.25,
            eos_coefficient: 0.1,
        }
    }
}

impl TrainOptions {
    /// The loss and matching weights of a model configuration (`cls_loss_coefficient`, `bbox_cost`, ...,
    /// `focal_alpha`, `eos_coefficient` of its `config.json`; 2 / 5 / 2 and 0.25 in the official recipe and
    /// the hub config, 1 / 5 / 2 and 0.1 for DETR).
    pub fn with_config_weights(self, config: &crate::config::ConditionalDetrConfig) -> Self {
        Self {
            loss: LossWeights::from_config(config),
            matcher: MatcherCosts::from_config(config),
            focal_alpha: config.focal_alpha as f32,
            eos_coefficient: config.eos_coefficient() as f32,
            ..self
        }
    }

    /// The loss of a model: DETR's softmax criterion for a DETR model, the focal one otherwise.
    pub fn criterion(&self, detr: bool) -> Criterion {
        let (matcher, weights) = (self.matcher, self.loss);
        if detr {
            Criterion::Softmax(DetrCriterion { matcher, weights, eos_coefficient: self.eos_coefficient })
        } else {
            Criterion::Focal(SetCriterion { matcher, weights, focal_alpha: self.focal_alpha })
        }
    }

    pub fn dropout_rates(&self) -> DropoutRates {
        DropoutRates::new().with_dropout(self.dropout).with_attention(self.dropout).with_activation(self.dropout)
    }

    /// `(lr, lr_backbone)` in a given (0-based) epoch, StepLR.
    pub fn learning_rates(&self, epoch: usize) -> (f64, f64) {
        let drops = epoch.checked_div(self.lr_drop).unwrap_or(0);
        let factor = 0.1f64.powi(drops as i32);
        (self.lr * factor, self.lr_backbone * factor)
    }
}

/// Why a step failed. The model is left as it was before the step.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Criterion(#[from] CriterionError),
    #[error("{0}")]
    Weights(#[from] WeightsError),
    #[error("{0}")]
    Readback(#[from] ReadbackError),
    #[error("the loss is not finite ({0}); lower the learning rate")]
    Diverged(f64),
    #[error("invalid batch: {0}")]
    Batch(String),
    #[error("invalid training state: {0}")]
    State(String),
}

/// Everything logged about one step: loss components computed before the update, learning rates and
/// the gradient norm before clipping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    /// `loss_ce`, `loss_bbox`, `loss_giou`, `loss_ce_0`, …, `cardinality_error`, … (unweighted).
    #[serde(flatten)]
    pub components: BTreeMap<String, f64>,
    pub lr: f64,
    pub lr_backbone: f64,
    pub grad_norm: f64,
    pub num_boxes: usize,
}

/// A model being trained, with its optimizer.
pub struct Trainer {
    model: Option<ConditionalDetr>,
    optim: AdamW,
    pub options: TrainOptions,
    criterion: Criterion,
    /// Steps taken so far.
    pub step: usize,
    /// Current (0-based) epoch, which sets the learning rates.
    pub epoch: usize,
}

impl Trainer {
    /// Takes a model on an autodiff device (built with [`TrainOptions::dropout_rates`]) and freezes the
    /// backbone parts the recipe does not train.
    pub fn new(model: ConditionalDetr, options: TrainOptions) -> Self {
        let mut model = model;
        model.model.backbone = if options.freeze_backbone {
            model.model.backbone.no_grad()
        } else if options.freeze_stem {
            model.model.backbone.freeze_stem_and_layer1()
        } else {
            model.model.backbone
        };
        let optim = AdamW::new(options.weight_decay);
        let criterion = options.criterion(model.is_detr());
        Self { model: Some(model), optim, criterion, options, step: 0, epoch: 0 }
    }

    pub fn model(&self) -> &ConditionalDetr {
        self.model.as_ref().expect("the model is only taken during an optimizer update")
    }

    pub fn device(&self) -> Device {
        self.model().model.query_position_embeddings.weight.device()
    }

    /// One optimisation step on a batch; returns the metrics of the batch before the update.
    pub async fn train_step(&mut self, batch: &Batch, targets: &[TargetBoxes]) -> Result<StepMetrics, TrainError> {
        if batch.batch != targets.len() || batch.batch == 0 {
            return Err(TrainError::Batch(format!("{} images but {} target lists", batch.batch, targets.len())));
        }
        let input = NestedTensor::from_batch(batch, &self.device());
        let output =
            self.model().forward(input.tensors, &input.mask, ForwardOptions { aux: true, attention_maps: false });
        self.step_on_output(output, targets).await
    }

    /// One optimisation step on cached backbone features ([`crate::feature_cache`]): the input projection,
    /// transformer and heads only. Needs a frozen backbone ([`TrainOptions::freeze_backbone`]); the batch
    /// must be on [`Trainer::device`].
    pub async fn train_step_on_features(
        &mut self,
        batch: &FeatureBatch,
        targets: &[TargetBoxes],
    ) -> Result<StepMetrics, TrainError> {
        if !self.options.freeze_backbone {
            return Err(TrainError::State("cached features need a frozen backbone".into()));
        }
        let b = batch.features.dims()[0];
        if b != targets.len() || b == 0 {
            return Err(TrainError::Batch(format!("{b} feature maps but {} target lists", targets.len())));
        }
        let options = ForwardOptions { aux: true, attention_maps: false };
        let output = self.model().forward_from_backbone(vec![batch.features.clone()], &batch.mask, options, None);
        self.step_on_output(output, targets).await
    }

    /// The loss of a forward pass, its gradients and the optimizer update.
    async fn step_on_output(&mut self, output: DetrOutput, targets: &[TargetBoxes]) -> Result<StepMetrics, TrainError> {
        let model = self.model();
        let loss = self.criterion.loss(&output, targets).await?;

        // Read every loss value in one transfer.
        let names: Vec<String> = loss.components.iter().map(|(n, _)| n.clone()).collect();
        let mut values: Vec<Tensor<1>> = vec![loss.total.clone().detach()];
        values.extend(loss.components.iter().map(|(_, t)| t.clone().detach()));
        let values = read_floats(Tensor::cat(values, 0), "loss").await?;
        let total = values[0] as f64;
        if !total.is_finite() {
            return Err(TrainError::Diverged(total));
        }

        let mut grads = GradientsParams::from_grads(loss.total.backward(), model);
        let grad_norm = clip_grad_global_norm(model, &mut grads, self.options.clip_max_norm as f64).await?;
        let (lr, lr_backbone) = self.options.learning_rates(self.epoch);
        let backbone = param_ids(&model.model.backbone);
        let model = self.model.take().expect("model present");
        let lr_of = |id: ParamId| if backbone.contains(&id) { lr_backbone } else { lr };
        self.model = Some(self.optim.step(model, &mut grads, lr_of));

        let mut components: BTreeMap<String, f64> =
            names.into_iter().zip(values[1..].iter().map(|&v| v as f64)).collect();
        components.extend(loss.cardinality.into_iter().map(|(n, v)| (n, v as f64)));
        let metrics = StepMetrics {
            step: self.step,
            epoch: self.epoch,
            loss: total,
            components,
            lr,
            lr_backbone,
            grad_norm,
            num_boxes: targets.iter().map(|t| t.labels.len()).sum(),
        };
        self.step += 1;
        Ok(metrics)
    }

    /// The model as it is now, for inference (no autodiff, no dropout).
    pub fn inference_model(&self) -> ConditionalDetr {
        self.model().valid()
    }

    /// Gives the model back (e.g. to export it).
    pub fn into_model(mut self) -> ConditionalDetr {
        self.model.take().expect("model present")
    }

    /// Serialises model parameters (with their ids) and optimizer state, read back asynchronously, so a
    /// run can continue exactly where it stopped ([`Trainer::restore`]).
    pub async fn snapshot(&self, config: &ConditionalDetrConfig) -> Result<TrainingSnapshot, TrainError> {
        let mut packs = Vec::new();
        for p in ModelParams::of(self.model()) {
            let data = read_floats(p.values, &p.path).await?;
            packs.push(bridge::from_data(TensorData::new(data, p.shape), p.path, Some(p.id.val())));
        }
        let state = serde_json::json!({"step": self.step, "epoch": self.epoch, "options": self.options});
        let model = burn_pack::Writer::new(packs)
            .with_metadata("config.json", &config.to_json())
            .with_metadata("trainer", &state.to_string())
            .into_bytes()
            .map_err(|e| TrainError::State(e.to_string()))?
            .to_vec();
        let optimizer = self.optim.snapshot().await.map_err(|e| TrainError::State(e.to_string()))?;
        Ok(TrainingSnapshot { model, optimizer })
    }

    /// Restores parameters, parameter ids, step, epoch and optimizer state from a [`TrainingSnapshot`]
    /// into a trainer whose model has the same architecture. A snapshot whose optimizer state does not read
    /// is refused before the model is touched.
    pub fn restore(&mut self, snapshot: &TrainingSnapshot) -> Result<(), TrainError> {
        let state = |m: String| TrainError::State(m);
        let mut optim = self.optim.clone();
        optim.restore(&snapshot.optimizer, &self.device().without_autodiff()).map_err(|e| state(e.to_string()))?;
        let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(snapshot.model.clone()))
            .map_err(|e| state(format!("corrupt model snapshot: {e}")))?;
        let meta: serde_json::Value = reader
            .metadata()
            .get("trainer")
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| state("the snapshot has no trainer state".into()))?;
        let tensors = reader.into_tensors().map_err(|e| state(format!("corrupt model snapshot: {e}")))?;
        let mut model = self.model.take().expect("model present");
        let result = model.apply(tensors, None, None, false);
        self.model = Some(model);
        if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty() {
            return Err(state(format!(
                "the snapshot does not match the model ({} missing, {} unexpected, {} mis-shaped)",
                result.missing.len(),
                result.unused.len(),
                result.errors.len()
            )));
        }
        self.optim = optim;
        self.step = meta["step"].as_u64().unwrap_or(0) as usize;
        self.epoch = meta["epoch"].as_u64().unwrap_or(0) as usize;
        Ok(())
    }
}

/// Model parameters and optimizer state of a run, as bytes (files natively, IndexedDB in the browser).
#[derive(Debug, Clone)]
pub struct TrainingSnapshot {
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
}

/// Sum of squared gradients over every parameter found in `grads`.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let sq = grad.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(s) => s + sq,
                None => sq,
            });
        }
    }
}

/// `torch.nn.utils.clip_grad_norm_` over all gradients together (the official `--clip_max_norm`, not Burn's
/// per-tensor clipping): when their global L2 norm exceeds `max_norm` (> 0), every gradient is multiplied by
/// `max_norm / (norm + 1e-6)`. Returns the norm before clipping.
pub async fn clip_grad_global_norm(
    model: &ConditionalDetr,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Result<f64, TrainError> {
    let norm = global_grad_norm(model, grads).await?;
    if max_norm > 0.0 {
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            model.visit(&mut ScaleGrads { grads, factor: coef });
        }
    }
    Ok(norm)
}

/// L2 norm of all gradients together (one read-back).
pub async fn global_grad_norm(model: &ConditionalDetr, grads: &GradientsParams) -> Result<f64, TrainError> {
    let mut visitor = SquaredNorm { grads, sum: None };
    model.visit(&mut visitor);
    let Some(sum) = visitor.sum else { return Ok(0.0) };
    let value = read_floats(sum, "gradient norm").await?;
    Ok((value[0] as f64).sqrt())
}

/// Ids of every parameter of a module.
fn param_ids<M: Module>(module: &M) -> std::collections::HashSet<ParamId> {
    struct Ids(std::collections::HashSet<ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.insert(param.id);
        }
    }
    let mut ids = Ids(Default::default());
    module.visit(&mut ids);
    ids.0
}

/// Multiplies every gradient in `grads` by `factor`.
struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad * self.factor);
        }
    }
}

/// Where the trainer stands in epochs of `steps_per_epoch` steps: `(epoch, batch within it)`, or `None` when
/// its step count does not fall inside its epoch (a run resumed with another batch size, or a caller that
/// does not count epochs).
pub fn trainer_position(trainer: &Trainer, steps_per_epoch: usize) -> Option<(usize, usize)> {
    let batch = trainer.step.checked_sub(trainer.epoch * steps_per_epoch).filter(|&b| b < steps_per_epoch)?;
    Some((trainer.epoch, batch))
}

/// Where the training batches come from: augmented images, or cached backbone features (fast mode).
pub enum Batches {
    Images(TrainingSet),
    Features(FeatureCache),
}

impl Batches {
    pub fn steps_per_epoch(&self) -> usize {
        match self {
            Self::Images(set) => set.steps_per_epoch(),
            Self::Features(cache) => cache.steps_per_epoch(),
        }
    }

    /// One training step on the batch the trainer is at (its epoch and step, [`trainer_position`]: the
    /// same batch whether the run was interrupted or not; where the trainer's count does not fit, the next
    /// batch); also says whether it ended the epoch. The caller counts epochs (`trainer.epoch += 1` when one
    /// ends). The step's dropout masks are drawn after seeding the device from the same place, so they too
    /// are those of the uninterrupted run.
    pub async fn step(&mut self, trainer: &mut Trainer) -> Result<(StepMetrics, bool), TrainError> {
        let wanted = trainer_position(trainer, self.steps_per_epoch());
        let (rng, (epoch, batch)) = match self {
            Self::Images(set) => {
                if let Some((epoch, batch)) = wanted.filter(|&p| p != set.position()) {
                    set.seek(epoch, batch);
                }
                (set.rng(), set.position())
            }
            Self::Features(cache) => {
                if let Some((epoch, batch)) = wanted.filter(|&p| p != cache.position()) {
                    cache.seek(epoch, batch);
                }
                (cache.rng(), cache.position())
            }
        };
        let dropout_seed = rng.fork(epoch as u64).fork(!(batch as u64)).next_u64();
        if trainer.options.dropout > 0.0 {
            trainer.device().seed(dropout_seed);
        }
        match self {
            Self::Images(set) => {
                let (batch, targets, epoch_done) = set.next_batch();
                Ok((trainer.train_step(&batch, &targets).await?, epoch_done))
            }
            Self::Features(cache) => {
                let (batch, targets, epoch_done) = cache.next_batch(&trainer.device());
                Ok((trainer.train_step_on_features(&batch, &targets).await?, epoch_done))
            }
        }
    }
}
