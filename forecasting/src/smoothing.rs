//! Simple exponential smoothing, fixed and optimised, and the bounded
//! golden-section search behind the optimisation.

/// The bounds of `ses-optimized`'s alpha (statsforecast's
/// `SimpleExponentialSmoothingOptimized`).
pub(crate) const WIDE: (f64, f64) = (0.01, 0.99);
/// The bounds every other optimised smoothing uses (Croston optimised,
/// ADIDA, IMAPA).
pub(crate) const NARROW: (f64, f64) = (0.1, 0.3);

/// SES over `x` with `alpha`: the next period's forecast and the one-step
/// fitted values. The level starts at the first value; the update is
/// `alpha * x + (1 - alpha) * level`, in that order (as statsforecast does).
pub(crate) fn ses(x: &[f64], alpha: f64) -> (f64, Vec<Option<f64>>) {
    let Some((&first, _)) = x.split_first() else {
        return (0.0, Vec::new());
    };
    let complement = 1.0 - alpha;
    let mut fitted = Vec::with_capacity(x.len());
    fitted.push(None);
    let mut level = first;
    for pair in x.windows(2) {
        level = alpha * pair[0] + complement * level;
        fitted.push(Some(level));
    }
    let last = x[x.len() - 1];
    (alpha * last + complement * level, fitted)
}

/// Sum of squared one-step errors of SES over `x` with `alpha`.
pub(crate) fn sse(alpha: f64, x: &[f64]) -> f64 {
    let Some((&first, _)) = x.split_first() else {
        return 0.0;
    };
    let complement = 1.0 - alpha;
    let mut forecast = first;
    let mut sse = 0.0;
    for pair in x.windows(2) {
        forecast = alpha * pair[0] + complement * forecast;
        let error = pair[1] - forecast;
        sse += error * error;
    }
    sse
}

/// SES with the alpha in `bounds` that minimises the squared one-step error:
/// the forecast, the fitted values and the alpha.
pub(crate) fn ses_optimized(x: &[f64], bounds: (f64, f64)) -> (f64, Vec<Option<f64>>, f64) {
    let alpha = minimize_bounded(|a| sse(a, x), bounds);
    let (forecast, fitted) = ses(x, alpha);
    (forecast, fitted, alpha)
}

/// The forecast alone of [`ses_optimized`].
pub(crate) fn ses_optimized_forecast(x: &[f64], bounds: (f64, f64)) -> f64 {
    ses_optimized(x, bounds).0
}

/// Golden-section search for the minimum of `f` on `[lower, upper]`, down
/// to a bracket of 1e-8, answering the bracket's midpoint.
///
/// statsforecast's own search lands on a point within the band where the
/// squared error is flat to f64's resolution (about 3e-8 relative around
/// the optimum on the reference series); no search can be more exact than
/// that band, so this one is only required to be as good by the objective
/// (see the crate's tests).
fn minimize_bounded(objective: impl Fn(f64) -> f64, (lower, upper): (f64, f64)) -> f64 {
    const TOLERANCE: f64 = 1e-8;
    let inverse_phi = (5.0_f64.sqrt() - 1.0) / 2.0;
    let inverse_phi2 = (3.0 - 5.0_f64.sqrt()) / 2.0;
    let (mut a, mut b) = (lower, upper);
    let mut c = a + inverse_phi2 * (b - a);
    let mut d = a + inverse_phi * (b - a);
    let (mut fc, mut fd) = (objective(c), objective(d));
    while (b - a).abs() > TOLERANCE {
        if fc <= fd {
            b = d;
            (d, fd) = (c, fc);
            c = a + inverse_phi2 * (b - a);
            fc = objective(c);
        } else {
            a = c;
            (c, fc) = (d, fd);
            d = a + inverse_phi * (b - a);
            fd = objective(d);
        }
    }
    0.5 * (a + b)
}
