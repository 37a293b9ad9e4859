//! Helpers shared by the sub-commands: loading a model with its configuration, reading images.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use cdetr::ConditionalDetrConfig;
use cdetr::model::ConditionalDetr;
use cdetr::weights::{Checkpoint, load_model, read_checkpoint_file};

/// A loaded model and the configuration it was built from.
pub struct Loaded {
    pub model: ConditionalDetr,
    pub config: ConditionalDetrConfig,
    pub checkpoint: Checkpoint,
}

/// Reads `config.json` (explicit file, else the one embedded in the checkpoint, else the R50 COCO default).
pub fn resolve_config(config: Option<&Path>, checkpoint: Option<&Checkpoint>) -> Result<ConditionalDetrConfig> {
    match config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
            Ok(ConditionalDetrConfig::from_json(&text, &path.display().to_string())?)
        }
        None => Ok(checkpoint.and_then(|c| c.config.clone()).unwrap_or_default()),
    }
}

/// Reads a checkpoint and builds the model it describes.
pub fn load(weights: &Path, config: Option<&PathBuf>, device: &Device) -> Result<Loaded> {
    let checkpoint = read_checkpoint_file(weights)?;
    let defaulted = config.is_none() && checkpoint.config.is_none();
    let config = resolve_config(config.map(PathBuf::as_path), Some(&checkpoint))?;
    let model = match load_model(&config, &checkpoint, device) {
        Ok(model) => model,
        Err(e) if defaulted => {
            bail!(
                "{e} (no --config was given, so the R50 COCO configuration was assumed; pass the model's config.json)"
            )
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Loaded { model, config, checkpoint })
}

/// Decodes an image file to RGB.
pub fn read_image(path: &Path) -> Result<image::RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read image", path.display()))?;
    Ok(cdetr::data::decode_image(&bytes, &path.display().to_string())?)
}

/// The CPU device the CLI computes on.
pub fn cpu() -> Device {
    Device::flex()
}
