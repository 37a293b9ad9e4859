//! How much memory a detection or a fine-tuning step needs, estimated before it starts, so the page can
//! say what to change instead of letting the engine die at the WebAssembly 4 GiB limit or at the WebGPU
//! adapter's buffer limits.
//!
//! The estimate is empirical: the peak resident memory of `cdetr detect` / `cdetr train` with the
//! full-size R50 on Burn's CPU backend (the one the page's CPU fallback runs) was measured at several input
//! sizes and batch sizes (the table in the README, `scripts/measure_memory.sh`), and is linear in the
//! number of input pixels within a few per cent. Other configurations scale the fixed part by their
//! parameter count and the per-pixel part by their backbone's activation volume ([`activation_units`]).
//! The largest single tensor ([`largest_tensor_bytes`]) is what a WebGPU buffer must hold.

use crate::ConditionalDetrConfig;
use crate::model::backbone::ResNetConfig;

/// What runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Workload {
    /// One image through the network.
    Detect { height: usize, width: usize },
    /// One training step on `batch` images of (at most) `height × width`.
    Train { height: usize, width: usize, batch: usize, backbone: BackboneTraining },
}

/// How much of the backbone a training step runs and differentiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackboneTraining {
    /// `layer2` … `layer4` trained (the official recipe for a pretrained checkpoint) or all of it.
    Trained,
    /// Frozen: the backbone runs forward only, every step.
    Frozen,
    /// Fast mode: the backbone's features are cached; a step runs the transformer and heads only.
    Cached,
}

/// Measured on the R50 (43.4 M parameters, [`activation_units`] of `resnet50`): bytes that do not depend
/// on the input (weights, the checkpoint being read, gradients and AdamW moments, the packed CPU
/// backbone) in multiples of the parameter bytes, and bytes per input pixel.
struct Fit {
    fixed_per_param_byte: f64,
    bytes_per_pixel: f64,
}

const DETECT: Fit = Fit { fixed_per_param_byte: 3.6, bytes_per_pixel: 220.0 };
const TRAIN_TRAINED: Fit = Fit { fixed_per_param_byte: 9.1, bytes_per_pixel: 1640.0 };
/// Not measured: the cached step's fit plus a forward pass of the backbone.
const TRAIN_FROZEN: Fit = Fit { fixed_per_param_byte: 5.6, bytes_per_pixel: 940.0 + 220.0 };
const TRAIN_CACHED: Fit = Fit { fixed_per_param_byte: 5.6, bytes_per_pixel: 940.0 };

/// Estimated peak memory in bytes of `workload` for a model of `config` with `params` values.
pub fn estimate_peak_bytes(backbone: &ResNetConfig, params: usize, workload: Workload) -> u64 {
    let (fit, pixels) = match workload {
        Workload::Detect { height, width } => (&DETECT, height * width),
        Workload::Train { height, width, batch, backbone } => (
            match backbone {
                BackboneTraining::Trained => &TRAIN_TRAINED,
                BackboneTraining::Frozen => &TRAIN_FROZEN,
                BackboneTraining::Cached => &TRAIN_CACHED,
            },
            batch * height * width,
        ),
    };
    let r50 = ResNetConfig::from_name("resnet50", false).expect("resnet50 is a known layout");
    let scale = activation_units(backbone) / activation_units(&r50);
    let fixed = fit.fixed_per_param_byte * 4.0 * params as f64;
    let per_pixel = fit.bytes_per_pixel * scale;
    (fixed + per_pixel * pixels as f64) as u64
}

/// The output stride of each ResNet stage: 4, 8, 16, 32 (16 for the last with DC5).
pub fn stage_strides(backbone: &ResNetConfig) -> [f64; 4] {
    [4.0, 8.0, 16.0, if backbone.dilation { 16.0 } else { 32.0 }]
}

