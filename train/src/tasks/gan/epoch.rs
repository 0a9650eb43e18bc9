//! One epoch of a GAN run: the row of its `metrics.csv` and `curves.png`.

use crate::plot::{Panel, Series};
use crate::run::epoch_row::EpochRow;

use super::grid::grid_name;

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

impl EpochRow for GanEpoch {
    fn epoch(&self) -> usize {
        self.epoch
    }

    fn seconds(&self) -> f64 {
        self.seconds
    }

    fn figures(&self) -> Vec<(&'static str, f64)> {
        let mut figures = vec![("d_loss", self.d_loss), ("g_loss", self.g_loss)];
        if let Some(w) = self.wasserstein {
            figures.push(("wasserstein", w));
        }
        figures
    }

    /// `epoch,d_loss,g_loss,seconds`, and a `wasserstein` column for WGAN-GP runs.
    fn csv(rows: &[Self]) -> String {
        let wgan = rows.iter().any(|r| r.wasserstein.is_some());
        let mut text = String::from(if wgan {
            "epoch,d_loss,g_loss,seconds,wasserstein\n"
        } else {
            "epoch,d_loss,g_loss,seconds\n"
        });
        for r in rows {
            text.push_str(&format!(
                "{},{:.6},{:.6},{:.3}",
                r.epoch, r.d_loss, r.g_loss, r.seconds
            ));
            if let Some(w) = r.wasserstein {
                text.push_str(&format!(",{w:.6}"));
            }
            text.push('\n');
        }
        text
    }

    fn parse_csv(text: &str) -> Result<Vec<Self>, String> {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let wgan = header.trim_end().ends_with(",wasserstein");
        lines
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                let number = |i: usize| -> Result<f64, String> {
                    cells
                        .get(i)
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| format!("malformed row '{line}'"))
                };
                let epoch = number(0)?;
                if !(epoch >= 1.0 && epoch.fract() == 0.0) {
                    return Err(format!("malformed epoch number in '{line}'"));
                }
                Ok(GanEpoch {
                    epoch: epoch as usize,
                    d_loss: number(1)?,
                    g_loss: number(2)?,
                    seconds: number(3)?,
                    wasserstein: if wgan { Some(number(4)?) } else { None },
                })
            })
            .collect()
    }

    /// The sample grid drawn after the epoch.
    fn image_files(epoch: usize) -> Vec<(&'static str, String)> {
        vec![("samples", grid_name(epoch))]
    }

    /// The two losses per epoch, and the critic's Wasserstein estimate for WGAN-GP.
    fn panels(rows: &[Self]) -> Vec<Panel<'static>> {
        let points = |f: &dyn Fn(&GanEpoch) -> f64| -> Vec<(f64, f64)> {
            rows.iter().map(|r| (r.epoch as f64, f(r))).collect()
        };
        let mut panels = vec![Panel {
            x_categories: Vec::new(),
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
        if rows.iter().any(|r| r.wasserstein.is_some()) {
            panels.push(Panel {
                x_categories: Vec::new(),
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
        panels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::folder::RunFolder;
    use crate::run::history::History;

    #[test]
    fn history_round_trips_with_and_without_the_wasserstein_column() {
        for wgan in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("recipe.toml"), "").unwrap();
            let folder = RunFolder::open(dir.path()).unwrap();
            let mut history = History::new(&folder, None, None);
            for epoch in 1..=3 {
                history
                    .push(GanEpoch {
                        epoch,
                        d_loss: 1.0 / epoch as f64,
                        g_loss: 0.5,
                        seconds: 2.0,
                        wasserstein: wgan.then_some(0.25 * epoch as f64),
                    })
                    .unwrap();
            }
            let back = History::<GanEpoch>::load(&folder, None, None).unwrap();
            assert_eq!(back.rows().len(), 3);
            assert_eq!(back.rows()[2].wasserstein, history.rows()[2].wasserstein);
            assert!((back.rows()[1].d_loss - 0.5).abs() < 1e-9);
            let png = std::fs::read(dir.path().join("curves.png")).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        }
    }

    #[test]
    fn malformed_rows_are_errors() {
        for text in [
            "epoch,d_loss,g_loss,seconds\n1,x,0.5,1\n",
            "epoch,d_loss,g_loss,seconds\n-1,0.1,0.5,1\n",
        ] {
            assert!(GanEpoch::parse_csv(text).is_err(), "{text}");
        }
    }
}
