//! `cdetr init`: writes a model with random weights in the Hugging Face layout (`model.safetensors` +
//! `config.json`), by default the full-size R50 of `microsoft/conditional-detr-resnet-50` (588 keys, 43.4 M
//! values, 174 MB) or, with `--detr`, that of `facebook/detr-resnet-50`.
//!
//! No weights can be downloaded in tests, so this is how the benchmarks and the real-scale browser test get
//! a checkpoint with the real names, shapes and size: its detections mean nothing, its cost is the real one.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cdetr::ConditionalDetrConfig;
use cdetr::model::ConditionalDetr;
use cdetr::weights::{backbone_config, collect_hf_tensors, write_safetensors};
use clap::Args;

use super::common::{cpu, resolve_config};

#[derive(Args)]
pub struct InitArgs {
    /// Output folder (model.safetensors + config.json).
    #[arg(long)]
    output: PathBuf,
    /// Model configuration (default: the R50 COCO configuration of the hub checkpoint).
    #[arg(long, conflicts_with = "detr")]
    config: Option<PathBuf>,
    /// DETR's R50 COCO configuration (`facebook/detr-resnet-50`) instead of Conditional DETR's.
    #[arg(long)]
    detr: bool,
    /// Seed of the random weights (the same seed writes the same file).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: InitArgs) -> Result<()> {
    let config: ConditionalDetrConfig =
        if args.detr { ConditionalDetrConfig::detr() } else { resolve_config(args.config.as_deref(), None)? };
    let device = cpu();
    device.seed(args.seed);
    let model = ConditionalDetr::init(&config, &backbone_config(&config, None)?, &device);
    let tensors = pollster::block_on(collect_hf_tensors(&model))?;
    std::fs::create_dir_all(&args.output).with_context(|| format!("{}: cannot create", args.output.display()))?;
    let weights = args.output.join("model.safetensors");
    let bytes = write_safetensors(&tensors, Some(&config));
    std::fs::write(&weights, &bytes).with_context(|| format!("{}: cannot write", weights.display()))?;
    let config_path = args.output.join("config.json");
    std::fs::write(&config_path, config.to_json())
        .with_context(|| format!("{}: cannot write", config_path.display()))?;
    eprintln!(
        "{} + config.json: {} with random weights (seed {}), {} tensors, {:.1} MB",
        weights.display(),
        config.model_type.architecture(),
        args.seed,
        tensors.len(),
        bytes.len() as f64 / 1e6
    );
    Ok(())
}
