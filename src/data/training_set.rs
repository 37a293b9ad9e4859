//! The training data loader over labeled images in memory (official `DataLoader` with a random sampler
//! and `collate_fn`): shuffled, augmented, padded batches addressed by (epoch, batch), so a resumed run
//! sees the batches of the uninterrupted one.

use crate::data::augment::{Rng, TrainAugment, resize_for_eval};
use crate::data::{BoxAnnotation, TargetBoxes, collate};
use crate::preprocess::{Batch, ResizeMode};

/// How a [`TrainingSet`] serves its images.
#[derive(Debug, Clone)]
pub struct TrainingSetConfig {
    /// Images per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// The training augmentation; `None` resizes with `resize` only (deterministic input).
    pub augment: Option<TrainAugment>,
    /// The resize without augmentation.
    pub resize: ResizeMode,
    /// Shuffle every epoch (off for reproducing a reference step).
    pub shuffle: bool,
}

impl Default for TrainingSetConfig {
    /// One image per batch, the official augmentation at full size, shuffled.
    fn default() -> Self {
        Self {
            batch_size: 1,
            augment: Some(TrainAugment::new(crate::data::augment::DETR_MAX_SIZE)),
            resize: ResizeMode::Default,
            shuffle: true,
        }
    }
}

/// Labeled images in memory, served as augmented, padded batches (official `DataLoader` with a random
/// sampler; the last, smaller batch of an epoch is kept).
///
/// Randomness is addressed, not streamed: epoch `e` is shuffled by `rng.fork(e)` and the sample at position
/// `p` of that epoch is augmented by `rng.fork(e).fork(p + 1)` ([`Rng::fork`]), so the batches of a step
/// depend only on the seed, the epoch and the step's place in it, and [`TrainingSet::seek`] (which
/// [`crate::train::Batches::step`] calls to follow the trainer) resumes a run exactly, at an epoch boundary or inside one.
pub struct TrainingSet {
    images: Vec<image::RgbImage>,
    boxes: Vec<Vec<BoxAnnotation>>,
    batch_size: usize,
    augment: Option<TrainAugment>,
    resize: ResizeMode,
    shuffle: bool,
    rng: Rng,
    order: Vec<usize>,
    epoch: usize,
    cursor: usize,
}

impl TrainingSet {
    /// Images with their boxes (pixels), served as `config` says. `rng` is the run's generator (the same
    /// seed gives the same batches).
    pub fn new(
        images: Vec<image::RgbImage>,
        boxes: Vec<Vec<BoxAnnotation>>,
        config: TrainingSetConfig,
        rng: Rng,
    ) -> Self {
        let TrainingSetConfig { batch_size, augment, resize, shuffle } = config;
        let order = epoch_order(images.len(), shuffle, &rng, 0);
        Self { images, boxes, batch_size: batch_size.max(1), augment, resize, shuffle, rng, order, epoch: 0, cursor: 0 }
    }

    /// The run's generator (the step's dropout seed derives from it too).
    pub fn rng(&self) -> &Rng {
        &self.rng
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.images.len().div_ceil(self.batch_size)
    }

    /// `(epoch, batch within the epoch)` of the next batch.
    pub fn position(&self) -> (usize, usize) {
        (self.epoch, self.cursor / self.batch_size)
    }

    /// Moves to batch `batch` of epoch `epoch` (the start of the epoch when `batch` is past its end).
    pub fn seek(&mut self, epoch: usize, batch: usize) {
        if epoch != self.epoch {
            self.order = epoch_order(self.images.len(), self.shuffle, &self.rng, epoch);
            self.epoch = epoch;
        }
        self.cursor = if batch < self.steps_per_epoch() { batch * self.batch_size } else { 0 };
    }

    /// The next batch, and whether it ends the epoch. Panics on an empty set (callers check).
    pub fn next_batch(&mut self) -> (Batch, Vec<TargetBoxes>, bool) {
        assert!(!self.images.is_empty(), "an empty training set has no batches");
        let end = (self.cursor + self.batch_size).min(self.order.len());
        let mut images = Vec::with_capacity(end - self.cursor);
        let mut boxes = Vec::with_capacity(end - self.cursor);
        let epoch_rng = self.rng.fork(self.epoch as u64);
        for (position, &i) in self.order.iter().enumerate().take(end).skip(self.cursor) {
            let (img, b) = match &self.augment {
                Some(aug) => aug.apply(&self.images[i], &self.boxes[i], &mut epoch_rng.fork(position as u64 + 1)),
                None => resize_for_eval(&self.images[i], &self.boxes[i], self.resize),
            };
            images.push(img);
            boxes.push(b);
        }
        let epoch_done = end == self.order.len();
        if epoch_done {
            self.seek(self.epoch + 1, 0);
        } else {
            self.cursor = end;
        }
        let (batch, targets) = collate(images, boxes);
        (batch, targets, epoch_done)
    }
}

/// The sample order of an epoch: `0..n`, shuffled by `rng.fork(epoch)` when `shuffle` (see [`TrainingSet`]).
pub fn epoch_order(n: usize, shuffle: bool, rng: &Rng, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        rng.fork(epoch as u64).shuffle(&mut order);
    }
    order
}
