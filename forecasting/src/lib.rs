//! Demand forecasting for stock planning, as pure functions over a series
//! of per-period demand (oldest first).
//!
//! Guarantees:
//! - Every method follows Nixtla statsforecast 2.1.1's conventions: with
//!   fixed parameters (SES, Croston classic and SBA, TSB) the forecasts and
//!   one-step fitted values equal its reference values within 1e-9
//!   relative. Where a smoothing parameter is optimised (SES optimised,
//!   Croston optimised, ADIDA, IMAPA) the squared error is flat to f64's
//!   resolution over a band of alphas around the optimum, and the point a
//!   search lands on inside it depends on the search; ours lands within
//!   2e-8 relative of statsforecast's forecasts with a squared error no
//!   larger than at statsforecast's alpha. The tests hold the reference
//!   series and values, with their provenance, under `tests/fixtures`.
//! - No NaN or infinity leaves the crate: a series that is not finite and
//!   non-negative is refused with the period named, and every output is
//!   checked before it is returned.
//! - A series with no demand forecasts 0; a single observation forecasts
//!   itself.
//!
//! Map of the crate:
//! - `smoothing`: simple exponential smoothing, fixed and optimised, and the
//!   bounded scalar minimiser the optimisation uses (Brent's method, as
//!   `scipy.optimize.minimize_scalar(bounds=…)` runs it);
//! - `intermittent`: Croston (classic, SBA, optimised) and TSB;
//! - `aggregation`: ADIDA and IMAPA (temporal aggregation);
//! - `classify`: demand classes after Syntetos and Boylan (ADI and CV²) and
//!   the automatic choice of method per class;
//! - `accuracy`: MAE, bias and MASE of one-step forecasts against actuals.
//!
//! ```
//! use forecasting::{fit, Method};
//! let demand = [3.0, 0.0, 0.0, 4.0, 0.0, 2.0];
//! let sba = fit(Method::CrostonSba, &demand).unwrap();
//! assert!(sba.forecast > 0.0 && sba.forecast < 4.0);
//! ```

mod accuracy;
mod aggregation;
mod classify;
mod intermittent;
mod smoothing;

use serde::{Deserialize, Serialize};

pub use accuracy::Accuracy;
pub use classify::{classify, Classification, DemandClass, ADI_CUT, CV2_CUT};

/// The sum of squared one-step errors of SES with `alpha` over `demand`:
/// what `ses-optimized` minimises.
pub fn ses_squared_error(alpha: f64, demand: &[f64]) -> f64 {
    smoothing::sse(alpha, demand)
}

/// Why a series cannot be forecast.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum ForecastError {
    /// A period's demand is NaN or infinite.
    #[error("period {period}: demand is not a finite number")]
    NotFinite { period: usize },
    /// A period's demand is below zero (returns are not negative demand).
    #[error("period {period}: demand {value} is negative")]
    Negative { period: usize, value: f64 },
    /// A smoothing parameter outside (0, 1].
    #[error("{name} must be above 0 and at most 1, not {value}")]
    Parameter { name: &'static str, value: f64 },
    /// The arithmetic overflowed (demand near f64's limits).
    #[error("the forecast is not a finite number (demand too large)")]
    Overflow,
}

/// A forecasting method and its fixed parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Method {
    /// Simple exponential smoothing with a fixed `alpha`.
    Ses {
        /// Weight of the newest period.
        alpha: f64,
    },
    /// SES with alpha chosen in [0.01, 0.99] by least squared one-step error.
    SesOptimized,
    /// Croston: sizes and intervals smoothed with alpha 0.1.
    CrostonClassic,
    /// Croston with the Syntetos–Boylan correction (× 0.95).
    CrostonSba,
    /// Croston with each part's alpha optimised in [0.1, 0.3].
    CrostonOptimized,
    /// Teunter–Syntetos–Babai: demand probability smoothed every period.
    Tsb {
        /// Smoothing of the demand sizes.
        alpha_d: f64,
        /// Smoothing of the probability of demand.
        alpha_p: f64,
    },
    /// Aggregate–disaggregate intermittent demand approach.
    Adida,
    /// Intermittent multiple aggregation prediction algorithm.
    Imapa,
}

impl Method {
    /// Every method's name, as the command line and the API spell it.
    pub const NAMES: [&'static str; 8] = [
        "ses",
        "ses-optimized",
        "croston-classic",
        "croston-sba",
        "croston-optimized",
        "tsb",
        "adida",
        "imapa",
    ];
    /// The default alpha of SES and of TSB's two parts when none is given.
    pub const DEFAULT_ALPHA: f64 = 0.1;

