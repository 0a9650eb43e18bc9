//! A seeded synthetic series (a sum of sines with noise) and forecasting windows over it.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A sum of sines with Gaussian noise: `x_t = sum_i a_i sin(2 pi t / p_i + phase_i) + noise`.
/// Phases and noise come from `seed`, so one seed gives one series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SineSeriesConfig {
    /// Number of values.
    pub length: usize,
    /// Period of each component, in steps.
    pub periods: Vec<f64>,
    /// Amplitude of each component (same length as `periods`).
    pub amplitudes: Vec<f64>,
    /// Standard deviation of the added noise.
    pub noise: f64,
}

impl Default for SineSeriesConfig {
    fn default() -> Self {
        Self {
            length: 20_000,
            periods: vec![50.0, 23.0, 11.0],
            amplitudes: vec![1.0, 0.5, 0.3],
            noise: 0.05,
        }
    }
}

impl SineSeriesConfig {
    /// Checks the settings; the message names the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.periods.is_empty() || self.periods.len() != self.amplitudes.len() {
            return Err(format!(
                "'periods' ({}) and 'amplitudes' ({}) must be non-empty lists of the same length",
                self.periods.len(),
                self.amplitudes.len()
            ));
        }
        if let Some(p) = self.periods.iter().find(|p| !(**p > 0.0 && p.is_finite())) {
            return Err(format!("'periods' must be positive, got {p}"));
        }
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return Err(format!("'noise' must be >= 0, got {}", self.noise));
        }
        Ok(())
    }

    /// The series for `seed`.
    ///
    /// ```
    /// use zoo_datasets::SineSeriesConfig;
    ///
    /// let config = SineSeriesConfig { length: 100, ..Default::default() };
    /// assert_eq!(config.generate(1), config.generate(1));
    /// assert_ne!(config.generate(1), config.generate(2));
    /// ```
    pub fn generate(&self, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let phases: Vec<f64> = self
            .periods
            .iter()
            .map(|_| rng.random_range(0.0..std::f64::consts::TAU))
            .collect();
        (0..self.length)
            .map(|t| {
                let signal: f64 = self
                    .periods
                    .iter()
                    .zip(&self.amplitudes)
                    .zip(&phases)
                    .map(|((p, a), phase)| a * (std::f64::consts::TAU * t as f64 / p + phase).sin())
                    .sum();
                (signal + self.noise * standard_normal(&mut rng)) as f32
            })
            .collect()
    }
}

/// One draw of N(0, 1) (Box-Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Cuts a series into contiguous train / validation / test parts (`fractions` of its length
/// for the first two, the rest for test).
pub fn split_series(series: &[f32], train: f64, valid: f64) -> [Arc<Vec<f32>>; 3] {
    let n = series.len();
    let a = (n as f64 * train) as usize;
    let b = ((n as f64 * (train + valid)) as usize).min(n);
    [&series[..a], &series[a..b], &series[b..]].map(|part| Arc::new(part.to_vec()))
}

/// One forecasting example: a window of past values and the values that follow it.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesWindow {
    /// The `window` inputs.
    pub inputs: Vec<f32>,
    /// The next `horizon` values.
    pub targets: Vec<f32>,
}

/// Every window of `window + horizon` consecutive values of a series (stride 1).
#[derive(Clone, Debug)]
pub struct SeriesWindows {
    values: Arc<Vec<f32>>,
    window: usize,
    horizon: usize,
}

impl SeriesWindows {
    /// Windows of `window` inputs and `horizon` targets over `values`.
    ///
    /// # Panics
    ///
    /// If `window` or `horizon` is 0.
    pub fn new(values: Arc<Vec<f32>>, window: usize, horizon: usize) -> Self {
        assert!(
            window > 0 && horizon > 0,
            "window and horizon must be positive"
        );
        Self {
            values,
            window,
            horizon,
        }
    }
}

