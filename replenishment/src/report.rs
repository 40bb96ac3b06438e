//! What `fulfil forecast SKU` and `GET /forecast/{sku}` answer: the demand
//! history, its class and method, the forecast, its accuracy (in-sample and
//! as tracked week by week) and the policy.

use chrono::{Days, Months, NaiveDate};
use forecasting::{fit, fit_auto, Accuracy, Classification, Method};
use inventory_aggregate::InventoryItem;
use projections::demand::{Bucket, Period, Tracked};
use projections::{ProjectionError, ReadModels};
use schemas::inventory::ReorderPolicy;
use serde::Serialize;

use crate::plan::{plan, Plan};

/// Why a forecast report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A read model failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The series could not be forecast with the method asked for.
    #[error(transparent)]
    Forecast(#[from] forecasting::ForecastError),
}

/// One forecast period ahead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ahead {
    /// The period's first day.
    pub start: NaiveDate,
    /// Units forecast.
    pub forecast: f64,
}

/// A SKU's demand, forecast, accuracy and policy.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastReport {
    /// The SKU.
    pub sku: String,
    /// The location asked about (none: all of them).
    pub location: Option<String>,
    /// How the history is summed.
    pub bucket: Bucket,
    /// The day the report is as of.
    pub today: NaiveDate,
    /// Demand per period, from the first demand to today.
    pub history: Vec<Period>,
    /// The demand class and the figures behind it.
    pub classification: Classification,
    /// The method used (the class's, unless one was asked for).
    pub method: &'static str,
    /// Its parameters, fixed or fitted.
    pub parameters: Vec<(&'static str, f64)>,
    /// Forecast per period.
    pub forecast_per_period: f64,
    /// The periods ahead.
    pub ahead: Vec<Ahead>,
    /// One-step forecasts over the history against what happened.
    pub in_sample: Accuracy,
    /// The weekly forecasts recorded as weeks began, against demand now.
    pub tracked: Tracked,
    /// The item's policy in force (with a location).
    pub policy: Option<ReorderPolicy>,
    /// The policy planned from today's daily history (an item with supplier terms).
    pub plan: Option<Plan>,
    /// What the report says when there is nothing to forecast from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// What to report on.
#[derive(Debug, Clone)]
pub struct ForecastQuery {
    /// The SKU.
    pub sku: String,
    /// Only this location (with the unassigned demand at its primary location).
    pub location: Option<String>,
    /// Per day, week or month.
    pub bucket: Bucket,
    /// Periods ahead.
    pub horizon: usize,
    /// A method instead of the class's.
    pub method: Option<Method>,
    /// The day to report as of.
    pub today: NaiveDate,
}

/// The report for `query`, from the read models as they stand.
pub fn forecast_report(
    models: &ReadModels,
    query: &ForecastQuery,
) -> Result<ForecastReport, ReportError> {
    let sku = query.sku.as_str();
    let location = query.location.as_deref();
    let history = models
        .demand
        .history(sku, location, query.bucket, query.today)?;
    let series: Vec<f64> = history.iter().map(|p| p.demand as f64).collect();
    let classification = forecasting::classify(&series);
    let fitted = match query.method {
        Some(method) => fit(method, &series)?,
        None => fit_auto(&series)?.1,
    };
    let last = history
        .last()
        .map_or(query.bucket.start(query.today), |p| p.start);
    let ahead = (1..=query.horizon)
        .map(|n| Ahead {
            start: step(query.bucket, last, n),
            forecast: fitted.forecast,
        })
        .collect();
    let item: Option<InventoryItem> = match location {
        Some(l) => models
            .atp
            .items(sku)?
            .into_iter()
            .find(|(loc, _)| loc == l)
            .map(|(_, i)| i),
        None => None,
    };
    let planned = match (&item, location) {
        (Some(item), Some(l)) => match &item.supply {
            Some(terms) => {
                let (daily, lead) = crate::suggest::history(models, sku, l, query.today)?;
                plan(&daily, &lead, terms).ok()
            }
            None => None,
        },
        _ => None,
    };
    Ok(ForecastReport {
        sku: sku.to_owned(),
        location: query.location.clone(),
        bucket: query.bucket,
        today: query.today,
        in_sample: Accuracy::of(&series, &fitted.fitted),
        tracked: models.demand.accuracy(sku, query.today)?,
        note: series
            .is_empty()
            .then_some("no demand recorded for this SKU: the forecast is 0"),
        history,
        classification,
        method: fitted.method,
        parameters: fitted.parameters,
        forecast_per_period: fitted.forecast,
        ahead,
        policy: item.and_then(|i| i.policy),
        plan: planned,
    })
}

/// The start of the `n`th period after the one starting on `start`.
fn step(bucket: Bucket, start: NaiveDate, n: usize) -> NaiveDate {
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    match bucket {
        Bucket::Day => start.checked_add_days(Days::new(n as u64)),
        Bucket::Week => start.checked_add_days(Days::new(7 * n as u64)),
        Bucket::Month => start.checked_add_months(Months::new(n32)),
    }
    .unwrap_or(NaiveDate::MAX)
}
