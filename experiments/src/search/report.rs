//! What a search shows: the leaderboard, `best.toml`, and plots of the optimization history
//! and of each parameter against the metric.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::space::{to_overrides, Assignment, Param, SearchSpace};
use super::storage::{TrialRecord, TrialStatus};
use zoo_datasets::write_atomically;
use zoo_train::plot::{self, Panel, Series};
use zoo_train::recipe::Recipe;

/// Finished trials with a value, best first.
pub fn ranked(trials: &[TrialRecord], maximize: bool) -> Vec<&TrialRecord> {
    let mut done: Vec<&TrialRecord> = trials
        .iter()
        .filter(|t| t.status == TrialStatus::Complete && t.value.is_some_and(f64::is_finite))
        .collect();
    done.sort_by(|a, b| {
        let (a, b) = (a.value.unwrap_or(f64::NAN), b.value.unwrap_or(f64::NAN));
        if maximize {
            b.total_cmp(&a)
        } else {
            a.total_cmp(&b)
        }
    });
    done
}

/// The leaderboard: counts by status, then the `top` complete trials with their parameters.
pub fn leaderboard(trials: &[TrialRecord], metric: &str, maximize: bool, top: usize) -> String {
    let count = |s: TrialStatus| trials.iter().filter(|t| t.status == s).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} trials: {} complete, {} pruned, {} failed, {} running",
        trials.len(),
        count(TrialStatus::Complete),
        count(TrialStatus::Pruned),
        count(TrialStatus::Failed),
        count(TrialStatus::Running)
    );
    let _ = writeln!(
        out,
        "{:>4}  {:>5}  {:<14}  {:>7}  parameters",
        "rank", "trial", metric, "seconds"
    );
    for (rank, t) in ranked(trials, maximize).into_iter().take(top).enumerate() {
        let _ = writeln!(
            out,
            "{:>4}  {:>5}  {:<14.4}  {:>7.1}  {}",
            rank + 1,
            t.number,
            t.value.unwrap_or(f64::NAN),
            t.seconds.unwrap_or(0.0),
            to_overrides(&t.params).join(" ")
        );
    }
    for t in trials.iter().filter(|t| t.status == TrialStatus::Failed) {
        let _ = writeln!(
            out,
            "  trial {} failed: {}",
            t.number,
            t.reason.as_deref().unwrap_or("unknown")
        );
    }
    out
}

/// The base recipe with the best trial's parameters and without `[search]`: a recipe that
/// `zoo train` accepts.
pub fn best_recipe(base: &Recipe, best: &Assignment) -> Result<Recipe> {
    let mut bare = base.clone();
    bare.search = None;
    Recipe::parse("best trial", &bare.to_toml(), &to_overrides(best))
}

/// `history.png` (each trial's value and the best so far) and `params.png` (the metric against
/// each numeric parameter; choice parameters by index).
pub fn plots(
    out: &Path,
    space: &SearchSpace,
    trials: &[TrialRecord],
    metric: &str,
    maximize: bool,
) -> Result<()> {
    let done: Vec<&TrialRecord> = trials
        .iter()
        .filter(|t| t.status == TrialStatus::Complete && t.value.is_some())
        .collect();
    let points: Vec<(f64, f64)> = done
        .iter()
        .map(|t| (t.number as f64, t.value.unwrap_or(f64::NAN)))
        .collect();
    let mut best_so_far = Vec::new();
    let mut best: Option<f64> = None;
    for &(x, y) in &points {
        best = Some(match best {
            Some(b) if (maximize && b >= y) || (!maximize && b <= y) => b,
            _ => y,
        });
        best_so_far.push((x, best.unwrap_or(y)));
    }
    plot::panels(
        &out.join("history.png"),
        &[Panel {
            x_categories: Vec::new(),
            title: "optimization history",
            x_label: "trial",
            y_label: metric,
            series: vec![
                Series {
                    label: "trial",
                    points,
                    line: false,
                },
                Series {
                    label: "best so far",
                    points: best_so_far,
                    line: true,
                },
            ],
        }],
    )?;
    let keys: Vec<String> = done
        .first()
        .map(|t| t.params.keys().cloned().collect())
        .unwrap_or_default();
    // (axis label, points, category names of a choice)
    type Column = (String, Vec<(f64, f64)>, Vec<String>);
    let columns: Vec<Column> = keys
        .iter()
        .map(|key| {
            let mut pts: Vec<(f64, f64)> = done
                .iter()
                .filter_map(|t| {
                    let v = t.params.get(key)?;
                    let x = match (space.get(key), v) {
                        (Some(Param::Choice(values)), _) => {
                            values.iter().position(|c| c == v)? as f64
                        }
                        (_, toml::Value::Float(f)) => *f,
                        (_, toml::Value::Integer(i)) => *i as f64,
                        _ => return None,
                    };
                    Some((x, t.value.unwrap_or(f64::NAN)))
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Log-uniform parameters (learning rates) read better on a log axis.
            match space.get(key) {
                Some(Param::LogUniform { .. }) => {
                    let logged = pts.into_iter().map(|(x, y)| (x.log10(), y)).collect();
                    (format!("log10 {key}"), logged, Vec::new())
                }
                // A choice is drawn at its index, labelled with its value.
                Some(Param::Choice(values)) => {
                    let names = values.iter().map(|v| v.to_string()).collect();
                    (key.clone(), pts, names)
                }
                _ => (key.clone(), pts, Vec::new()),
            }
        })
        .collect();
    let panels: Vec<Panel> = columns
        .iter()
        .map(|(label, pts, categories)| Panel {
            x_categories: categories.clone(),
            title: label,
            x_label: label,
            y_label: metric,
            series: vec![Series {
                label: "trials",
                points: pts.clone(),
                line: false,
            }],
        })
        .collect();
    if !panels.is_empty() {
        plot::panels(&out.join("params.png"), &panels)?;
    }
    Ok(())
}

/// Writes `leaderboard.txt` and `best.toml` into `out`; returns the leaderboard text.
pub fn write_reports(
    out: &Path,
    base: &Recipe,
    space: &SearchSpace,
    trials: &[TrialRecord],
    metric: &str,
    maximize: bool,
) -> Result<String> {
    let board = leaderboard(trials, metric, maximize, 10);
    write_atomically(&out.join("leaderboard.txt"), board.as_bytes())?;
    if let Some(best) = ranked(trials, maximize).first() {
        write_atomically(
            &out.join("best.toml"),
            best_recipe(base, &best.params)?.to_toml().as_bytes(),
        )?;
    }
    plots(out, space, trials, metric, maximize)?;
    Ok(board)
}