/// Channels of every convolution output of the backbone per input pixel (`Σ C / stride²`): the volume of
/// activations a forward pass writes, relative between configurations.
pub fn activation_units(backbone: &ResNetConfig) -> f64 {
    let stem = backbone.stem_width as f64;
    // The 7×7/2 convolution, then the 3×3/2 max-pool.
    let mut units = stem / 4.0 + stem / 16.0;
    let mut stride = 4.0f64;
    for (stage, next) in stage_strides(backbone).into_iter().enumerate() {
        let width = backbone.widths[stage] as f64;
        for block in 0..backbone.blocks[stage] {
            // conv1 at the stage's input resolution for its first block, then conv2, conv3 (+ downsample).
            let conv1_stride = if block == 0 { stride } else { next };
            units += width / (conv1_stride * conv1_stride) + (width + 4.0 * width) / (next * next);
            if block == 0 {
                units += 4.0 * width / (next * next);
            }
        }
        stride = next;
    }
    units
}

/// The largest single tensor (bytes) a forward pass over `batch` images of `height × width` creates: a
/// backbone activation, an encoder self-attention or decoder cross-attention map, or a feed-forward
/// activation. A WebGPU storage buffer must hold it (Burn's kernels may also allocate workspaces).
pub fn largest_tensor_bytes(
    config: &ConditionalDetrConfig,
    backbone: &ResNetConfig,
    height: usize,
    width: usize,
    batch: usize,
) -> u64 {
    let pixels = (height * width) as f64;
    let stem = backbone.stem_width as f64 * pixels / 4.0;
    let mut largest = stem;
    let strides = stage_strides(backbone);
    for (stage, stride) in strides.into_iter().enumerate() {
        largest = largest.max(4.0 * backbone.widths[stage] as f64 * pixels / (stride * stride));
    }
    let stride = strides[3];
    let tokens = (height as f64 / stride).ceil() * (width as f64 / stride).ceil();
    largest = largest
        .max(config.encoder_attention_heads as f64 * tokens * tokens)
        .max(config.decoder_attention_heads as f64 * config.num_queries as f64 * tokens)
        .max(config.encoder_ffn_dim as f64 * tokens);
    (largest * batch as f64 * 4.0) as u64
}

/// What the platform allows: the memory one engine may use in all (the WebAssembly heap: 4 GiB) and the
/// largest buffer (the WebGPU adapter's `maxStorageBufferBindingSize`); `None` where there is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub total_bytes: Option<u64>,
    pub buffer_bytes: Option<u64>,
}

/// The 4 GiB a 32-bit WebAssembly module can address.
pub const WASM_HEAP_BYTES: u64 = 4 << 30;

/// A workload that does not fit, with what would.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} needs {needs}, more than {limit}: {advice}")]
pub struct TooBig {
    pub what: String,
    pub needs: String,
    pub limit: String,
    pub advice: String,
}

/// The model a check is about.
#[derive(Debug, Clone, Copy)]
pub struct ModelSize<'a> {
    pub config: &'a ConditionalDetrConfig,
    pub backbone: &'a ResNetConfig,
    /// Parameter values (weights and buffers).
    pub params: usize,
}

