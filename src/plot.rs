//! Diagnostics plots drawn with the `image` crate and the [`crate::draw`] font: the per-class
//! precision–recall curves and the confusion matrix that `cdetr eval --plots` writes.
//! No I/O, threads or clocks (builds for `wasm32-unknown-unknown`); nothing panics on odd input
//! (NaN or `-1` precision is left out, empty class lists draw empty axes).

use image::{Rgb, RgbImage};

use crate::draw::{draw_text, palette, text_size};
use crate::eval::ConfusionMatrix;

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const GREY: [u8; 3] = [200, 200, 200];

fn rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
    for y in y0.max(0)..y1.min(img.height() as i64) {
        for x in x0.max(0)..x1.min(img.width() as i64) {
            img.put_pixel(x as u32, y as u32, Rgb(c));
        }
    }
}

/// A line `width` pixels thick from `(x0, y0)` to `(x1, y1)` (sampled every half pixel).
fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), width: i64, c: [u8; 3]) {
    if ![x0, y0, x1, y1].iter().all(|v| v.is_finite()) {
        return;
    }
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()) * 2.0).ceil().clamp(1.0, 1e5) as i64;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = ((x0 + (x1 - x0) * t).round() as i64, (y0 + (y1 - y0) * t).round() as i64);
        rect(img, x - width / 2, y - width / 2, x - width / 2 + width, y - width / 2 + width, c);
    }
}

/// One curve of [`pr_curves`]: a class name, its precision at the recall thresholds
/// (`ClassMetrics::pr50`) and the AP shown in the legend.
pub struct Curve<'a> {
    pub name: &'a str,
    pub precision: &'a [f64],
    pub ap: f64,
}

/// Precision (y) against recall (x) for each class, one colour per class ([`palette`] of its
/// index), with a legend `name AP`; `title` on top. 800×600 pixels.
pub fn pr_curves(title: &str, curves: &[Curve]) -> RgbImage {
    let (w, h) = (800u32, 600u32);
    let mut img = RgbImage::from_pixel(w, h, Rgb(WHITE));
    let (l, t, r, b) = (60i64, 40i64, 560i64, 540i64);
    for i in 0..=10 {
        let x = l + (r - l) * i / 10;
        let y = b - (b - t) * i / 10;
        line(&mut img, (x as f64, t as f64), (x as f64, b as f64), 1, GREY);
        line(&mut img, (l as f64, y as f64), (r as f64, y as f64), 1, GREY);
        let lab = format!("{:.1}", i as f64 / 10.0);
        draw_text(&mut img, x as i32 - 9, b as i32 + 4, &lab, 1, BLACK, None);
        draw_text(&mut img, l as i32 - 24, y as i32 - 5, &lab, 1, BLACK, None);
    }
    line(&mut img, (l as f64, t as f64), (l as f64, b as f64), 2, BLACK);
    line(&mut img, (l as f64, b as f64), (r as f64, b as f64), 2, BLACK);
    draw_text(&mut img, l as i32, 8, title, 2, BLACK, None);
    draw_text(&mut img, ((l + r) / 2) as i32 - 18, b as i32 + 20, "recall", 1, BLACK, None);
    draw_text(&mut img, 4, t as i32 - 16, "precision", 1, BLACK, None);
    for (k, c) in curves.iter().enumerate() {
        let colour = palette(k);
        let n = c.precision.len();
        if n >= 2 {
            let pt = |i: usize| {
                let p = c.precision[i];
                (l as f64 + (r - l) as f64 * i as f64 / (n - 1) as f64, b as f64 - (b - t) as f64 * p)
            };
            for i in 1..n {
                if c.precision[i - 1] >= 0.0 && c.precision[i] >= 0.0 {
                    line(&mut img, pt(i - 1), pt(i), 2, colour);
                }
            }
        }
        let y = t as i32 + 14 * k as i32;
        if y + 14 < h as i32 {
            rect(&mut img, r + 16, y as i64 + 2, r + 28, y as i64 + 12, colour);
            let ap = if c.ap >= 0.0 { format!("{:.3}", c.ap) } else { "-".into() };
            draw_text(&mut img, r as i32 + 32, y, &format!("{} {ap}", c.name), 1, BLACK, None);
        }
    }
    img
}

