//! The policy formulas against scipy's values (`tests/fixtures/vectors.txt`,
//! provenance beside it): every figure of every vector, to the 10 decimals
//! given.

use std::collections::BTreeMap;

use replenishment::policy::{
    fill_rate, lead_time_demand_sd, normal_cdf, normal_loss, normal_quantile, reorder_point,
    safety_stock,
};

/// The vectors, each as its kind and its `name=value` figures.
fn vectors() -> Vec<(String, BTreeMap<String, f64>)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vectors.txt"
    ))
    .unwrap();
    text.lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let kind = words.next().unwrap().to_owned();
            let figures = words
                .map(|w| {
                    let (name, value) = w.trim_end_matches(':').split_once('=').unwrap();
                    (
                        name.to_owned(),
                        value.trim_end_matches(':').parse().unwrap(),
                    )
                })
                .collect();
            (kind, figures)
        })
        .collect()
}

fn close(what: &str, ours: f64, theirs: f64) {
    // The vectors carry 10 decimals.
    assert!(
        (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
        "{what}: ours {ours:.12} scipy {theirs:.12}"
    );
}

#[test]
fn every_vector_is_reproduced() {
    let mut checked = 0;
    for (kind, f) in vectors() {
        match kind.as_str() {
            "const-L" => {
                let z = normal_quantile(f["CSL"]);
                close("z", z, f["z"]);
                let sigma = lead_time_demand_sd(f["d"], f["sd"], f["L"], 0.0);
                close("sigma_LT", sigma, f["sigma_LT"]);
                let ss = safety_stock(z, sigma);
                close("SS", ss, f["SS"]);
                close("ROP", reorder_point(f["d"], f["L"], ss), f["ROP"]);
            }
            "var-L" => {
                let sigma = lead_time_demand_sd(f["d"], f["sd"], f["L"], f["sL"]);
                close("sigma_LT", sigma, f["sigma_LT"]);
                let ss = safety_stock(f["z"], sigma);
                close("SS", ss, f["SS"]);
                close("ROP", reorder_point(f["d"], f["L"], ss), f["ROP"]);
            }
            "fillrate" => {
                let k = f["k"];
                close("CSL", normal_cdf(k), f["CSL"]);
                close("G(k)", normal_loss(k), f["G(k)"]);
                close("ESC", f["sigma_LT"] * normal_loss(k), f["ESC"]);
                close("beta", fill_rate(f["sigma_LT"], f["Q"], k), f["beta"]);
            }
            "turnover" => {
                let (turns, days) = projections::stock::turnover(f["COGS"], f["avg_inv"], 365.0);
                close("turns", turns.unwrap(), f["turns"]);
                close("DIO", days.unwrap(), f["DIO(365)"]);
            }
            other => panic!("unknown vector {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 9, "every line of vectors.txt");
}

#[test]
fn the_quantile_inverts_the_distribution_across_service_levels() {
    for bp in [5_000_u32, 8_000, 9_000, 9_500, 9_750, 9_900, 9_990, 9_999] {
        let p = f64::from(bp) / 10_000.0;
        let z = normal_quantile(p);
        assert!((normal_cdf(z) - p).abs() < 1e-14, "{p}: z {z}");
    }
    assert!(normal_quantile(0.5).abs() < 1e-15);
}
