//! The few statistics the metrics share.

use serde::{Deserialize, Serialize};

/// p50, p90 and p99 of a sample (nearest rank), with its size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Percentiles {
    /// Values in the sample.
    pub count: usize,
    /// The median.
    pub p50: Option<f64>,
    /// The 90th percentile.
    pub p90: Option<f64>,
    /// The 99th percentile.
    pub p99: Option<f64>,
    /// The largest value.
    pub max: Option<f64>,
}

impl Percentiles {
    /// The percentiles of `sample` (nearest rank).
    pub fn of(mut sample: Vec<f64>) -> Self {
        sample.sort_by(f64::total_cmp);
        let rank = |p: f64| -> Option<f64> {
            if sample.is_empty() {
                return None;
            }
            // Nearest rank: the smallest value with at least p of the sample at or below it.
            let n = ((p * sample.len() as f64).ceil() as usize).clamp(1, sample.len());
            sample.get(n - 1).copied()
        };
        Self {
            count: sample.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: sample.last().copied(),
        }
    }
}

/// `part / whole`, or nothing when there is no whole to speak of.
pub fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}
