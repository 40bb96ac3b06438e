//! A reorder policy planned from the item's demand history, the lead
//! times its receipts showed and its supplier terms.
//!
//! - Demand per day is the forecast of the method its demand class calls
//!   for (`forecasting::fit_auto`) over the daily history; its deviation
//!   is the root mean squared one-step error of that forecast (what safety
//!   stock must cover), or the history's own deviation when there are too
//!   few one-step forecasts.
//! - The lead time is the mean of the observed ones (order → receipt),
//!   with their deviation when there are two or more; before any receipt,
//!   the supplier's quote with no deviation.
//! - The order quantity is the EOQ (yearly demand = 365 × daily) when the
//!   terms give an order cost, else one lead time of demand; then at least
//!   the MOQ, in whole packs. Min/max orders up to reorder point + that
//!   quantity.

use forecasting::{fit_auto, DemandClass};
use schemas::inventory::SupplyTerms;
use serde::Serialize;

use crate::policy::{
    economic_order_quantity, fill_rate, lead_time_demand_sd, normal_quantile, orderable,
    reorder_point, safety_stock,
};

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The demand history could not be forecast.
    #[error(transparent)]
    Forecast(#[from] forecasting::ForecastError),
    /// A figure came out NaN or infinite (never reaches a command).
    #[error("the plan's {0} is not a finite number")]
    NotFinite(&'static str),
}

/// A policy and the figures it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The demand class of the daily history.
    pub demand_class: DemandClass,
    /// The forecasting method it chose.
    pub method: &'static str,
    /// Days of history.
    pub history_days: usize,
    /// Forecast demand per day.
    pub demand_per_day: f64,
    /// Deviation of daily demand around the forecast.
    pub demand_sd_per_day: f64,
    /// Lead time used, in days.
    pub lead_time_days: f64,
    /// Its deviation, in days.
    pub lead_time_sd_days: f64,
    /// Receipts the lead time was observed on (0: the supplier's quote).
    pub lead_time_observations: usize,
    /// Deviation of demand over the lead time.
    pub lead_time_demand_sd: f64,
    /// The safety factor for the target cycle service level.
    pub z: f64,
    /// Safety stock, in whole units.
    pub safety_stock: u64,
    /// Reorder point, in whole units.
    pub reorder_point: u64,
    /// The economic order quantity before MOQ and packs, when costs give one.
    pub eoq: Option<f64>,
    /// The order quantity, orderable (MOQ, packs).
    pub order_qty: u64,
    /// The fill rate the policy should give.
    pub expected_fill_rate: f64,
    /// The target cycle service level.
    pub cycle_service_level: f64,
}

/// Plans a policy for daily demand `daily` (oldest first), observed lead
/// times `lead_times` (days) and the supplier `terms`.
pub fn plan(daily: &[f64], lead_times: &[f64], terms: &SupplyTerms) -> Result<Plan, PlanError> {
    let (class, fit) = fit_auto(daily)?;
    let demand = fit.forecast;
    let errors: Vec<f64> = daily
        .iter()
        .zip(&fit.fitted)
        .filter_map(|(y, f)| f.map(|f| y - f))
        .collect();
    let demand_sd = if errors.len() >= 2 {
        (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt()
    } else {
        deviation(daily)
    };
    let (lead_time, lead_time_sd) = if lead_times.is_empty() {
        (f64::from(terms.lead_time_days), 0.0)
    } else {
        let mean = lead_times.iter().sum::<f64>() / lead_times.len() as f64;
        let sd = if lead_times.len() >= 2 {
            deviation(lead_times)
        } else {
            0.0
        };
        (mean.max(0.0), sd)
    };
    let csl = f64::from(terms.service_level_bp) / 10_000.0;
    let z = normal_quantile(csl);
    let sigma_lt = lead_time_demand_sd(demand, demand_sd, lead_time, lead_time_sd);
    let ss = safety_stock(z, sigma_lt).max(0.0);
    let rop = reorder_point(demand, lead_time, ss);
    let holding = terms.unit_cost_cents as f64 * f64::from(terms.holding_rate_bp) / 10_000.0;
    let eoq = economic_order_quantity(demand * 365.0, terms.order_cost_cents as f64, holding);
    let base = eoq.unwrap_or(demand * lead_time).max(1.0);
    let order_qty = orderable(base, terms.moq, terms.pack_size);
    let k = if sigma_lt > 0.0 { ss / sigma_lt } else { 0.0 };
    let plan = Plan {
        demand_class: class.class,
        method: fit.method,
        history_days: daily.len(),
        demand_per_day: demand,
        demand_sd_per_day: demand_sd,
        lead_time_days: lead_time,
        lead_time_sd_days: lead_time_sd,
        lead_time_observations: lead_times.len(),
        lead_time_demand_sd: sigma_lt,
        z,
        safety_stock: whole(ss, "safety stock")?,
        reorder_point: whole(rop, "reorder point")?,
        eoq,
        order_qty,
        expected_fill_rate: fill_rate(sigma_lt, order_qty as f64, k),
        cycle_service_level: csl,
    };
    for (name, value) in [
        ("demand", plan.demand_per_day),
        ("demand deviation", plan.demand_sd_per_day),
        ("lead-time demand deviation", plan.lead_time_demand_sd),
        ("fill rate", plan.expected_fill_rate),
    ] {
        if !value.is_finite() {
            return Err(PlanError::NotFinite(name));
        }
    }
    Ok(plan)
}

fn deviation(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

fn whole(value: f64, name: &'static str) -> Result<u64, PlanError> {
    if value.is_finite() && value >= 0.0 && value < schemas::MAX_QTY as f64 {
        Ok(value.ceil() as u64)
    } else {
        Err(PlanError::NotFinite(name))
    }
}

impl Plan {
    /// What an order placed now should be: the order quantity, or (min/max)
    /// up to reorder point + order quantity from `position`, orderable.
    pub fn order_for(&self, terms: &SupplyTerms, position: i64) -> u64 {
        match terms.sizing {
            schemas::inventory::LotSizing::Eoq => self.order_qty,
            schemas::inventory::LotSizing::MinMax => {
                let max = (self.reorder_point + self.order_qty) as f64;
                orderable(max - position as f64, terms.moq, terms.pack_size)
            }
        }
    }
}
