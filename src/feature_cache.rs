//! Fast fine-tuning with a frozen backbone: each training image's last backbone feature map is computed
//! once (and that of its horizontal flip, and of a few sizes), kept on the host, and a training step runs
//! only the input projection, the transformer and the heads ([`crate::train::Trainer::train_step_on_features`]).
//!
//! What it keeps of the DETR augmentation (official `datasets/coco.py` `make_coco_transforms`): the flip and
//! a fixed set of sizes, one drawn per image and step. What it drops: the random crop and the per-step
//! random scale, which would need the backbone again. With one image per batch (or images of equal size)
//! and no augmentation, a step is the full step with a frozen backbone, exactly: the backbone sees the
//! same unpadded image either way. Images of different sizes in one batch are padded at the feature level
//! (the full step pads the pixels, which changes the backbone's border cells).

use burn::tensor::{Device, Tensor, TensorData};

use crate::data::augment::{Rng, hflip, resize_for_eval};
use crate::data::{BoxAnnotation, TargetBoxes};
use crate::model::cpu_backbone::Stages;
use crate::model::inference::InferenceModel;
use crate::model::mask::PixelMask;
use crate::preprocess::{ResizeMode, pad_batch};
use crate::readback::{ReadbackError, read_floats};

/// Which views of each image are cached.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureCacheConfig {
    /// Also cache the horizontal flip (drawn with probability ½ per step when there is more than one view).
    pub flip: bool,
    /// The sizes each view is cached at (one drawn per image and step).
    pub resizes: Vec<ResizeMode>,
    pub batch_size: usize,
    pub shuffle: bool,
}

impl FeatureCacheConfig {
    /// The training recipe's sizes for a longest side of `max_size`: `scales` evenly spaced shortest edges
    /// among the DETR training scales (scaled like [`crate::data::augment::TrainAugment::new`]), the largest
    /// first, with the flip.
    pub fn for_max_size(max_size: u32, scales: usize, batch_size: usize) -> Self {
        let all = crate::data::augment::TrainAugment::new(max_size).scales;
        let (last, n) = (all.len() - 1, scales.clamp(1, all.len()));
        let picks: Vec<u32> = (0..n).map(|i| all[last - if n == 1 { 0 } else { i * last / (n - 1) }]).collect();
        let resizes =
            picks.into_iter().map(|short| ResizeMode::Size { shortest_edge: short, longest_edge: max_size }).collect();
        Self { flip: true, resizes, batch_size, shuffle: true }
    }

    /// Views per image.
    pub fn views(&self) -> usize {
        self.resizes.len().max(1) * if self.flip { 2 } else { 1 }
    }

    /// A one-line description for the page and the CLI.
    pub fn describe(&self) -> String {
        let sizes: Vec<String> = self
            .resizes
            .iter()
            .map(|r| match r.edges() {
                Some((s, l)) => format!("{s}/{l}"),
                None => "original size".into(),
            })
            .collect();
        format!(
            "keeps {}sizes {} (shortest/longest edge); drops the random crop and the per-step random scale",
            if self.flip { "the horizontal flip and " } else { "" },
            sizes.join(", ")
        )
    }
}

/// One cached view: the last backbone stage `[C, h, w]` and its targets.
struct View {
    features: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
    targets: TargetBoxes,
}

/// A batch of cached features, zero-padded to the largest, with its feature-level mask.
pub struct FeatureBatch {
    /// `[B, C, h, w]`
    pub features: Tensor<4>,
    /// `[B, h, w]`, 1 on real cells.
    pub mask: PixelMask,
}

/// Every training image's cached views, served in (shuffled) batches like [`crate::train::TrainingSet`].
pub struct FeatureCache {
    views: Vec<Vec<View>>,
    config: FeatureCacheConfig,
    rng: Rng,
    order: Vec<usize>,
    epoch: usize,
    cursor: usize,
}

impl FeatureCache {
    /// Runs the backbone of `model` once per image and view.
    pub async fn build(
        model: &InferenceModel,
        images: &[image::RgbImage],
        boxes: &[Vec<BoxAnnotation>],
        config: FeatureCacheConfig,
        rng: Rng,
        device: &Device,
    ) -> Result<Self, ReadbackError> {
        let mut views = Vec::with_capacity(images.len());
        for (i, img) in images.iter().enumerate() {
            let b = boxes.get(i).map(Vec::as_slice).unwrap_or(&[]);
            let mut per_image = Vec::with_capacity(config.views());
            let flips: &[bool] = if config.flip { &[false, true] } else { &[false] };
            for &flip in flips {
                let (img, b) = if flip { hflip(img, b) } else { (img.clone(), b.to_vec()) };
                let resizes = if config.resizes.is_empty() { vec![ResizeMode::None] } else { config.resizes.clone() };
                for resize in resizes {
                    let (img, b) = resize_for_eval(&img, &b, resize);
                    per_image.push(Self::view(model, &img, &b, device).await?);
                }
            }
            views.push(per_image);
        }
        let order = crate::data::training_set::epoch_order(images.len(), config.shuffle, &rng, 0);
        Ok(Self { views, config, rng, order, epoch: 0, cursor: 0 })
    }

