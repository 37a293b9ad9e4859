//! The randomness of training, against numbers from outside the code: the generator's known answers
//! (`tests/fixtures/rng/splitmix64.py`, written from the published algorithm), the branch frequencies of the
//! DETR augmentation (flip ½, crop ½, the final short side one of the scales, each about equally often),
//! and `TrainingSet`: shuffled epochs (every image at every place about equally often), the smaller last
//! batch, the epoch boundary, and batches addressed by their place so that a resumed run sees the same ones.
//!
//! Frequencies are checked against binomial bounds of 5 standard deviations around the expected count. The
//! draws are seeded, so a test gives the same counts every time; the bound is what a fair generator meets
//! for all but about one seed in a million.

use cdetr::data::augment::Rng;
use cdetr::data::training_set::{TrainingSet, TrainingSetConfig};
use cdetr::data::{BoxAnnotation, TrainAugment};
use cdetr::preprocess::ResizeMode;
use image::RgbImage;

/// `|count - n p| <= 5 sqrt(n p (1 - p))`.
fn assert_binomial(what: &str, count: usize, n: usize, p: f64) {
    let mean = n as f64 * p;
    let bound = 5.0 * (n as f64 * p * (1.0 - p)).sqrt();
    assert!((count as f64 - mean).abs() <= bound, "{what}: {count} of {n}, expected {mean:.1} ± {bound:.1} (p = {p})");
}

/// SplitMix64's first outputs for seeds 0 and 1234567, as `tests/fixtures/rng/splitmix64.py` prints them
/// from the published algorithm (seed 0 → `0xE220A8397B1DCDAF`; seed 1234567 → 6457827717110365317, the
/// value quoted with the reference C code).
#[test]
fn splitmix64_known_answers() {
    let mut rng = Rng::new(0);
    let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
    assert_eq!(
        got,
        [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC, 0x1B39896A51A8749B]
    );
    let mut rng = Rng::new(1234567);
    let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
    assert_eq!(
        got,
        [0x599ED017FB08FC85, 0x2C73F08458540FA5, 0x883EBCE5A3F27C77, 0x3FBEF740E9177B3F, 0xE3B8346708CB5ECD]
    );
    assert_eq!(got[0], 6457827717110365317);
    // `next_f64` is the top 53 bits over 2^53.
    assert_eq!(Rng::new(0).next_f64(), 0.8833108082136426);
}

/// A 200×50 horizontal ramp (brightness grows with x) and one box.
fn ramp() -> (RgbImage, Vec<BoxAnnotation>) {
    let img = RgbImage::from_fn(200, 50, |x, _| image::Rgb([(x * 255 / 199) as u8; 3]));
    (img, vec![BoxAnnotation { class_id: 0, bbox: [20.0, 10.0, 60.0, 40.0] }])
}

/// The DETR augmentation at `max_size` 100 on a 4:1 image, 2000 draws: the flip (seen as a ramp that falls
/// from left to right) happens about half the time; so does the crop branch, seen by the aspect ratio (the
/// plain resize keeps 4:1; a crop of `[29, 45]` × `[29, 45]` pixels is at most 45:29 ≈ 1.55:1). In the
/// crop branch the final resize is never capped by `max_size`, so its short side is one of the 11 scales,
/// each about 1/11 of the time; in the plain branch the long side is capped at 100.
#[test]
fn augmentation_branch_frequencies() {
    let aug = TrainAugment::new(100);
    assert_eq!((aug.crop_min, aug.crop_max), (29, 45));
    assert_eq!(aug.crop_resize_scales, vec![30, 38, 45]);
    let (img, boxes) = ramp();
    let n = 2000;
    let (mut flips, mut crops) = (0, 0);
    let mut per_scale = vec![0usize; aug.scales.len()];
    let mut rng = Rng::new(20261202);
    for _ in 0..n {
        let (out, _) = aug.apply(&img, &boxes, &mut rng);
        let (w, h) = out.dimensions();
        let left = out.get_pixel(0, h / 2).0[0];
        let right = out.get_pixel(w - 1, h / 2).0[0];
        assert_ne!(left, right, "a ramp of at least 29 pixels keeps its slope");
        if left > right {
            flips += 1;
        }
        let aspect = w as f64 / h as f64;
        if aspect < 2.0 {
            crops += 1;
            assert!(aspect <= 45.0 / 29.0 + 0.1, "crop branch aspect {aspect}");
            let short = w.min(h);
            let k = aug.scales.iter().position(|&s| s == short);
            let k = k.unwrap_or_else(|| panic!("short side {short} of {w}×{h} is not one of {:?}", aug.scales));
            per_scale[k] += 1;
        } else {
            assert_eq!((w, h), (100, 25), "the plain resize keeps 4:1 and caps the long side");
        }
    }
    assert_binomial("flips", flips, n, 0.5);
    assert_binomial("crop branch", crops, n, 0.5);
    for (scale, &count) in aug.scales.iter().zip(&per_scale) {
        assert_binomial(&format!("final short side {scale}"), count, crops, 1.0 / aug.scales.len() as f64);
    }
}

/// Five images told apart by their widths (10, 11, ..., 14 pixels), no augmentation.
fn five_images() -> (Vec<RgbImage>, Vec<Vec<BoxAnnotation>>) {
    let images = (0..5).map(|i| RgbImage::from_pixel(10 + i, 8, image::Rgb([40 * i as u8; 3]))).collect();
    let boxes = (0..5).map(|i| vec![BoxAnnotation { class_id: i, bbox: [1.0, 1.0, 5.0, 5.0] }]).collect();
    (images, boxes)
}

