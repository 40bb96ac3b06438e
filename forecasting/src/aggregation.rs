//! ADIDA and IMAPA: sum the series into buckets of several periods, so
//! fewer are zero, forecast the buckets with optimised SES and spread the
//! forecast back over the periods.
//!
//! The aggregation level is the mean interval between demands, rounded
//! half to even (Python's `round`); periods that do not fill the first
//! bucket are dropped from the start.

use crate::intermittent::{expand_intervals, mean_interval, running_mean_intervals, zeros};
use crate::smoothing::{ses_optimized_forecast, NARROW};

type Fitted = Vec<Option<f64>>;
type Parameters = Vec<(&'static str, f64)>;

/// Optimised SES over the sums of `level`-period buckets (the oldest
/// partial bucket dropped): the forecast of one bucket.
fn bucket_forecast(y: &[f64], level: usize) -> f64 {
    let level = level.max(1);
    let cut = &y[y.len() % level..];
    let sums: Vec<f64> = cut.chunks(level).map(|c| c.iter().sum()).collect();
    if sums.is_empty() {
        return 0.0;
    }
    ses_optimized_forecast(&sums, NARROW)
}

fn rounded(v: f64) -> usize {
    v.round_ties_even().max(1.0) as usize
}

/// The aggregation level for one-step forecasts of each period after the
/// first: the running mean interval of the demands before it.
fn fitted_levels(y: &[f64]) -> Vec<usize> {
    let mut levels = vec![f64::NAN];
    levels.extend(
        running_mean_intervals(y)
            .into_iter()
            .map(f64::round_ties_even),
    );
    expand_intervals(&levels, y)
        .into_iter()
        .skip(1)
        .map(|v| v.max(1.0) as usize)
        .collect()
}

pub(crate) fn adida(y: &[f64]) -> (f64, Fitted, Parameters) {
    if y.iter().all(|v| *v == 0.0) {
        let (forecast, fitted) = zeros(y);
        return (forecast, fitted, Vec::new());
    }
    let level = rounded(mean_interval(y));
    let forecast = bucket_forecast(y, level) / level as f64;
    let mut fitted = vec![None];
    for (i, level) in fitted_levels(y).into_iter().enumerate() {
        fitted.push(Some(bucket_forecast(&y[..=i], level) / level as f64));
    }
    (forecast, fitted, vec![("aggregation_level", level as f64)])
}

/// The mean over levels 1..=`top` of each level's per-period forecast.
fn multiple(y: &[f64], top: usize) -> f64 {
    let sum: f64 = (1..=top)
        .map(|level| bucket_forecast(y, level) / level as f64)
        .sum();
    sum / top as f64
}

pub(crate) fn imapa(y: &[f64]) -> (f64, Fitted, Parameters) {
    if y.iter().all(|v| *v == 0.0) {
        let (forecast, fitted) = zeros(y);
        return (forecast, fitted, Vec::new());
    }
    let top = rounded(mean_interval(y));
    let forecast = multiple(y, top);
    let mut fitted = vec![None];
    for (i, level) in fitted_levels(y).into_iter().enumerate() {
        fitted.push(Some(multiple(&y[..=i], level)));
    }
    (forecast, fitted, vec![("aggregation_level", top as f64)])
}