    async fn view(
        model: &InferenceModel,
        img: &image::RgbImage,
        boxes: &[BoxAnnotation],
        device: &Device,
    ) -> Result<View, ReadbackError> {
        let batch = pad_batch(std::slice::from_ref(img));
        let pixels =
            Tensor::<4>::from_data(TensorData::new(batch.pixel_values, [1, 3, batch.height, batch.width]), device);
        let last = model.backbone(pixels, Stages::Last).pop().expect("the backbone has stages");
        let [_, channels, height, width] = last.dims();
        let features = read_floats(last.reshape([channels * height * width]), "backbone features").await?;
        let targets = TargetBoxes::from_annotations(boxes, img.width(), img.height());
        Ok(View { features, channels, height, width, targets })
    }

    pub fn len(&self) -> usize {
        self.views.len()
    }

    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.views.len().div_ceil(self.config.batch_size.max(1))
    }

    /// The run's generator (epoch `e` draws from `rng().fork(e)`, as [`crate::train::TrainingSet`]).
    pub fn rng(&self) -> &Rng {
        &self.rng
    }

    /// `(epoch, batch within the epoch)` of the next batch.
    pub fn position(&self) -> (usize, usize) {
        (self.epoch, self.cursor / self.config.batch_size.max(1))
    }

    /// Moves to batch `batch` of epoch `epoch` (the start of the epoch when `batch` is past its end).
    pub fn seek(&mut self, epoch: usize, batch: usize) {
        if epoch != self.epoch {
            self.order =
                crate::data::training_set::epoch_order(self.views.len(), self.config.shuffle, &self.rng, epoch);
            self.epoch = epoch;
        }
        self.cursor = if batch < self.steps_per_epoch() { batch * self.config.batch_size.max(1) } else { 0 };
    }

    /// Bytes held on the host.
    pub fn bytes(&self) -> usize {
        self.views.iter().flatten().map(|v| v.features.len() * 4).sum()
    }

    /// The next batch on `device`, its targets, and whether it ends the epoch. Panics on an empty cache.
    pub fn next_batch(&mut self, device: &Device) -> (FeatureBatch, Vec<TargetBoxes>, bool) {
        assert!(!self.views.is_empty(), "an empty feature cache has no batches");
        let end = (self.cursor + self.config.batch_size.max(1)).min(self.order.len());
        let epoch_rng = self.rng.fork(self.epoch as u64);
        let picked: Vec<&View> = (self.cursor..end)
            .map(|position| {
                let views = &self.views[self.order[position]];
                let k = if views.len() > 1 {
                    epoch_rng.fork(position as u64 + 1).below(views.len() as u64) as usize
                } else {
                    0
                };
                &views[k]
            })
            .collect();
        let epoch_done = end == self.order.len();

        let (b, c) = (picked.len(), picked[0].channels);
        let h = picked.iter().map(|v| v.height).max().unwrap_or(0);
        let w = picked.iter().map(|v| v.width).max().unwrap_or(0);
        let mut values = vec![0f32; b * c * h * w];
        let mut mask = vec![0u8; b * h * w];
        for (i, v) in picked.iter().enumerate() {
            for ch in 0..c {
                for y in 0..v.height {
                    let src = (ch * v.height + y) * v.width;
                    let dst = ((i * c + ch) * h + y) * w;
                    values[dst..dst + v.width].copy_from_slice(&v.features[src..src + v.width]);
                }
            }
            for y in 0..v.height {
                mask[(i * h + y) * w..(i * h + y) * w + v.width].fill(1);
            }
        }
        let features = Tensor::from_data(TensorData::new(values, [b, c, h, w]), device);
        let targets = picked.iter().map(|v| v.targets.clone()).collect();
        if epoch_done {
            self.seek(self.epoch + 1, 0);
        } else {
            self.cursor = end;
        }
        (FeatureBatch { features, mask: PixelMask { batch: b, height: h, width: w, data: mask } }, targets, epoch_done)
    }
}
