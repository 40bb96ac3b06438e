//! Croston's method (classic, SBA, optimised) and TSB, for demand with
//! many zero periods.
//!
//! Croston smooths the non-zero demand sizes and the intervals between
//! them separately and forecasts size ÷ interval. The first interval is
//! the 1-based position of the first demand; zeros after the last demand
//! add no interval (statsforecast's convention).

use crate::smoothing::{self, NARROW};

/// Croston's alpha for sizes and intervals (classic and SBA).
pub(crate) const CROSTON_ALPHA: f64 = 0.1;
/// The Syntetos–Boylan bias correction, 1 − alpha/2 at alpha 0.1.
const SBA_FACTOR: f64 = 0.95;

type Fitted = Vec<Option<f64>>;

/// The non-zero demand sizes.
fn sizes(y: &[f64]) -> Vec<f64> {
    y.iter().copied().filter(|v| *v > 0.0).collect()
}

/// The intervals between demands, the first counted from before period 1.
fn intervals(y: &[f64]) -> Vec<f64> {
    let mut last = 0;
    let mut out = Vec::new();
    for (i, v) in y.iter().enumerate() {
        if *v != 0.0 {
            out.push((i + 1 - last) as f64);
            last = i + 1;
        }
    }
    out
}

/// The mean interval between demands (1 when there is none).
pub(crate) fn mean_interval(y: &[f64]) -> f64 {
    let i = intervals(y);
    if i.is_empty() {
        1.0
    } else {
        i.iter().sum::<f64>() / i.len() as f64
    }
}

/// The cumulative mean interval after each demand.
pub(crate) fn running_mean_intervals(y: &[f64]) -> Vec<f64> {
    let mut sum = 0.0;
    intervals(y)
        .iter()
        .enumerate()
        .map(|(k, v)| {
            sum += v;
            sum / (k + 1) as f64
        })
        .collect()
}

/// The smoothed value after each of `n` inputs: index k holds the level
/// after k inputs (index 0 is unused), from SES's fitted values and forecast.
fn levels(fitted: &[Option<f64>], forecast: f64) -> Vec<f64> {
    let mut out: Vec<f64> = fitted.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    out.push(forecast);
    out
}

/// Spreads per-demand levels over the periods: a period's value is the
/// level after the demands before it; before any demand, the previous
/// period's demand (naive).
fn expand_sizes(levels: &[f64], y: &[f64]) -> Fitted {
    let mut out: Vec<f64> = Vec::with_capacity(y.len());
    out.push(f64::NAN);
    let mut seen = 0;
    for i in 1..y.len() {
        let v = if y[i - 1] > 0.0 {
            seen += 1;
            levels[seen]
        } else if seen > 0 {
            out[i - 1]
        } else {
            y[i - 1]
        };
        out.push(v);
    }
    optional(out)
}

/// As [`expand_sizes`] for intervals: 1 before any demand, and 1 in place
/// of a zero level (no division by zero).
pub(crate) fn expand_intervals(levels: &[f64], y: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::with_capacity(y.len());
    out.push(f64::NAN);
    let mut seen = 0;
    for i in 1..y.len() {
        let v = if y[i - 1] != 0.0 {
            seen += 1;
            if levels[seen] == 0.0 {
                1.0
            } else {
                levels[seen]
            }
        } else if seen > 0 {
            out[i - 1]
        } else {
            1.0
        };
        out.push(v);
    }
    out
}

fn optional(values: Vec<f64>) -> Fitted {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i > 0).then_some(v))
        .collect()
}

/// No demand at all: the last value, and each period's predecessor.
fn naive(y: &[f64]) -> (f64, Fitted) {
    let forecast = y.last().copied().unwrap_or(0.0);
    let mut fitted = Vec::with_capacity(y.len());
    if !y.is_empty() {
        fitted.push(None);
        fitted.extend(y[..y.len() - 1].iter().map(|v| Some(*v)));
    }
    (forecast, fitted)
}

fn divide(sizes: Fitted, intervals: &[f64]) -> Fitted {
    sizes
        .into_iter()
        .zip(intervals)
        .map(|(s, i)| s.map(|s| s / i))
        .collect()
}

pub(crate) fn croston_classic(y: &[f64]) -> (f64, Fitted) {
    let demand = sizes(y);
    if demand.is_empty() {
        return naive(y);
    }
    let (size, size_fitted) = smoothing::ses(&demand, CROSTON_ALPHA);
    let gaps = intervals(y);
    let (interval, interval_fitted) = smoothing::ses(&gaps, CROSTON_ALPHA);
    let forecast = if interval == 0.0 {
        size
    } else {
        size / interval
    };
    let sizes = expand_sizes(&levels(&size_fitted, size), y);
    let intervals = expand_intervals(&levels(&interval_fitted, interval), y);
    (forecast, divide(sizes, &intervals))
}

pub(crate) fn croston_sba(y: &[f64]) -> (f64, Fitted) {
    let (forecast, fitted) = croston_classic(y);
    let fitted = fitted
        .into_iter()
        .map(|v| v.map(|v| v * SBA_FACTOR))
        .collect();
    (forecast * SBA_FACTOR, fitted)
}

pub(crate) fn croston_optimized(y: &[f64]) -> (f64, Fitted, Vec<(&'static str, f64)>) {
    let demand = sizes(y);
    if demand.is_empty() {
        let (forecast, fitted) = naive(y);
        return (forecast, fitted, Vec::new());
    }
    let (size, _, alpha_size) = smoothing::ses_optimized(&demand, NARROW);
    let gaps = intervals(y);
    let (interval, _, alpha_interval) = smoothing::ses_optimized(&gaps, NARROW);
    let forecast = if interval == 0.0 {
        size
    } else {
        size / interval
    };
    // Each one-step value is a fresh optimisation over the history before it.
    let prefix_levels = |values: &[f64], zero_as_one: bool| -> Vec<f64> {
        let mut out = vec![f64::NAN];
        for k in 1..=values.len() {
            let level = smoothing::ses_optimized_forecast(&values[..k], NARROW);
            out.push(if zero_as_one && level == 0.0 {
                1.0
            } else {
                level
            });
        }
        out
    };
    let sizes = expand_sizes(&prefix_levels(&demand, false), y);
    let intervals = expand_intervals(&prefix_levels(&gaps, true), y);
    (
        forecast,
        divide(sizes, &intervals),
        vec![
            ("alpha_size", alpha_size),
            ("alpha_interval", alpha_interval),
        ],
    )
}

pub(crate) fn tsb(y: &[f64], alpha_d: f64, alpha_p: f64) -> (f64, Fitted) {
    if y.iter().all(|v| *v == 0.0) {
        return zeros(y);
    }
    let demand = sizes(y);
    let occurs: Vec<f64> = y
        .iter()
        .map(|v| if *v == 0.0 { 0.0 } else { 1.0 })
        .collect();
    let (probability, probability_fitted) = smoothing::ses(&occurs, alpha_p);
    let (size, size_fitted) = smoothing::ses(&demand, alpha_d);
    let sizes = expand_sizes(&levels(&size_fitted, size), y);
    let fitted = probability_fitted
        .into_iter()
        .zip(sizes)
        .map(|(p, s)| p.zip(s).map(|(p, s)| p * s))
        .collect();
    (probability * size, fitted)
}

/// An all-zero series: forecast 0, fitted 0 after the first period.
pub(crate) fn zeros(y: &[f64]) -> (f64, Fitted) {
    (0.0, optional(vec![0.0; y.len()]))
}
