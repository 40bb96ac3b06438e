//! The inventory policy, as formulas: safety stock for a cycle service
//! level with demand and lead-time variability, the reorder point, the
//! order quantity (EOQ, or min/max, with MOQ and pack size) and the fill
//! rate the policy should give (normal loss function).
//!
//! Demand over the lead time is taken as normal, with
//! `σ_LT = √(L·σ_d² + d²·σ_L²)`; safety stock is `z·σ_LT` with
//! `z = Φ⁻¹(CSL)`; the reorder point is `d·L + SS`; the expected fill rate
//! of an (s, Q) policy with backorders is `1 − σ_LT·G(k)/Q`, with
//! `G(k) = φ(k) − k·(1 − Φ(k))` and `k = SS/σ_LT`.

use std::f64::consts::{PI, SQRT_2};

/// The standard normal density.
pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// The standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / SQRT_2)
}

/// The standard normal quantile `Φ⁻¹(p)` for `0 < p < 1`: Acklam's
/// rational approximation, then two Newton steps on `Φ`, which bring it
/// to the precision of `erfc`.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let mut x = if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    for _ in 0..2 {
        let density = normal_pdf(x);
        if density > 0.0 {
            x -= (normal_cdf(x) - p) / density;
        }
    }
    x
}

/// The standard normal loss function `G(k) = φ(k) − k·(1 − Φ(k))`: the
/// expected shortfall beyond `k` standard deviations.
pub fn normal_loss(k: f64) -> f64 {
    normal_pdf(k) - k * (1.0 - normal_cdf(k))
}

/// Standard deviation of demand over a lead time of `lead_time` periods
/// (standard deviation `lead_time_sd`), demand `mean` and `sd` per period.
pub fn lead_time_demand_sd(mean: f64, sd: f64, lead_time: f64, lead_time_sd: f64) -> f64 {
    (lead_time * sd * sd + mean * mean * lead_time_sd * lead_time_sd).sqrt()
}

/// Safety stock for safety factor `z` over lead-time demand deviation `sigma_lt`.
pub fn safety_stock(z: f64, sigma_lt: f64) -> f64 {
    z * sigma_lt
}

/// The reorder point: demand over the lead time plus safety stock.
pub fn reorder_point(mean: f64, lead_time: f64, safety_stock: f64) -> f64 {
    mean * lead_time + safety_stock
}

/// The fill rate (share of demand met from stock) of an (s, Q) policy
/// with safety factor `k`; 1 when lead-time demand does not vary.
pub fn fill_rate(sigma_lt: f64, order_qty: f64, k: f64) -> f64 {
    if sigma_lt <= 0.0 || order_qty <= 0.0 {
        return 1.0;
    }
    (1.0 - sigma_lt * normal_loss(k) / order_qty).clamp(0.0, 1.0)
}

/// The economic order quantity `√(2·D·S/H)` for yearly demand `D`, cost
/// per order `S` and yearly holding cost per unit `H`; none when a cost is zero.
pub fn economic_order_quantity(
    yearly_demand: f64,
    order_cost: f64,
    holding_cost: f64,
) -> Option<f64> {
    (yearly_demand > 0.0 && order_cost > 0.0 && holding_cost > 0.0)
        .then(|| (2.0 * yearly_demand * order_cost / holding_cost).sqrt())
}

/// `qty` made orderable: at least the MOQ, in whole packs.
pub fn orderable(qty: f64, moq: u64, pack_size: u64) -> u64 {
    let pack = pack_size.max(1);
    let wanted = qty.ceil().max(moq.max(1) as f64) as u64;
    wanted.div_ceil(pack) * pack
}