    /// The method's name, lower case with hyphens.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ses { .. } => "ses",
            Self::SesOptimized => "ses-optimized",
            Self::CrostonClassic => "croston-classic",
            Self::CrostonSba => "croston-sba",
            Self::CrostonOptimized => "croston-optimized",
            Self::Tsb { .. } => "tsb",
            Self::Adida => "adida",
            Self::Imapa => "imapa",
        }
    }

    /// The method called `name`, with the given smoothing parameters where it
    /// takes them (SES: `alpha`; TSB: `alpha_d`, `alpha_p`; 0.1 when absent).
    pub fn named(
        name: &str,
        alpha: Option<f64>,
        alpha_d: Option<f64>,
        alpha_p: Option<f64>,
    ) -> Option<Self> {
        let or_default = |a: Option<f64>| a.unwrap_or(Self::DEFAULT_ALPHA);
        Some(match name {
            "ses" => Self::Ses {
                alpha: or_default(alpha),
            },
            "ses-optimized" => Self::SesOptimized,
            "croston-classic" => Self::CrostonClassic,
            "croston-sba" => Self::CrostonSba,
            "croston-optimized" => Self::CrostonOptimized,
            "tsb" => Self::Tsb {
                alpha_d: or_default(alpha_d),
                alpha_p: or_default(alpha_p),
            },
            "adida" => Self::Adida,
            "imapa" => Self::Imapa,
            _ => return None,
        })
    }
}

/// A method fitted to a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit {
    /// The method's name.
    pub method: &'static str,
    /// Demand per period, flat over any horizon.
    pub forecast: f64,
    /// One-step forecasts: the value at `t` was made before seeing period
    /// `t`; none for the first period.
    pub fitted: Vec<Option<f64>>,
    /// Parameters fixed or fitted (`alpha`, `alpha_d`, `alpha_p`,
    /// `alpha_size`, `alpha_interval`, `aggregation_level`).
    pub parameters: Vec<(&'static str, f64)>,
}

impl Fit {
    /// The forecast for each of the next `horizon` periods.
    pub fn horizon(&self, horizon: usize) -> Vec<f64> {
        vec![self.forecast; horizon]
    }
}

/// Fits `method` to `demand` (one value per period, oldest first).
pub fn fit(method: Method, demand: &[f64]) -> Result<Fit, ForecastError> {
    check_series(demand)?;
    let (forecast, fitted, parameters) = match method {
        Method::Ses { alpha } => {
            check_alpha("alpha", alpha)?;
            let (forecast, fitted) = smoothing::ses(demand, alpha);
            (forecast, fitted, vec![("alpha", alpha)])
        }
        Method::SesOptimized => {
            let (forecast, fitted, alpha) = smoothing::ses_optimized(demand, smoothing::WIDE);
            (forecast, fitted, vec![("alpha", alpha)])
        }
        Method::CrostonClassic => {
            let (forecast, fitted) = intermittent::croston_classic(demand);
            (
                forecast,
                fitted,
                vec![("alpha", intermittent::CROSTON_ALPHA)],
            )
        }
        Method::CrostonSba => {
            let (forecast, fitted) = intermittent::croston_sba(demand);
            (
                forecast,
                fitted,
                vec![("alpha", intermittent::CROSTON_ALPHA)],
            )
        }
        Method::CrostonOptimized => intermittent::croston_optimized(demand),
        Method::Tsb { alpha_d, alpha_p } => {
            check_alpha("alpha_d", alpha_d)?;
            check_alpha("alpha_p", alpha_p)?;
            let (forecast, fitted) = intermittent::tsb(demand, alpha_d, alpha_p);
            (
                forecast,
                fitted,
                vec![("alpha_d", alpha_d), ("alpha_p", alpha_p)],
            )
        }
        Method::Adida => aggregation::adida(demand),
        Method::Imapa => aggregation::imapa(demand),
    };
    let fit = Fit {
        method: method.name(),
        forecast,
        fitted,
        parameters,
    };
    check_output(&fit)?;
    Ok(fit)
}

/// Fits the method [`classify`] chooses for the series' demand class.
pub fn fit_auto(demand: &[f64]) -> Result<(Classification, Fit), ForecastError> {
    check_series(demand)?;
    let class = classify(demand);
    let fit = fit(class.method(), demand)?;
    Ok((class, fit))
}

fn check_series(demand: &[f64]) -> Result<(), ForecastError> {
    for (i, &value) in demand.iter().enumerate() {
        if !value.is_finite() {
            return Err(ForecastError::NotFinite { period: i + 1 });
        }
        if value < 0.0 {
            return Err(ForecastError::Negative {
                period: i + 1,
                value,
            });
        }
    }
    Ok(())
}

fn check_alpha(name: &'static str, value: f64) -> Result<(), ForecastError> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(ForecastError::Parameter { name, value })
    }
}

fn check_output(fit: &Fit) -> Result<(), ForecastError> {
    let finite = fit.forecast.is_finite()
        && fit.fitted.iter().flatten().all(|v| v.is_finite())
        && fit.parameters.iter().all(|(_, v)| v.is_finite());
    if finite {
        Ok(())
    } else {
        Err(ForecastError::Overflow)
    }
}
