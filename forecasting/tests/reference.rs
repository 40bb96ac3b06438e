//! Every method against statsforecast 2.1.1's own values on real series
//! (fixtures and their provenance in `tests/fixtures`).

use std::collections::BTreeMap;

use forecasting::{
    classify, fit, fit_auto, ses_squared_error, Accuracy, DemandClass, ForecastError, Method,
};

const TOLERANCE: f64 = 1e-9;

fn rows(file: &str) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

fn series(id: &str) -> Vec<f64> {
    rows("series.csv")
        .into_iter()
        .filter(|r| r["unique_id"] == id)
        .map(|r| r["y"].parse().unwrap())
        .collect()
}

const SERIES: [&str; 3] = ["pbs_first_60", "shampoo", "wineind"];

/// Optimised alphas and the forecasts made with them: the squared error
/// is flat to f64's resolution within about 3e-8 relative of the optimum
/// on these series, so two searches agree only to that band (measured:
/// at most 1.2e-8 apart, PBS ADIDA).
const OPTIMISED_TOLERANCE: f64 = 2e-8;

fn assert_close(what: &str, ours: f64, theirs: f64) {
    assert_within(what, ours, theirs, TOLERANCE);
}

fn assert_within(what: &str, ours: f64, theirs: f64, tolerance: f64) {
    let scale = theirs.abs().max(1e-300);
    assert!(
        ((ours - theirs) / scale).abs() <= tolerance,
        "{what}: ours {ours:.17} statsforecast {theirs:.17}"
    );
}

fn reference_method(column: &str) -> Method {
    match column {
        "CrostonClassic" => Method::CrostonClassic,
        "CrostonSBA" => Method::CrostonSba,
        "TSB" => Method::Tsb {
            alpha_d: 0.2,
            alpha_p: 0.2,
        },
        "SES" => Method::Ses { alpha: 0.1 },
        "CrostonOptimized" => Method::CrostonOptimized,
        "SESOptimized" => Method::SesOptimized,
        "ADIDA" => Method::Adida,
        "IMAPA" => Method::Imapa,
        other => panic!("no method for {other}"),
    }
}