impl Dataset<SeriesWindow> for SeriesWindows {
    fn get(&self, index: usize) -> Result<SeriesWindow, DatasetError> {
        if index >= self.len() {
            return Err(out_of_range(index, self.len()));
        }
        let split = index + self.window;
        let end = split + self.horizon;
        Ok(SeriesWindow {
            inputs: self.values[index..split].to_vec(),
            targets: self.values[split..end].to_vec(),
        })
    }

    fn len(&self) -> usize {
        (self.values.len() + 1).saturating_sub(self.window + self.horizon)
    }
}

/// The error for a window index past the end of a dataset of `len` windows.
pub(crate) fn out_of_range(index: usize, len: usize) -> DatasetError {
    DatasetError::new(crate::DataError::InvalidSet(format!(
        "window {index} requested from a dataset of {len} windows"
    )))
}

/// A batch of forecasting windows.
#[derive(Clone, Debug)]
pub struct SeriesBatch {
    /// `[batch, window, 1]`.
    pub inputs: Tensor<3>,
    /// `[batch, horizon]`.
    pub targets: Tensor<2>,
}

/// Batches [`SeriesWindow`]s of equal size into a [`SeriesBatch`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SeriesBatcher;

impl Batcher<SeriesWindow, SeriesBatch> for SeriesBatcher {
    fn batch(&self, items: Vec<SeriesWindow>, device: &Device) -> SeriesBatch {
        let batch = items.len();
        let window = items.first().map_or(0, |w| w.inputs.len());
        let horizon = items.first().map_or(0, |w| w.targets.len());
        let inputs: Vec<f32> = items
            .iter()
            .flat_map(|w| w.inputs.iter().copied())
            .collect();
        let targets: Vec<f32> = items
            .iter()
            .flat_map(|w| w.targets.iter().copied())
            .collect();
        SeriesBatch {
            inputs: Tensor::from_data(TensorData::new(inputs, [batch, window, 1]), device),
            targets: Tensor::from_data(TensorData::new(targets, [batch, horizon]), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noiseless_series_is_the_sum_of_its_sines() {
        let config = SineSeriesConfig {
            length: 200,
            periods: vec![20.0],
            amplitudes: vec![2.0],
            noise: 0.0,
        };
        let series = config.generate(3);
        let max = series.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((max - 2.0).abs() < 0.05, "amplitude {max}");
        // Periodic with period 20.
        assert!((series[5] - series[25]).abs() < 1e-4);
    }

    #[test]
    fn bad_settings_name_the_key() {
        let config = SineSeriesConfig {
            amplitudes: vec![1.0],
            ..Default::default()
        };
        assert!(config.validate().unwrap_err().contains("'periods'"));
        let config = SineSeriesConfig {
            noise: -1.0,
            ..Default::default()
        };
        assert!(config.validate().unwrap_err().contains("'noise'"));
    }

    #[test]
    fn windows_and_batches() {
        let values: Arc<Vec<f32>> = Arc::new((0..10).map(|v| v as f32).collect());
        let windows = SeriesWindows::new(values, 4, 2);
        assert_eq!(windows.len(), 5);
        let last = windows.get(4).unwrap();
        assert_eq!(last.inputs, vec![4.0, 5.0, 6.0, 7.0]);
        assert_eq!(last.targets, vec![8.0, 9.0]);
        assert!(windows.get(5).is_err());
        let batch = SeriesBatcher.batch(vec![windows.get(0).unwrap(), last], &Device::flex());
        assert_eq!(batch.inputs.dims(), [2, 4, 1]);
        assert_eq!(batch.targets.dims(), [2, 2]);
    }

    #[test]
    fn splits_are_contiguous() {
        let series: Vec<f32> = (0..100).map(|v| v as f32).collect();
        let [train, valid, test] = split_series(&series, 0.8, 0.1);
        assert_eq!((train.len(), valid.len(), test.len()), (80, 10, 10));
        assert_eq!(valid[0], 80.0);
    }
}
