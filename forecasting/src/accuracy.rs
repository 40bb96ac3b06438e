//! How far one-step forecasts were from what happened.

use serde::{Deserialize, Serialize};

/// Accuracy of one-step forecasts against actual demand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Periods compared.
    pub periods: usize,
    /// Mean absolute error, in units per period.
    pub mae: f64,
    /// Mean of forecast − actual: above 0 the method over-forecasts.
    pub bias: f64,
    /// MAE over the in-sample naive forecast's MAE (below 1 beats
    /// "same as last period"); none when demand never changed.
    pub mase: Option<f64>,
}

impl Accuracy {
    /// Compares `forecasts` (one per period, none where there was none yet)
    /// with `actual`; the naive scale is taken over `actual` itself.
    pub fn of(actual: &[f64], forecasts: &[Option<f64>]) -> Self {
        let pairs: Vec<(f64, f64)> = actual
            .iter()
            .zip(forecasts)
            .filter_map(|(a, f)| f.map(|f| (*a, f)))
            .collect();
        if pairs.is_empty() {
            return Self::default();
        }
        let n = pairs.len() as f64;
        let mae = pairs.iter().map(|(a, f)| (f - a).abs()).sum::<f64>() / n;
        let bias = pairs.iter().map(|(a, f)| f - a).sum::<f64>() / n;
        let steps: Vec<f64> = actual.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        let scale = if steps.is_empty() {
            0.0
        } else {
            steps.iter().sum::<f64>() / steps.len() as f64
        };
        Self {
            periods: pairs.len(),
            mae,
            bias,
            mase: (scale > 0.0).then(|| mae / scale),
        }
    }
}
