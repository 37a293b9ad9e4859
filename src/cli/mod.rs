//! Command-line parsing and the sub-commands.

mod bench;
mod common;
mod convert;
mod detect;
mod eval;
mod init;
mod plot;
mod serve;
mod synth;
mod train;

use clap::error::ErrorKind;
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
    /// Write a model with random weights (default: the full-size R50) in the Hugging Face layout.
    Init(init::InitArgs),
    /// Time the forward pass on the CPU.
    Bench(bench::BenchArgs),
    /// Draw columns of a CSV file (e.g. results.csv) against its first column as a PNG line chart.
    Plot(plot::PlotArgs),
    /// Serve the web app (www/ and pkg/) on 127.0.0.1.
    Serve(serve::ServeArgs),
    /// Write the synthetic shapes dataset (COCO JSON + PNGs).
    Synth(synth::SynthArgs),
}

pub fn run() -> anyhow::Result<()> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        // Bad arguments: clap's first line (what is wrong), not its usage block.
        Err(e) => {
            let text = e.render().to_string();
            let first: Vec<&str> =
                text.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
            anyhow::bail!("{} (see --help)", first.join(" ").trim_start_matches("error: "));
        }
    };
    match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Init(args) => init::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Synth(args) => synth::run(args),
    }
}
