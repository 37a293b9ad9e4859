//! `cdetr convert`: any supported checkpoint → Burnpack (the browser's compact format, optionally f16) or
//! Hugging Face safetensors + config.json.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cdetr::weights::{collect_hf_tensors, write_burnpack, write_safetensors};
use clap::{Args, ValueEnum};

use super::common::{cpu, load};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Burnpack with the config embedded (what the web page loads).
    Burnpack,
    /// Hugging Face `model.safetensors` (+ `config.json` written beside it).
    Safetensors,
}

#[derive(Args)]
pub struct ConvertArgs {
    /// Input checkpoint.
    input: PathBuf,
    /// Output file.
    #[arg(long)]
    output: PathBuf,
    /// The model's config.json (default: embedded in the checkpoint, else R50 COCO).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "burnpack")]
    format: Format,
    /// Store the weights as f16 (Burnpack only; widened back to f32 on load).
    #[arg(long)]
    half: bool,
}

pub fn run(args: ConvertArgs) -> Result<()> {
    // Loading into the model checks every key and shape before anything is written.
    let loaded = load(&args.input, args.config.as_ref(), &cpu())?;
    let tensors = pollster::block_on(collect_hf_tensors(&loaded.model))?;
    let bytes = match args.format {
        Format::Burnpack => write_burnpack(&tensors, &loaded.config, args.half)?,
        Format::Safetensors => {
            if args.half {
                bail!("--half applies to Burnpack output only");
            }
            let config_path = args.output.with_file_name("config.json");
            std::fs::write(&config_path, loaded.config.to_json())
                .with_context(|| format!("{}: cannot write", config_path.display()))?;
            write_safetensors(&tensors, Some(&loaded.config))
        }
    };
    std::fs::write(&args.output, &bytes).with_context(|| format!("{}: cannot write", args.output.display()))?;
    eprintln!(
        "{} ({}) → {} ({} tensors, {:.1} MB)",
        args.input.display(),
        loaded.checkpoint.format,
        args.output.display(),
        tensors.len(),
        bytes.len() as f64 / 1e6
    );
    Ok(())
}