/// The confusion matrix as a heat map, rows predicted class, columns true class, the last row and
/// column "background"; each column normalised by its total (as Ultralytics' normalised plot),
/// cells showing the raw counts. `names` label the classes (missing names show the category id).
pub fn confusion_matrix(cm: &ConfusionMatrix, names: &[String]) -> RgbImage {
    let n = cm.num_classes() + 1;
    let label = |i: usize| -> String {
        if i + 1 == n {
            "background".into()
        } else {
            names.get(i).cloned().unwrap_or_else(|| cm.category_ids[i].to_string())
        }
    };
    let label_w = (0..n).map(|i| text_size(&label(i), 1).0).max().unwrap_or(0).min(200) as i64 + 8;
    let cell = (640 / n as i64).clamp(14, 64);
    let (l, t) = (label_w + 20, label_w + 40);
    let (w, h) = ((l + cell * n as i64 + 20).max(300), t + cell * n as i64 + 20);
    let mut img = RgbImage::from_pixel(w as u32, h as u32, Rgb(WHITE));
    draw_text(&mut img, 8, 6, "confusion matrix (rows predicted, columns true)", 1, BLACK, None);
    let col_total: Vec<u64> = (0..n).map(|c| (0..n).map(|r| cm.get(r, c).unwrap_or(0)).sum()).collect();
    for r in 0..n {
        for (c, &total) in col_total.iter().enumerate() {
            let v = cm.get(r, c).unwrap_or(0);
            let f = if total > 0 { v as f64 / total as f64 } else { 0.0 };
            // white -> dark blue
            let colour = [(255.0 - 225.0 * f) as u8, (255.0 - 190.0 * f) as u8, (255.0 - 80.0 * f) as u8];
            let (x0, y0) = (l + c as i64 * cell, t + r as i64 * cell);
            rect(&mut img, x0, y0, x0 + cell, y0 + cell, colour);
            rect(&mut img, x0, y0, x0 + cell, y0 + 1, GREY);
            rect(&mut img, x0, y0, x0 + 1, y0 + cell, GREY);
            if v > 0 {
                let s = v.to_string();
                let (tw, th) = text_size(&s, 1);
                let fg = if f > 0.5 { WHITE } else { BLACK };
                draw_text(
                    &mut img,
                    (x0 + (cell - tw as i64) / 2) as i32,
                    (y0 + (cell - th as i64) / 2) as i32,
                    &s,
                    1,
                    fg,
                    None,
                );
            }
        }
    }
    for i in 0..n {
        let s = label(i);
        let (tw, _) = text_size(&s, 1);
        draw_text(
            &mut img,
            (l - 4 - tw as i64) as i32,
            (t + i as i64 * cell + cell / 2 - 6) as i32,
            &s,
            1,
            BLACK,
            None,
        );
        // column labels, vertical: one character per line would be tall; write them staggered
        let y = 22 + (i % 2) as i64 * 12;
        let x = l + i as i64 * cell + cell / 2 - tw as i64 / 2;
        draw_text(&mut img, x as i32, (t - 36 + y - 22) as i32, &s, 1, BLACK, None);
    }
    img
}

/// Where [`series_panel`] draws: the plot area, its title, the x axis's name and the left edge of the
/// legend (inside the area or right of it).
struct Panel<'a> {
    area: (i64, i64, i64, i64),
    title: &'a str,
    x_label: &'a str,
    legend_x: i64,
}

/// One panel: named series against `xs`, the y axis from 0 to the largest finite value (non-finite
/// values are gaps); at most about 16 x tick labels.
fn series_panel<S: AsRef<str>>(img: &mut RgbImage, panel: &Panel, xs: &[f64], series: &[(S, Vec<f64>)]) {
    let (l, t, r, b) = panel.area;
    let top = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.05 } else { 1.0 };
    let first = xs.first().copied().unwrap_or(0.0);
    let span = (xs.last().copied().unwrap_or(1.0) - first).max(1.0);
    for i in 0..=5 {
        let y = b - (b - t) * i / 5;
        line(img, (l as f64, y as f64), (r as f64, y as f64), 1, GREY);
        draw_text(img, l as i32 - 44, y as i32 - 5, &format!("{:.3}", top * i as f64 / 5.0), 1, BLACK, None);
    }
    line(img, (l as f64, t as f64), (l as f64, b as f64), 2, BLACK);
    line(img, (l as f64, b as f64), (r as f64, b as f64), 2, BLACK);
    draw_text(img, l as i32, t as i32 - 22, panel.title, 1, BLACK, None);
    let x = |e: f64| l as f64 + (r - l) as f64 * (e - first) / span;
    for &e in xs.iter().step_by(xs.len().div_ceil(16).max(1)) {
        draw_text(img, x(e) as i32 - 3, b as i32 + 4, &format!("{e:.0}"), 1, BLACK, None);
    }
    let (label_w, _) = text_size(panel.x_label, 1);
    draw_text(img, ((l + r) / 2) as i32 - label_w as i32 / 2, b as i32 + 18, panel.x_label, 1, BLACK, None);
    for (k, (name, values)) in series.iter().enumerate() {
        let colour = palette(k);
        let pt = |i: usize| (x(xs[i]), b as f64 - (b - t) as f64 * values[i] / top);
        let n = values.len().min(xs.len());
        for i in 0..n {
            if !values[i].is_finite() {
                continue;
            }
            rect(img, pt(i).0 as i64 - 2, pt(i).1 as i64 - 2, pt(i).0 as i64 + 3, pt(i).1 as i64 + 3, colour);
            if i > 0 && values[i - 1].is_finite() {
                line(img, pt(i - 1), pt(i), 2, colour);
            }
        }
        let y = t as i32 + 4 + 14 * k as i32;
        rect(img, panel.legend_x, y as i64 + 2, panel.legend_x + 12, y as i64 + 12, colour);
        draw_text(img, panel.legend_x as i32 + 16, y, name.as_ref(), 1, BLACK, None);
    }
}

