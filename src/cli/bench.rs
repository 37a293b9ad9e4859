//! `cdetr bench`: times the R50 forward pass (random weights) on the CPU.
//!
//! Reports the median over several runs after warm-up, for the whole forward, for each backbone stage, for
//! the encoder and for the decoder with the heads (each part synchronised after it, as the page's profile
//! does), so the split between the ResNet and the transformer is visible. Compare with
//! `scripts/bench_pytorch.py` (HF transformers on the same input and machine).

use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::{Distribution, Tensor};
use cdetr::ConditionalDetrConfig;
use cdetr::model::inference::InferenceModel;
use cdetr::model::mask::PixelMask;
use cdetr::model::{ConditionalDetr, ForwardOptions};
use cdetr::weights::backbone_config;
use clap::Args;
use serde::Serialize;

use super::common::{cpu, resolve_config};

#[derive(Args)]
pub struct BenchArgs {
    /// Input width × height.
    #[arg(long, default_value = "640x480")]
    size: String,
    /// Timed runs (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Model configuration (default: R50 COCO).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Run the backbone through Burn's convolutions instead of the packed CPU kernels.
    #[arg(long)]
    burn_backbone: bool,
}

#[derive(Serialize)]
struct Report {
    backend: &'static str,
    width: usize,
    height: usize,
    runs: usize,
    forward_median_s: f64,
    forward_all_s: Vec<f64>,
    backbone_median_s: f64,
    transformer_and_heads_median_s: f64,
    /// Median time of each backbone stage.
    backbone_stages_s: Vec<(String, f64)>,
    /// Median time of the encoder and of the decoder with the heads.
    transformer_parts_s: Vec<(String, f64)>,
    threads: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

pub fn run(args: BenchArgs) -> Result<()> {
    let Some((w, h)) =
        args.size.split_once('x').and_then(|(w, h)| Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?)))
    else {
        bail!("--size must look like 640x480, got `{}`", args.size)
    };
    if !(32..=8192).contains(&w) || !(32..=8192).contains(&h) {
        bail!("--size: width and height must be 32 to 8192 pixels, got {w}x{h}");
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let config: ConditionalDetrConfig = resolve_config(args.config.as_deref(), None)?;
    let device = cpu();
    let model = ConditionalDetr::init(&config, &backbone_config(&config, None)?, &device);
    let model = if args.burn_backbone { InferenceModel::from_burn(model) } else { InferenceModel::new(model) };
    let input = Tensor::<4>::random([1, 3, h, w], Distribution::Normal(0.0, 1.0), &device);
    let mask = PixelMask::from_sizes(&[(h, w)], h, w);

    let time_forward = || {
        let start = Instant::now();
        let out = model.forward(input.clone(), &mask, ForwardOptions::default());
        let _ = out.last.pred_boxes.into_data();
        start.elapsed().as_secs_f64()
    };
    // Where the time goes: each part synchronised after it (`InferenceModel::forward_profiled`).
    let clock = Instant::now();
    let now = || clock.elapsed().as_secs_f64() * 1e3;
    let profile = || {
        let profiled = model.forward_profiled(input.clone(), &mask, ForwardOptions::default(), &now);
        pollster::block_on(profiled).map(|(_, parts)| parts)
    };
    for _ in 0..args.warmup {
        time_forward();
    }
    let forward: Vec<f64> = (0..args.runs).map(|_| time_forward()).collect();
    let profiles = (0..args.runs).map(|_| profile()).collect::<Result<Vec<_>, _>>()?;
    let f = median(forward.clone());
    let part_median = |i: usize| median(profiles.iter().map(|p| p[i].ms / 1e3).collect());
    let sum_median = |parts: std::ops::Range<usize>| {
        median(profiles.iter().map(|p| p[parts.clone()].iter().map(|t| t.ms / 1e3).sum()).collect())
    };
    // The stem and the four stages, then the encoder and the decoder with the heads.
    let (n, backbone_parts) = (profiles[0].len(), 5);
    let named = |i: usize| (profiles[0][i].name.to_string(), part_median(i));
    let breakdown: Vec<(String, f64)> = (0..backbone_parts).map(named).collect();
    let transformer_parts: Vec<(String, f64)> = (backbone_parts..n).map(named).collect();
    let b = sum_median(0..backbone_parts);
    let report = Report {
        backend: "burn flex (CPU)",
        width: w,
        height: h,
        runs: args.runs,
        forward_median_s: f,
        forward_all_s: forward,
        backbone_median_s: b,
        transformer_and_heads_median_s: sum_median(backbone_parts..n),
        transformer_parts_s: transformer_parts.clone(),
        backbone_stages_s: breakdown.clone(),
        threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "R50 Conditional DETR forward, {w}×{h}, {} (CPU threads: {}): median {:.3} s over {} runs \
             (backbone {:.3} s, transformer + heads {:.3} s)",
            report.backend, report.threads, f, args.runs, b, report.transformer_and_heads_median_s
        );
        let parts: Vec<String> = breakdown.iter().map(|(n, t)| format!("{n} {t:.3} s")).collect();
        println!("backbone stages: {}", parts.join(", "));
        let parts: Vec<String> = transformer_parts.iter().map(|(n, t)| format!("{n} {t:.3} s")).collect();
        println!("transformer: {}", parts.join(", "));
    }
    Ok(())
}