/// The images of each batch, by index, and whether it ended the epoch.
fn next_indices(set: &mut TrainingSet) -> (Vec<usize>, bool) {
    let (batch, targets, done) = set.next_batch();
    assert_eq!(batch.batch, targets.len());
    let indices: Vec<usize> = batch.image_sizes.iter().map(|&(_, w)| w - 10).collect();
    for (t, &i) in targets.iter().zip(&indices) {
        assert_eq!(t.labels, vec![i], "each image keeps its own boxes");
    }
    (indices, done)
}

/// Batches of 2 over 5 images: [2, 2, 1] per epoch, the epoch ends on the third, every epoch is a
/// permutation; without shuffling the order is the dataset's; with it, over 1000 epochs every image sits at
/// every place about 1/5 of the time (a Fisher–Yates off by one, or a shuffle that only rotates, fails).
#[test]
fn training_set_shuffles_epochs_and_keeps_the_smaller_last_batch() {
    let (images, boxes) = five_images();
    let mut plain = TrainingSet::new(
        images.clone(),
        boxes.clone(),
        TrainingSetConfig { batch_size: 2, augment: None, resize: ResizeMode::None, shuffle: false },
        Rng::new(3),
    );
    assert_eq!(plain.steps_per_epoch(), 3);
    for _ in 0..2 {
        assert_eq!(next_indices(&mut plain), (vec![0, 1], false));
        assert_eq!(next_indices(&mut plain), (vec![2, 3], false));
        assert_eq!(next_indices(&mut plain), (vec![4], true));
    }

    let mut set = TrainingSet::new(
        images,
        boxes,
        TrainingSetConfig { batch_size: 2, augment: None, resize: ResizeMode::None, shuffle: true },
        Rng::new(3),
    );
    let epochs = 1000;
    let mut at = [[0usize; 5]; 5];
    let mut orders = std::collections::HashSet::new();
    for epoch in 0..epochs {
        let mut order = Vec::new();
        for (k, size) in [2, 2, 1].into_iter().enumerate() {
            assert_eq!(set.position(), (epoch, k));
            let (indices, done) = next_indices(&mut set);
            assert_eq!((indices.len(), done), (size, k == 2), "epoch {epoch} batch {k}");
            order.extend(indices);
        }
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4], "epoch {epoch} is a permutation");
        for (place, &i) in order.iter().enumerate() {
            at[i][place] += 1;
        }
        orders.insert(order);
    }
    for (i, places) in at.iter().enumerate() {
        for (place, &count) in places.iter().enumerate() {
            assert_binomial(&format!("image {i} at place {place}"), count, epochs, 0.2);
        }
    }
    assert!(orders.len() > 100, "only {} different orders in {epochs} epochs", orders.len());
}

/// Batches are addressed by (epoch, batch): a set moved to any place (as a resumed run is) gives the batches
/// the uninterrupted set gave there, augmentation and shuffling included, and two seeds differ.
#[test]
fn training_set_batches_depend_only_on_their_place() {
    let (img, boxes) = ramp();
    let images: Vec<RgbImage> =
        (0..5).map(|i| image::imageops::crop_imm(&img, 10 * i, 0, 150, 50).to_image()).collect();
    let boxes = vec![boxes; 5];
    let make = |seed| {
        let config = TrainingSetConfig {
            batch_size: 2,
            augment: Some(TrainAugment::new(100)),
            resize: ResizeMode::None,
            shuffle: true,
        };
        TrainingSet::new(images.clone(), boxes.clone(), config, Rng::new(seed))
    };
    let mut continuous = make(11);
    let mut seen = Vec::new();
    for epoch in 0..3 {
        for k in 0..3 {
            let (batch, targets, done) = continuous.next_batch();
            assert_eq!(done, k == 2);
            seen.push((epoch, k, batch.pixel_values, targets));
        }
    }
    for (epoch, k, pixels, targets) in seen.iter().rev() {
        let mut resumed = make(11);
        resumed.seek(*epoch, *k);
        assert_eq!(resumed.position(), (*epoch, *k));
        let (batch, t, _) = resumed.next_batch();
        assert!(batch.pixel_values == *pixels && t == *targets, "epoch {epoch} batch {k} differs after a seek");
    }
    let mut other = make(12);
    let differs = seen.iter().any(|(_, _, pixels, _)| other.next_batch().0.pixel_values != *pixels);
    assert!(differs, "seeds 11 and 12 gave the same batches");
}

/// Each sample of an epoch draws its own augmentation: six copies of one image, batches of 2, give several
/// different augmented samples among those at the same place in their batch (a generator keyed by the place
/// in the batch instead of the place in the epoch would give the first sample of every batch one draw).
#[test]
fn samples_of_an_epoch_draw_their_own_augmentation() {
    let (img, boxes) = ramp();
    let config = TrainingSetConfig {
        batch_size: 2,
        augment: Some(TrainAugment::new(100)),
        resize: ResizeMode::None,
        shuffle: true,
    };
    let mut set = TrainingSet::new(vec![img; 6], vec![boxes; 6], config, Rng::new(5));
    for epoch in 0..3 {
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let (batch, targets, _) = set.next_batch();
            firsts.push((batch.image_sizes[0], targets[0].clone()));
        }
        let distinct = (0..3).filter(|&i| firsts[..i].iter().all(|f| *f != firsts[i])).count();
        assert!(distinct >= 2, "epoch {epoch}: the first samples of its three batches are augmented alike");
    }
}
