//! One row per training epoch, as Ultralytics' `results.csv`: the epoch's mean losses, the learning
//! rates at its end, its duration and, when the run validates, the COCO AP of the model after it.
//! `cdetr train` writes these rows (`results.csv`) and draws them ([`crate::plot::results`]).
//! Platform-free, no I/O: text in, text out.

use crate::eval::CocoMetrics;
use crate::train::StepMetrics;

/// Validation numbers of one epoch (`COCOeval.stats` entries).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochValidation {
    pub ap: f64,
    pub ap50: f64,
    pub ap75: f64,
    pub ar100: f64,
}

impl From<&CocoMetrics> for EpochValidation {
    fn from(m: &CocoMetrics) -> Self {
        Self { ap: m.ap, ap50: m.ap50, ap75: m.ap75, ar100: m.ar100 }
    }
}

/// One epoch: `epoch` counts from 1; `step` is the number of steps done at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochResult {
    pub epoch: usize,
    pub step: usize,
    pub lr: f64,
    pub lr_backbone: f64,
    /// Means over the epoch's steps of the weighted total and of the last decoder layer's terms
    /// (unweighted, as `metrics.jsonl` logs them).
    pub loss: f64,
    pub loss_ce: f64,
    pub loss_bbox: f64,
    pub loss_giou: f64,
    pub seconds: f64,
    pub val: Option<EpochValidation>,
}

/// The header of `results.csv`.
pub const CSV_HEADER: &str = "epoch,step,lr,lr_backbone,loss,loss_ce,loss_bbox,loss_giou,seconds,ap,ap50,ap75,ar100";

impl EpochResult {
    /// The row of `results.csv` (validation columns empty without validation).
    pub fn csv_row(&self) -> String {
        let val = match &self.val {
            Some(v) => format!("{},{},{},{}", v.ap, v.ap50, v.ap75, v.ar100),
            None => ",,,".into(),
        };
        format!(
            "{},{},{},{},{},{},{},{},{},{val}",
            self.epoch,
            self.step,
            self.lr,
            self.lr_backbone,
            self.loss,
            self.loss_ce,
            self.loss_bbox,
            self.loss_giou,
            self.seconds
        )
    }

    /// A row written by [`csv_row`](Self::csv_row); `None` for anything else (the header, a cut line).
    pub fn parse_row(line: &str) -> Option<Self> {
        let cells: Vec<&str> = line.trim_end().split(',').collect();
        if cells.len() != CSV_HEADER.split(',').count() {
            return None;
        }
        let f = |i: usize| cells[i].parse::<f64>().ok();
        let val = match (f(9), f(10), f(11), f(12)) {
            (Some(ap), Some(ap50), Some(ap75), Some(ar100)) => Some(EpochValidation { ap, ap50, ap75, ar100 }),
            _ if cells[9..].iter().all(|c| c.is_empty()) => None,
            _ => return None,
        };
        Some(Self {
            epoch: cells[0].parse().ok()?,
            step: cells[1].parse().ok()?,
            lr: f(2)?,
            lr_backbone: f(3)?,
            loss: f(4)?,
            loss_ce: f(5)?,
            loss_bbox: f(6)?,
            loss_giou: f(7)?,
            seconds: f(8)?,
            val,
        })
    }
}

/// The rows of a `results.csv` (header and unreadable lines skipped).
pub fn parse_csv(text: &str) -> Vec<EpochResult> {
    text.lines().filter_map(EpochResult::parse_row).collect()
}

/// The whole `results.csv` of `rows`.
pub fn to_csv(rows: &[EpochResult]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for r in rows {
        out += &r.csv_row();
        out.push('\n');
    }
    out
}

/// Sums one epoch's step metrics into its row.
#[derive(Debug, Clone, Default)]
pub struct EpochAccumulator {
    steps: usize,
    sums: [f64; 4],
    last: Option<StepMetrics>,
}

impl EpochAccumulator {
    pub fn add(&mut self, m: &StepMetrics) {
        let term = |k: &str| m.components.get(k).copied().unwrap_or(f64::NAN);
        for (s, v) in self.sums.iter_mut().zip([m.loss, term("loss_ce"), term("loss_bbox"), term("loss_giou")]) {
            *s += v;
        }
        self.steps += 1;
        self.last = Some(m.clone());
    }

    /// The epoch's row (`epoch` from 1), or `None` when no step was added.
    pub fn finish(&self, epoch: usize, seconds: f64, val: Option<EpochValidation>) -> Option<EpochResult> {
        let last = self.last.as_ref()?;
        let mean = |i: usize| self.sums[i] / self.steps as f64;
        Some(EpochResult {
            epoch,
            step: last.step + 1,
            lr: last.lr,
            lr_backbone: last.lr_backbone,
            loss: mean(0),
            loss_ce: mean(1),
            loss_bbox: mean(2),
            loss_giou: mean(3),
            seconds,
            val,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: usize, loss: f64, ce: f64) -> StepMetrics {
        StepMetrics {
            step,
            epoch: 0,
            loss,
            components: [("loss_ce".to_string(), ce), ("loss_bbox".into(), 1.0), ("loss_giou".into(), 0.5)].into(),
            lr: 1e-4,
            lr_backbone: 1e-5,
            grad_norm: 1.0,
            num_boxes: 3,
        }
    }

    #[test]
    fn an_epoch_row_is_the_mean_of_its_steps_and_round_trips_through_csv() {
        let mut acc = EpochAccumulator::default();
        assert!(acc.finish(1, 0.0, None).is_none());
        acc.add(&step(4, 3.0, 1.0));
        acc.add(&step(5, 5.0, 2.0));
        let val = EpochValidation { ap: 0.25, ap50: 0.5, ap75: 0.125, ar100: 0.375 };
        let row = acc.finish(2, 1.5, Some(val)).unwrap();
        assert_eq!((row.epoch, row.step, row.loss, row.loss_ce, row.loss_bbox), (2, 6, 4.0, 1.5, 1.0));
        let plain = EpochResult { val: None, epoch: 1, ..row.clone() };
        let text = to_csv(&[plain.clone(), row.clone()]);
        assert!(text.starts_with(CSV_HEADER));
        assert_eq!(parse_csv(&text), vec![plain, row]);
        // A cut last line and stray text are skipped, not misread.
        assert_eq!(parse_csv("epoch,step\n1,2,3\nnot,a,row,at,all,x,x,x,x,,,,\n").len(), 0);
    }

    #[test]
    fn the_plot_takes_no_rows_one_row_and_nan_without_panicking() {
        let row = EpochResult {
            epoch: 1,
            step: 3,
            lr: 1e-4,
            lr_backbone: 1e-5,
            loss: f64::NAN,
            loss_ce: 1.0,
            loss_bbox: f64::INFINITY,
            loss_giou: 0.5,
            seconds: 1.0,
            val: None,
        };
        for rows in [
            vec![],
            vec![row.clone()],
            vec![
                row.clone(),
                EpochResult {
                    epoch: 2,
                    val: Some(EpochValidation { ap: f64::NAN, ap50: 0.5, ap75: -1.0, ar100: 0.1 }),
                    ..row
                },
            ],
        ] {
            let img = crate::plot::results(&rows);
            assert_eq!(img.dimensions(), (1000, 420));
        }
    }
}