impl ModelSize<'_> {
    fn fits(&self, workload: Workload, limits: Limits) -> Result<(), (String, String)> {
        let (height, width, batch) = match workload {
            Workload::Detect { height, width } => (height, width, 1),
            Workload::Train { height, width, batch, .. } => (height, width, batch),
        };
        if let Some(limit) = limits.total_bytes {
            let needs = estimate_peak_bytes(self.backbone, self.params, workload);
            if needs > limit {
                return Err((format!("about {}", gb(needs)), format!("the {} this engine can use", gb(limit))));
            }
        }
        if let Some(limit) = limits.buffer_bytes {
            let needs = largest_tensor_bytes(self.config, self.backbone, height, width, batch);
            if needs > limit {
                return Err((
                    format!("a {} buffer", mb(needs)),
                    format!("the {} the WebGPU adapter allows in one buffer", mb(limit)),
                ));
            }
        }
        Ok(())
    }

    /// Whether detection at `height × width` fits in `limits`; the error says which input size would.
    pub fn check_detect(&self, height: usize, width: usize, limits: Limits) -> Result<(), TooBig> {
        let Err((needs, limit)) = self.fits(Workload::Detect { height, width }, limits) else { return Ok(()) };
        let shorter = (1..=16)
            .map(|k| 1.0 - k as f64 / 20.0)
            .map(|f| ((height as f64 * f) as usize, (width as f64 * f) as usize))
            .find(|&(h, w)| self.fits(Workload::Detect { height: h, width: w }, limits).is_ok());
        let advice = match shorter {
            Some((h, w)) => format!("choose an input size of at most {} pixels (shortest edge)", h.min(w)),
            None => "this model is too large for this device".into(),
        };
        Err(TooBig { what: format!("Detection at {width}×{height}"), needs, limit, advice })
    }

    /// Whether a training step on `batch` images of up to `height × width` (the largest image of the set at
    /// the chosen max size) fits; the error lists the batch size, max size or fast mode that would.
    pub fn check_train(
        &self,
        height: usize,
        width: usize,
        batch: usize,
        backbone: BackboneTraining,
        limits: Limits,
    ) -> Result<(), TooBig> {
        let at = |height, width, batch, backbone| Workload::Train { height, width, batch, backbone };
        let Err((needs, limit)) = self.fits(at(height, width, batch, backbone), limits) else { return Ok(()) };
        let mut advice = Vec::new();
        if let Some(b) = (1..batch).rev().find(|&b| self.fits(at(height, width, b, backbone), limits).is_ok()) {
            advice.push(format!("a batch size of {b}"));
        }
        let longest = height.max(width);
        if let Some(size) = (4..longest / 32).rev().map(|k| k * 32).find(|&s| {
            let (h, w) = (height * s / longest, width * s / longest);
            self.fits(at(h, w, batch, backbone), limits).is_ok()
        }) {
            advice.push(format!("a max size of {size}"));
        }
        if backbone != BackboneTraining::Cached
            && self.fits(at(height, width, batch, BackboneTraining::Cached), limits).is_ok()
        {
            advice.push("the fast mode (a frozen backbone, features computed once)".into());
        }
        let advice = if advice.is_empty() {
            "this model is too large to fine-tune on this device".into()
        } else {
            format!("choose {}", advice.join(", or "))
        };
        let what = format!(
            "A fine-tuning step on {batch} image{} of up to {width}×{height}",
            if batch == 1 { "" } else { "s" }
        );
        Err(TooBig { what, needs, limit, advice })
    }
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R50_PARAMS: usize = 43_418_401;

    fn r50() -> (ConditionalDetrConfig, ResNetConfig) {
        (ConditionalDetrConfig::default(), ResNetConfig::from_name("resnet50", false).unwrap())
    }

    /// The peaks measured with `scripts/measure_memory.sh` (R50, Burn's CPU backend, 2026-12-02; GNU time's
    /// maximum resident set in KiB): the fit stays within −10 % and +20 % of each (worst: −7.6 %, +15.4 %).
    #[test]
    fn estimates_follow_the_measured_r50_peaks() {
        let (_, backbone) = r50();
        let train = |h, w, batch, backbone| Workload::Train { height: h, width: w, batch, backbone };
        let cases = [
            (Workload::Detect { height: 800, width: 1333 }, 838_800.0),
            (Workload::Detect { height: 480, width: 800 }, 691_740.0),
            (train(384, 512, 1, BackboneTraining::Trained), 1_795_380.0),
            (train(384, 512, 2, BackboneTraining::Trained), 2_104_296.0),
            (train(600, 800, 1, BackboneTraining::Trained), 2_501_420.0),
            (train(600, 800, 2, BackboneTraining::Trained), 2_669_540.0),
            (train(384, 512, 1, BackboneTraining::Cached), 1_143_160.0),
            (train(384, 512, 2, BackboneTraining::Cached), 1_278_204.0),
            (train(600, 800, 1, BackboneTraining::Cached), 1_428_504.0),
            (train(600, 800, 2, BackboneTraining::Cached), 1_843_688.0),
        ];
        for (workload, measured_kib) in cases {
            let estimate = estimate_peak_bytes(&backbone, R50_PARAMS, workload) as f64;
            // Never more than 10 % low (a low estimate lets a setting through that then fails), at most 20 % high.
            let ratio = estimate / (measured_kib * 1024.0);
            assert!(
                (0.9..1.2).contains(&ratio),
                "{workload:?}: estimated {estimate:.0} B, measured {measured_kib} KiB"
            );
        }
    }

    #[test]
    fn activation_units_grow_with_the_backbone() {
        let units = |name| activation_units(&ResNetConfig::from_name(name, false).unwrap());
        assert!(units("resnet101") > units("resnet50"));
        assert!(units("resnet50") > 2.0 * units("resnet_cdetr_tiny_a"));
        let dc5 = activation_units(&ResNetConfig::from_name("resnet50", true).unwrap());
        assert!(dc5 > units("resnet50"), "DC5 keeps the last stage at stride 16");
    }

    /// Too big a setting is refused with advice, and every setting advised fits.
    #[test]
    fn refusals_advise_settings_that_fit() {
        let (config, backbone) = r50();
        let size = ModelSize { config: &config, backbone: &backbone, params: R50_PARAMS };
        let heap = Limits { total_bytes: Some(WASM_HEAP_BYTES), buffer_bytes: None };
        assert!(size.check_detect(800, 1333, heap).is_ok());
        assert!(size.check_train(600, 800, 2, BackboneTraining::Trained, heap).is_ok());
        let err = size.check_train(1000, 1333, 4, BackboneTraining::Trained, heap).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("1333×1000") && text.contains("more than the 4.3 GB"), "{text}");
        assert!(text.contains("a batch size of 1") && text.contains("max size of"), "{text}");
        assert!(!text.contains("fast mode"), "the fast mode does not fit 4 such images either: {text}");
        let two = size.check_train(1000, 1333, 2, BackboneTraining::Trained, heap).unwrap_err().to_string();
        assert!(two.contains("fast mode"), "{two}");
        assert!(size.check_train(1000, 1333, 2, BackboneTraining::Cached, heap).is_ok());
        let advised_size: usize = text
            .split("max size of ")
            .nth(1)
            .unwrap()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let (h, w) = (1000 * advised_size / 1333, advised_size);
        assert!(size.check_train(h, w, 4, BackboneTraining::Trained, heap).is_ok());
        assert!(
            size.check_train(h + 64, w + 86, 4, BackboneTraining::Trained, heap).is_err(),
            "the advice is not the largest size"
        );
        assert!(size.check_train(1000, 1333, 1, BackboneTraining::Trained, heap).is_ok());

        // WebGPU: a 128 MiB storage-buffer limit (the WebGPU default) holds one 1333×1000 image's layer1
        // output (256 channels at stride 4: 85 MB) but not two.
        let gpu = Limits { total_bytes: None, buffer_bytes: Some(128 << 20) };
        assert!(size.check_train(1000, 1333, 1, BackboneTraining::Trained, gpu).is_ok());
        let err = size.check_train(1000, 1333, 2, BackboneTraining::Trained, gpu).unwrap_err().to_string();
        assert!(err.contains("buffer") && err.contains("a batch size of 1"), "{err}");
        let largest = largest_tensor_bytes(&config, &backbone, 1000, 1333, 1) as f64;
        assert!((largest - 256.0 * 1000.0 * 1333.0 / 16.0 * 4.0).abs() < 1e3, "{largest}");
    }
}
