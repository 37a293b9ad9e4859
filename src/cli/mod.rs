//! Command-line parsing and the sub-commands.

mod bench;
mod common;
mod convert;
mod detect;
mod eval;
mod serve;
mod synth;
mod train;

use clap::{Parser, Subcommand};

/// Conditional DETR object detection: inference, fine-tuning and the browser app.
#[derive(Parser)]
#[command(name = "cdetr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect objects in images and print (or save) the detections as JSON.
    Detect(detect::DetectArgs),
    /// Convert a checkpoint (HF safetensors, official .pth/.safetensors, Burnpack) to Burnpack or HF safetensors.
    Convert(convert::ConvertArgs),
    /// Fine-tune (or train from scratch) on a COCO, Pascal VOC or YOLO dataset.
    Train(train::TrainArgs),
    /// COCO box AP of a model on a labeled dataset.
    Eval(eval::EvalArgs),
    /// Time the forward pass on the CPU.
    Bench(bench::BenchArgs),
    /// Serve the web app (www/ and pkg/) on 127.0.0.1.
    Serve(serve::ServeArgs),
    /// Write the synthetic shapes dataset (COCO JSON + PNGs).
    Synth(synth::SynthArgs),
}

pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Detect(args) => detect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Synth(args) => synth::run(args),
    }
}