#[test]
fn forecasts_equal_statsforecast_for_six_periods_ahead() {
    let mut compared = 0;
    for id in SERIES {
        let y = series(id);
        for column in ["CrostonClassic", "CrostonSBA", "TSB", "SES"] {
            let ours = fit(reference_method(column), &y).unwrap().horizon(6);
            let theirs: Vec<f64> = rows("reference_forecasts.csv")
                .into_iter()
                .filter(|r| r["unique_id"] == id)
                .map(|r| r[column].parse().unwrap())
                .collect();
            assert_eq!(theirs.len(), 6);
            for (h, (o, t)) in ours.iter().zip(&theirs).enumerate() {
                assert_close(&format!("{id} {column} h={}", h + 1), *o, *t);
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 3 * 4 * 6);
}

#[test]
fn fitted_values_equal_statsforecast_period_by_period() {
    for id in SERIES {
        let y = series(id);
        let reference: Vec<BTreeMap<String, String>> = rows("reference_fitted.csv")
            .into_iter()
            .filter(|r| r["unique_id"] == id)
            .collect();
        assert_eq!(reference.len(), y.len());
        for column in ["CrostonClassic", "CrostonSBA", "TSB", "SES"] {
            let ours = fit(reference_method(column), &y).unwrap().fitted;
            assert_eq!(ours.len(), y.len(), "{id} {column}");
            for (t, (o, r)) in ours.iter().zip(&reference).enumerate() {
                match (o, r[column].as_str()) {
                    (None, "") => {}
                    (Some(o), theirs) if !theirs.is_empty() => {
                        assert_close(
                            &format!("{id} {column} t={}", t + 1),
                            *o,
                            theirs.parse().unwrap(),
                        );
                    }
                    (o, theirs) => panic!("{id} {column} t={}: {o:?} vs {theirs:?}", t + 1),
                }
            }
        }
    }
}

#[test]
fn optimised_methods_and_aggregation_equal_statsforecast() {
    for r in rows("reference_extra.csv") {
        let id = &r["unique_id"];
        let y = series(id);
        for column in ["CrostonOptimized", "SESOptimized", "ADIDA", "IMAPA"] {
            let ours = fit(reference_method(column), &y).unwrap();
            assert_within(
                &format!("{id} {column}"),
                ours.forecast,
                r[column].parse().unwrap(),
                OPTIMISED_TOLERANCE,
            );
        }
        let ses = fit(Method::SesOptimized, &y).unwrap();
        let alpha = ses
            .parameters
            .iter()
            .find(|(n, _)| *n == "alpha")
            .unwrap()
            .1;
        let theirs: f64 = r["ses_opt_alpha"].parse().unwrap();
        assert_within(&format!("{id} alpha"), alpha, theirs, OPTIMISED_TOLERANCE);
        // As good a minimum by the objective itself (to its rounding).
        let (ours_sse, theirs_sse) = (ses_squared_error(alpha, &y), ses_squared_error(theirs, &y));
        assert!(
            ours_sse <= theirs_sse * (1.0 + 1e-13),
            "{id}: squared error {ours_sse} at our alpha, {theirs_sse} at statsforecast's"
        );
    }
}

#[test]
fn on_a_series_without_zeros_croston_classic_is_ses() {
    let y = series("shampoo");
    let croston = fit(Method::CrostonClassic, &y).unwrap();
    let ses = fit(Method::Ses { alpha: 0.1 }, &y).unwrap();
    assert_close("shampoo", croston.forecast, ses.forecast);
}

#[test]
fn the_real_series_fall_in_the_classes_their_shapes_say() {
    let pbs = classify(&series("pbs_first_60"));
    // 41 months with demand in 60, sizes 1 to 14.
    assert_eq!(
        (pbs.class, pbs.demands),
        (DemandClass::Lumpy, 41),
        "{pbs:?}"
    );
    assert!((pbs.adi - 58.0 / 41.0).abs() < 1e-12, "{pbs:?}");
    assert_eq!(classify(&series("shampoo")).class, DemandClass::Smooth);
    assert_eq!(classify(&series("wineind")).class, DemandClass::Smooth);
    let lumpy = [0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 20.0];
    assert_eq!(classify(&lumpy).class, DemandClass::Lumpy);
    let intermittent = [0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 0.0, 0.0, 6.0];
    assert_eq!(classify(&intermittent).class, DemandClass::Intermittent);
    let erratic = [1.0, 30.0, 2.0, 25.0, 1.0, 40.0];
    assert_eq!(classify(&erratic).class, DemandClass::Erratic);
    let (class, fit) = fit_auto(&intermittent).unwrap();
    assert_eq!(fit.method, class.method().name());
    assert_eq!(fit.method, "croston-sba");
}

#[test]
fn edge_series_have_defined_answers_and_never_nan() {
    for method in Method::NAMES {
        let method = Method::named(method, None, None, None).unwrap();
        let empty = fit(method, &[]).unwrap();
        assert_eq!((empty.forecast, empty.fitted.len()), (0.0, 0));
        let zeros = fit(method, &[0.0; 8]).unwrap();
        assert!(
            zeros.forecast == 0.0,
            "{}: {}",
            method.name(),
            zeros.forecast
        );
        let single = fit(method, &[7.0]).unwrap();
        // SBA deflates even a single demand by its 0.95.
        let expected = if method == Method::CrostonSba {
            6.65
        } else {
            7.0
        };
        assert!(
            (single.forecast - expected).abs() < 1e-9,
            "{}: {}",
            method.name(),
            single.forecast
        );
        assert_eq!(single.fitted, vec![None]);
        let sparse = fit(method, &[0.0, 0.0, 0.0, 4.0, 0.0, 0.0]).unwrap();
        assert!(sparse.forecast.is_finite() && sparse.forecast > 0.0);
        assert!(sparse.fitted.iter().flatten().all(|v| v.is_finite()));
    }
    assert_eq!(
        fit(Method::CrostonSba, &[1.0, -2.0]),
        Err(ForecastError::Negative {
            period: 2,
            value: -2.0
        })
    );
    assert_eq!(
        fit(Method::SesOptimized, &[1.0, f64::NAN]),
        Err(ForecastError::NotFinite { period: 2 })
    );
    assert!(matches!(
        fit(Method::Ses { alpha: 0.0 }, &[1.0]),
        Err(ForecastError::Parameter { name: "alpha", .. })
    ));
    assert!(matches!(
        fit(
            Method::Ses {
                alpha: 1e308 * 10.0
            },
            &[1.0]
        ),
        Err(ForecastError::Parameter { .. })
    ));
}

#[test]
fn accuracy_compares_one_step_forecasts_with_what_happened() {
    let actual = [2.0, 4.0, 0.0, 6.0];
    let forecasts = [None, Some(3.0), Some(3.0), Some(3.0)];
    let a = Accuracy::of(&actual, &forecasts);
    assert_eq!(a.periods, 3);
    assert!((a.mae - (1.0 + 3.0 + 3.0) / 3.0).abs() < 1e-12);
    assert!((a.bias - (-1.0 + 3.0 - 3.0) / 3.0).abs() < 1e-12);
    // Naive one-step error: |4-2|, |0-4|, |6-0| → mean 4.
    assert!((a.mase.unwrap() - a.mae / 4.0).abs() < 1e-12);
    assert_eq!(Accuracy::of(&[5.0, 5.0], &[None, Some(5.0)]).mase, None);
}
