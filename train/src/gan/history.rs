//! A GAN run's per-epoch figures: `metrics.csv` and `curves.png`, written after every epoch and
//! read back by `--resume`.

use std::path::Path;

use anyhow::{Context, Result};

use super::run_folder::files;
use crate::history::write_atomically;
use crate::plot::{self, Panel, Series};

/// One epoch's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GanEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean discriminator (critic) loss over the epoch's discriminator steps.
    pub d_loss: f64,
    /// Mean generator loss over the epoch's generator steps.
    pub g_loss: f64,
    /// Wall-clock seconds of the epoch's training steps.
    pub seconds: f64,
    /// WGAN-GP: mean `E[D(real)] - E[D(fake)]` over the critic steps.
    pub wasserstein: Option<f64>,
}

pub(crate) fn csv_header(wgan: bool) -> &'static str {
    if wgan {
        "epoch,d_loss,g_loss,seconds,wasserstein"
    } else {
        "epoch,d_loss,g_loss,seconds"
    }
}

/// Writes `metrics.csv` (atomically) and `curves.png`.
pub(crate) fn write_history(run_dir: &Path, history: &[GanEpoch], wgan: bool) -> Result<()> {
    let mut text = format!("{}\n", csv_header(wgan));
    for r in history {
        text.push_str(&format!(
            "{},{:.6},{:.6},{:.3}",
            r.epoch, r.d_loss, r.g_loss, r.seconds
        ));
        if let Some(w) = r.wasserstein {
            text.push_str(&format!(",{w:.6}"));
        }
        text.push('\n');
    }
    write_atomically(&run_dir.join(files::METRICS), text.as_bytes())?;
    let points = |f: &dyn Fn(&GanEpoch) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|r| (r.epoch as f64, f(r))).collect()
    };
    let mut panels = vec![Panel {
        title: "losses",
        x_label: "epoch",
        y_label: "mean loss",
        series: vec![
            Series {
                label: "discriminator",
                points: points(&|r| r.d_loss),
                line: true,
            },
            Series {
                label: "generator",
                points: points(&|r| r.g_loss),
                line: true,
            },
        ],
    }];
    if wgan {
        panels.push(Panel {
            title: "critic's Wasserstein estimate",
            x_label: "epoch",
            y_label: "E[D(real)] - E[D(fake)]",
            series: vec![Series {
                label: "estimate",
                points: points(&|r| r.wasserstein.unwrap_or(f64::NAN)),
                line: true,
            }],
        });
    }
    plot::panels(&run_dir.join(files::CURVES), &panels)
}

/// Reads the `metrics.csv` written by [`write_history`].
pub(crate) fn read_history(run_dir: &Path, wgan: bool) -> Result<Vec<GanEpoch>> {
    let path = run_dir.join(files::METRICS);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let number = |i: usize| -> Result<f64> {
                cells
                    .get(i)
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("malformed row '{line}' in {}", path.display()))
            };
            Ok(GanEpoch {
                epoch: number(0)? as usize,
                d_loss: number(1)?,
                g_loss: number(2)?,
                seconds: number(3)?,
                wasserstein: if wgan { Some(number(4)?) } else { None },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_with_and_without_the_wasserstein_column() {
        for wgan in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let history: Vec<GanEpoch> = (1..=3)
                .map(|epoch| GanEpoch {
                    epoch,
                    d_loss: 1.0 / epoch as f64,
                    g_loss: 0.5,
                    seconds: 2.0,
                    wasserstein: wgan.then_some(0.25 * epoch as f64),
                })
                .collect();
            write_history(dir.path(), &history, wgan).unwrap();
            assert_eq!(read_history(dir.path(), wgan).unwrap().len(), 3);
            let back = read_history(dir.path(), wgan).unwrap();
            assert_eq!(back[2].wasserstein, history[2].wasserstein);
            assert!((back[1].d_loss - 0.5).abs() < 1e-9);
            let png = std::fs::read(dir.path().join(files::CURVES)).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        }
    }
}
