//! `cdetr plot`: draws columns of a CSV file against its first column as a PNG line chart, e.g. the AP
//! of `results.csv` over the epochs, or `scripts/convergence.sh`'s mean AP per model
//! ([`cdetr::plot::line_chart`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use cdetr::plot::{CsvColumns, LineChart, line_chart};
use clap::Args;

#[derive(Args)]
pub struct PlotArgs {
    /// CSV file with a header row; its first column is the x axis (e.g. `results.csv`'s epoch).
    csv: PathBuf,
    /// PNG file to write.
    #[arg(long)]
    output: PathBuf,
    /// Columns to draw, comma-separated (default: every column after the first).
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Title above the chart.
    #[arg(long, default_value = "")]
    title: String,
    /// Name of the y axis.
    #[arg(long, default_value = "")]
    y_label: String,
}

pub fn run(args: PlotArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.csv).with_context(|| format!("could not read {}", args.csv.display()))?;
    let table = CsvColumns::parse(&text).with_context(|| format!("{} is not a CSV table", args.csv.display()))?;
    let series = table.series(&args.columns).with_context(|| args.csv.display().to_string())?;
    let img = line_chart(&LineChart {
        title: &args.title,
        x_label: &table.names[0],
        y_label: &args.y_label,
        x: &table.values[0],
        series: &series,
    });
    img.save_with_format(&args.output, image::ImageFormat::Png)
        .with_context(|| format!("could not write {}", args.output.display()))?;
    eprintln!("wrote {} ({} series, {} points each)", args.output.display(), series.len(), table.values[0].len());
    Ok(())
}
