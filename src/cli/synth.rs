//! `cdetr synth`: writes the synthetic shapes dataset (circles, squares, triangles on noisy backgrounds)
//! as COCO JSON + PNG images, for training from scratch and for demos.

use std::path::PathBuf;

use anyhow::{Result, bail};
use cdetr::data::native::write_coco_dataset;
use cdetr::data::synth_dataset;
use clap::Args;

#[derive(Args)]
pub struct SynthArgs {
    /// Output folder (annotations.json + images/).
    #[arg(long)]
    output: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 200)]
    images: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    size: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: SynthArgs) -> Result<()> {
    if args.images == 0 || args.size < 16 {
        bail!("need at least one image of at least 16×16 pixels");
    }
    let (dataset, images) = synth_dataset(args.seed, args.images, args.size, args.size);
    let json = write_coco_dataset(&args.output, &dataset, &images)?;
    eprintln!("{}: {}", json.display(), dataset.summary());
    Ok(())
}