/// `cdetr train`'s `results.png`: the epoch's mean losses (left) and, when the run validates, AP and
/// AP50 (right), one point per epoch. 1000×420 pixels.
pub fn results(rows: &[crate::results::EpochResult]) -> RgbImage {
    let mut img = RgbImage::from_pixel(1000, 420, Rgb(WHITE));
    let epochs: Vec<f64> = rows.iter().map(|r| r.epoch as f64).collect();
    let col = |f: fn(&crate::results::EpochResult) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let losses = [
        ("loss", col(|r| r.loss)),
        ("loss_ce", col(|r| r.loss_ce)),
        ("loss_bbox", col(|r| r.loss_bbox)),
        ("loss_giou", col(|r| r.loss_giou)),
    ];
    let panel = |area: (i64, i64, i64, i64), title| Panel { area, title, x_label: "epoch", legend_x: area.2 - 120 };
    series_panel(&mut img, &panel((60, 50, 470, 370), "training losses (mean per epoch)"), &epochs, &losses);
    let val = |f: fn(&crate::results::EpochValidation) -> f64| {
        rows.iter().map(|r| r.val.as_ref().map_or(f64::NAN, f)).collect::<Vec<f64>>()
    };
    if rows.iter().any(|r| r.val.is_some()) {
        let aps = [("AP", val(|v| v.ap)), ("AP50", val(|v| v.ap50))];
        series_panel(&mut img, &panel((560, 50, 970, 370), "validation (COCO)"), &epochs, &aps);
    } else {
        draw_text(&mut img, 600, 200, "no validation (cdetr train --val)", 1, BLACK, None);
    }
    img
}

/// Numeric columns of CSV text with a header row, such as `results.csv` or `convergence.sh`'s
/// `convergence.csv`: unquoted cells separated by commas; an empty or non-numeric cell is NaN (a gap).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvColumns {
    pub names: Vec<String>,
    /// One vector per column, one value per data row.
    pub values: Vec<Vec<f64>>,
}

/// What is wrong with the CSV text given to [`CsvColumns::parse`] or the columns asked of it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CsvError {
    #[error("the CSV has no header row")]
    NoHeader,
    #[error("the CSV has a header but no data rows")]
    NoRows,
    #[error("line {line} has {got} cells, the header {want}")]
    Ragged { line: usize, got: usize, want: usize },
    #[error("the first column, `{0}`, holds something other than numbers (it is the x axis)")]
    BadX(String),
    #[error("no column named `{name}`; the columns are {available}")]
    UnknownColumn { name: String, available: String },
}

impl CsvColumns {
    pub fn parse(text: &str) -> Result<Self, CsvError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines.next().ok_or(CsvError::NoHeader)?;
        let names: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
        let mut values = vec![Vec::new(); names.len()];
        for (i, line) in lines {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != names.len() {
                return Err(CsvError::Ragged { line: i + 1, got: cells.len(), want: names.len() });
            }
            for (column, cell) in values.iter_mut().zip(cells) {
                column.push(cell.trim().parse::<f64>().unwrap_or(f64::NAN));
            }
        }
        if values[0].is_empty() {
            return Err(CsvError::NoRows);
        }
        if !values[0].iter().all(|v| v.is_finite()) {
            return Err(CsvError::BadX(names[0].clone()));
        }
        Ok(Self { names, values })
    }

    /// The columns named `wanted` (every column after the first when empty), as chart series.
    pub fn series(&self, wanted: &[String]) -> Result<Vec<(String, Vec<f64>)>, CsvError> {
        if wanted.is_empty() {
            return Ok(self.names.iter().cloned().zip(self.values.iter().cloned()).skip(1).collect());
        }
        wanted
            .iter()
            .map(|name| match self.names.iter().position(|n| n == name) {
                Some(k) => Ok((name.clone(), self.values[k].clone())),
                None => Err(CsvError::UnknownColumn { name: name.clone(), available: self.names.join(", ") }),
            })
            .collect()
    }
}

