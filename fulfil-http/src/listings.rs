//! Finding things over HTTP: orders (filtered, paged), one order's story,
//! the item master, purchase orders, stock and the log's events.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use event_store::{EventPage, EventQuery, StreamId};
use projections::atp::{StockQuery, StockRow};
use projections::orders::{OrderFilter, OrderPage, OrderQuery, OrderStatus};
use projections::purchases::{PurchaseQuery, PurchaseStatus, PurchaseSummary};
use schemas::catalog::{LocationDefinition, SkuDefinition};

use crate::{ApiError, AppState, Params};

/// Events one page of `/events` holds at most.
const EVENTS_MAX_LIMIT: usize = 1000;

/// Parses a status the way the CLI names it.
fn status<T: serde::de::DeserializeOwned>(
    params: &Params,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    params
        .text("status")
        .map(|s| {
            serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|_| {
                ApiError::bad("status", format!("expected one of {expected}, got `{s}`"))
            })
        })
        .transpose()
}

/// Orders, oldest placed first, a page at a time.
pub(crate) async fn orders(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<OrderPage>, ApiError> {
    let params = Params(raw);
    let (from, to) = crate::period(&params)?;
    let limit = params
        .parse::<usize>("limit", "a whole number from 1 to 1000")?
        .unwrap_or(OrderQuery::DEFAULT_LIMIT);
    if !(1..=OrderQuery::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad(
            "limit",
            format!("{limit} is not from 1 to 1000"),
        ));
    }
    let query = OrderQuery {
        filter: OrderFilter {
            from,
            to,
            channel: params.text("channel"),
            sku: params.text("sku"),
            location: params.text("location"),
        },
        status: status::<OrderStatus>(
            &params,
            "open, backordered, late, shipped, delivered, cancelled",
        )?,
        customer: params.text("customer"),
        after: params.text("after"),
        limit,
    };
    let today = state.clock.now().date_naive();
    let models = state.models.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || models.orders.list(&query, today)).await??,
    ))
}

/// One order's story.
pub(crate) async fn order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<audit::Story>, ApiError> {
    state.writer_only("an order's story reads the writer's log")?;
    let today = state.clock.now().date_naive();
    let (store, models) = (state.store.clone(), state.models.clone());
    Ok(Json(
        tokio::task::spawn_blocking(move || audit::story(&store, &models.orders, &order_id, today))
            .await??,
    ))
}

/// The SKUs the item master defines.
pub(crate) async fn skus(
    State(state): State<AppState>,
) -> Result<Json<Vec<SkuDefinition>>, ApiError> {
    Ok(Json(state.models.atp.skus()?))
}

/// The locations the item master defines.
pub(crate) async fn locations(
    State(state): State<AppState>,
) -> Result<Json<Vec<LocationDefinition>>, ApiError> {
    Ok(Json(state.models.atp.locations()?))
}

/// Purchase orders by status, supplier, SKU and location.
pub(crate) async fn purchase_orders(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<PurchaseSummary>>, ApiError> {
    let params = Params(raw);
    let query = PurchaseQuery {
        status: status::<PurchaseStatus>(&params, "open, overdue, done")?,
        supplier: params.text("supplier"),
        sku: params.text("sku"),
        location: params.text("location"),
    };
    let today = state.clock.now().date_naive();
    let models = state.models.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || models.purchases.list(&query, today)).await??,
    ))
}

/// Stock by item, against the reorder point.
pub(crate) async fn stock(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<StockRow>>, ApiError> {
    let params = Params(raw);
    let query = StockQuery {
        sku: params.text("sku"),
        location: params.text("location"),
        at_reorder_point: params
            .parse::<bool>("at_reorder_point", "true or false")?
            .unwrap_or(false),
    };
    let models = state.models.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || models.atp.stock(&query)).await??,
    ))
}

/// The log's events: one stream, or by type and correlation id between
/// two positions, a page at a time.
pub(crate) async fn events(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<EventPage>, ApiError> {
    state.writer_only("events are read from the writer's log (or the event topics)")?;
    let params = Params(raw);
    let limit = params
        .parse::<usize>("limit", "a whole number from 1 to 1000")?
        .unwrap_or(100);
    if !(1..=EVENTS_MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad(
            "limit",
            format!("{limit} is not from 1 to 1000"),
        ));
    }
    let stream = params
        .text("stream")
        .map(|s| StreamId::new(s).map_err(|e| ApiError::bad("stream", e.to_string())))
        .transpose()?;
    let query = EventQuery {
        stream,
        event_type: params.text("type"),
        correlation_id: params.text("correlation_id"),
        from: params.parse("from", "a log position")?.unwrap_or(1),
        to: params.parse("to", "a log position")?,
        limit,
    };
    if query.to.is_some_and(|to| to < query.from) {
        return Err(ApiError::bad("to", "is before from"));
    }
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.find(&query))
        .await?
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}