/// A line chart of named series against one x axis (`cdetr plot`): `title` on top, the y axis from 0 to
/// the largest value, the legend right of the plot. 960×480 pixels.
pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x: &'a [f64],
    pub series: &'a [(String, Vec<f64>)],
}

pub fn line_chart(chart: &LineChart) -> RgbImage {
    let mut img = RgbImage::from_pixel(960, 480, Rgb(WHITE));
    let area = (70, 70, 700, 430);
    let panel = Panel { area, title: "", x_label: chart.x_label, legend_x: area.2 + 24 };
    series_panel(&mut img, &panel, chart.x, chart.series);
    draw_text(&mut img, area.0 as i32, 16, chart.title, 1, BLACK, None);
    draw_text(&mut img, 8, area.1 as i32 - 24, chart.y_label, 1, BLACK, None);
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{ConfusionOptions, Detection, GroundTruth, confusion_matrix as cm_of};

    #[test]
    fn plots_draw_and_survive_odd_input() {
        let p = vec![1.0, 0.8, f64::NAN, -1.0, 0.5];
        let img = pr_curves(
            "PR",
            &[Curve { name: "a", precision: &p, ap: 0.5 }, Curve { name: "b", precision: &[], ap: -1.0 }],
        );
        assert_eq!(img.dimensions(), (800, 600));
        assert!(img.pixels().any(|px| px.0 == palette(0)));
        let gts =
            [GroundTruth { image_id: 0, category_id: 1, bbox: [0.0, 0.0, 10.0, 10.0], area: 100.0, iscrowd: false }];
        let dets = [Detection { image_id: 0, category_id: 1, bbox: [0.0, 0.0, 10.0, 10.0], score: 1.0 }];
        let cm = cm_of(&[0], &[1, 2], &gts, &dets, ConfusionOptions::default()).unwrap();
        let img = confusion_matrix(&cm, &["cat".into()]);
        assert!(img.width() >= 300 && img.height() > 100);
        let empty = cm_of(&[], &[], &[], &[], ConfusionOptions::default()).unwrap();
        let _ = confusion_matrix(&empty, &[]);
    }

    #[test]
    fn csv_columns_read_gaps_and_name_what_is_wrong() {
        let t = CsvColumns::parse("epoch,DETR,CSQ\n1,0.1,\n2,0.2,0.5\n\n").unwrap();
        assert_eq!(t.names, ["epoch", "DETR", "CSQ"]);
        assert_eq!(t.values[1], [0.1, 0.2]);
        assert!(t.values[2][0].is_nan() && t.values[2][1] == 0.5);
        let all = t.series(&[]).unwrap();
        assert_eq!(all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["DETR", "CSQ"]);
        assert_eq!(t.series(&["CSQ".into()]).unwrap()[0].1[1], 0.5);
        assert!(matches!(t.series(&["AP".into()]), Err(CsvError::UnknownColumn { .. })));
        assert_eq!(CsvColumns::parse(""), Err(CsvError::NoHeader));
        assert_eq!(CsvColumns::parse("epoch,a\n"), Err(CsvError::NoRows));
        assert_eq!(CsvColumns::parse("epoch,a\n1,2\n2\n"), Err(CsvError::Ragged { line: 3, got: 1, want: 2 }));
        assert_eq!(CsvColumns::parse("name,a\nx,2\n"), Err(CsvError::BadX("name".into())));
    }

    #[test]
    fn line_chart_draws_each_series_in_its_colour() {
        let x: Vec<f64> = (1..=40).map(f64::from).collect();
        let series = vec![
            ("DETR".to_string(), x.iter().map(|e| e / 400.0).collect()),
            ("CSQ".to_string(), x.iter().map(|e| if *e == 3.0 { f64::NAN } else { e / 100.0 }).collect()),
        ];
        let img = line_chart(&LineChart { title: "AP", x_label: "epoch", y_label: "AP", x: &x, series: &series });
        assert_eq!(img.dimensions(), (960, 480));
        for k in 0..2 {
            let n = img.pixels().filter(|px| px.0 == palette(k)).count();
            assert!(n > 500, "series {k} has only {n} pixels");
        }
        // Nothing at all, and only gaps, still draw (empty axes).
        let _ = line_chart(&LineChart { title: "", x_label: "", y_label: "", x: &[], series: &[] });
        let gaps = vec![("a".to_string(), vec![f64::NAN; 3])];
        let _ = line_chart(&LineChart { title: "", x_label: "", y_label: "", x: &[1.0, 2.0, 3.0], series: &gaps });
    }
}
