//! The HTTP API for analysts and upstream systems: ATP and promises, order
//! and inventory metrics, commands, rebuilds and checks of read models,
//! health, readiness, Prometheus metrics and the `OpenAPI` document.
//!
//! Queries read the read models' trees and never wait for the writer; the
//! slower ones (metrics scans, rebuilds) run on the blocking pool.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use clock::SharedClock;
use event_store::{Cut, Store};
use forecasting::Method;
use projections::demand::Bucket;
use projections::orders::OrderFilter;
use projections::stock::StockFilter;
use projections::ProjectionError;
use replenishment::report::{forecast_report, ForecastQuery, ForecastReport, ReportError};
use replenishment::{suggestions, Suggestion};
use tokio::sync::watch;

mod access;
mod answers;
mod listings;

pub use access::{Access, AccessError, Role, MIN_TOKEN_LEN};

pub use answers::{answer_schemas, ANSWERS};

use command_handler::CommandHandler;
use projections::ReadModels;
use schemas::{CommandResult, Outcome};

/// Every route, with its method, as the router and the `OpenAPI` document name it.
pub const ROUTES: [(&str, &str); 25] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/atp/{sku}"),
    ("get", "/promise/{sku}"),
    ("get", "/metrics/orders"),
    ("get", "/metrics/inventory"),
    ("get", "/forecast/{sku}"),
    ("get", "/replenish"),
    ("get", "/state/{stream}"),
    ("get", "/audit/oversells"),
    ("get", "/audit/promises/{order_id}"),
    ("get", "/diagnose/late-orders"),
    ("get", "/orders"),
    ("get", "/orders/{order_id}"),
    ("get", "/skus"),
    ("get", "/locations"),
    ("get", "/purchase-orders"),
    ("get", "/stock"),
    ("get", "/events"),
    ("post", "/commands"),
    ("post", "/backup"),
    ("post", "/read-models/{name}/rebuild"),
    ("get", "/read-models/{name}/check"),
];

/// The query parameters each route accepts; any other is refused.
pub const QUERY_PARAMETERS: [(&str, &[&str]); 15] = [
    ("/readyz", &["position", "timeout_ms"]),
    ("/commands", &["dry_run"]),
    (
        "/orders",
        &[
            "status", "customer", "sku", "location", "channel", "from", "to", "after", "limit",
        ],
    ),
    (
        "/purchase-orders",
        &["status", "supplier", "sku", "location"],
    ),
    ("/stock", &["sku", "location", "at_reorder_point"]),
    (
        "/events",
        &["stream", "type", "correlation_id", "from", "to", "limit"],
    ),
    (
        "/atp/{sku}",
        &["location", "plan_from", "as_of", "known_at"],
    ),
    ("/state/{stream}", &["as_of", "known_at"]),
    ("/audit/oversells", &["from", "to", "sku", "location"]),
    ("/diagnose/late-orders", &["from", "to"]),
    ("/promise/{sku}", &["qty", "by", "location", "plan_from"]),
    (
        "/metrics/orders",
        &[
            "from", "to", "channel", "sku", "location", "as_of", "known_at",
        ],
    ),
    (
        "/forecast/{sku}",
        &[
            "location", "bucket", "horizon", "method", "alpha", "alpha_d", "alpha_p", "today",
        ],
    ),
    ("/replenish", &["sku", "today"]),
    (
        "/metrics/inventory",
        &[
            "from",
            "to",
            "sku",
            "location",
            "tolerance",
            "dead_after_days",
            "as_of",
            "known_at",
        ],
    ),
];

/// The `OpenAPI` 3.1 description of [`ROUTES`].
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The log, for heads and the outbox.
    pub store: Store,
    /// The command path for `POST /commands`.
    pub handler: CommandHandler,
    /// The read models queries answer from.
    pub models: ReadModels,
    /// The clock that says what today is when a query does not.
    pub clock: SharedClock,
    /// The log position the workers last caught everything up to (none
    /// before their first pass): the service is ready once it is set.
    pub caught_up: Arc<watch::Sender<Option<u64>>>,
    /// Request and command counters for `/metrics`.
    pub telemetry: Arc<Telemetry>,
    /// Set on a read replica (`fulfil project`): its models come from the
    /// event topics, so it takes no commands and has no log of its own.
    pub replica: Option<Arc<dyn Replica>>,
    /// Other tasks' series for `/metrics` (the Kafka consumer and relay).
    pub series: Vec<Arc<dyn Series>>,
    /// Who may call the API (open when no token is configured).
    pub access: Access,
    /// The largest request body taken, in bytes; a larger one is a 413.
    pub max_body_bytes: usize,
}

impl AppState {
    /// A request body's bound when none is configured: 1 MiB, room for an
    /// order of thousands of lines.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
}

impl AppState {
    /// The newest log position this node knows of: its own log's head, or
    /// on a replica the highest position seen on the event topics.
    pub fn head(&self) -> u64 {
        match &self.replica {
            Some(r) => r.head(),
            None => self.store.head_position(),
        }
    }

    fn writer_only(&self, what: &str) -> Result<(), ApiError> {
        match self.replica {
            Some(_) => Err(ApiError::Replica(format!(
                "this node is a read replica built from the event topics: {what}"
            ))),
            None => Ok(()),
        }
    }
}

/// Series a task of the node shows on `/metrics`.
pub trait Series: Send + Sync {
    /// Name, help and value of each; a name ending in `_total` is a
    /// counter, any other a gauge.
    fn series(&self) -> Vec<(&'static str, &'static str, u64)>;
}

/// What the API needs of a read replica, handed in by whoever feeds it.
pub trait Replica: Series {
    /// The highest log position the replica has seen.
    fn head(&self) -> u64;
}

/// Writes `s`'s series in the exposition format.
fn series<S: Series + ?Sized>(body: &mut String, s: &S) {
    use std::fmt::Write as _;
    for (name, help, value) in s.series() {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(
            body,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}

/// Counters the service exposes on `/metrics`.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Requests and their total seconds, by route and status.
    requests: Mutex<BTreeMap<(String, u16), (u64, f64)>>,
    /// Request latencies by route, in the buckets of [`LATENCY_BUCKETS`].
    latency: Mutex<BTreeMap<String, [u64; LATENCY_BUCKETS.len()]>>,
    /// Commands accepted through the API.
    pub commands_accepted: AtomicU64,
    /// Commands refused through the API.
    pub commands_rejected: AtomicU64,
    /// Messages through the API that were not commands.
    pub commands_invalid: AtomicU64,
    /// Commands the processes (fulfilment, replenishment) issued.
    pub process_commands: AtomicU64,
    /// Commands the processes issued that were refused, by reason.
    process_refusals: Mutex<BTreeMap<String, u64>>,
}

/// Upper bounds (seconds) of the request-latency histogram.
const LATENCY_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];

impl Telemetry {
    fn observe(&self, route: &str, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = requests.entry((route.to_owned(), status)).or_default();
        entry.0 += 1;
        entry.1 += seconds;
        drop(requests);
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = latency.entry(route.to_owned()).or_default();
        for (bound, count) in LATENCY_BUCKETS.iter().zip(buckets.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
    }

    /// Counts `n` refusals of the processes' commands for `reason`.
    pub fn process_refused(&self, reason: &str, n: u64) {
        let mut refusals = self
            .process_refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *refusals.entry(reason.to_owned()).or_default() += n;
    }

    /// The refusals of the processes' commands counted so far, by reason.
    pub fn process_refusals(&self) -> Vec<(String, u64)> {
        self.process_refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(r, n)| (r.clone(), *n))
            .collect()
    }

    /// Counts a command's outcome.
    pub fn command(&self, result: &CommandResult) {
        let counter = match result.outcome() {
            Outcome::Accepted => &self.commands_accepted,
            Outcome::Rejected => &self.commands_rejected,
            Outcome::Invalid => &self.commands_invalid,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await
}

/// The router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .route("/openapi.json", get(openapi))
        .route("/atp/{sku}", get(atp))
        .route("/promise/{sku}", get(promise))
        .route("/metrics/orders", get(order_metrics))
        .route("/metrics/inventory", get(inventory_metrics))
        .route("/forecast/{sku}", get(forecast))
        .route("/replenish", get(replenish))
        .route("/state/{stream}", get(state_of))
        .route("/audit/oversells", get(oversells))
        .route("/audit/promises/{order_id}", get(promises))
        .route("/diagnose/late-orders", get(late_orders))
        .route("/orders", get(listings::orders))
        .route("/orders/{order_id}", get(listings::order))
        .route("/skus", get(listings::skus))
        .route("/locations", get(listings::locations))
        .route("/purchase-orders", get(listings::purchase_orders))
        .route("/stock", get(listings::stock))
        .route("/events", get(listings::events))
        .route("/commands", post(command))
        .route("/backup", post(backup))
        .route("/read-models/{name}/rebuild", post(rebuild))
        .route("/read-models/{name}/check", get(check))
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::from_fn(strict_query))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Refuses a query parameter the route does not take (every route takes
/// only those [`QUERY_PARAMETERS`] names, most none) or one given twice,
/// so a typo never silently widens a query or turns a dry run into a write.
async fn strict_query(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let (Some(route), Some(_)) = (route, request.uri().query()) else {
        return next.run(request).await;
    };
    let allowed = QUERY_PARAMETERS
        .iter()
        .find(|(r, _)| *r == route)
        .map_or(&[][..], |(_, p)| *p);
    let pairs = match Query::<Vec<(String, String)>>::try_from_uri(request.uri()) {
        Ok(Query(pairs)) => pairs,
        Err(e) => return ApiError::bad("(query)", e.body_text()).into_response(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in &pairs {
        if !allowed.contains(&name.as_str()) {
            let expected = if allowed.is_empty() {
                format!("unknown; {route} takes no query parameters")
            } else {
                format!("unknown; expected one of {}", allowed.join(", "))
            };
            return ApiError::bad(name, expected).into_response();
        }
        if !seen.insert(name) {
            return ApiError::bad(name, "given more than once").into_response();
        }
    }
    next.run(request).await
}

async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state.telemetry.observe(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// What a request gets instead of an answer.
#[derive(Debug)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum ApiError {
    /// A parameter is missing, unknown or malformed.
    BadParameter {
        name: String,
        message: String,
    },
    NotFound(String),
    /// Asked of a read replica, which only answers queries.
    Replica(String),
    Internal(String),
}

impl ApiError {
    fn bad(name: &str, message: impl Into<String>) -> Self {
        Self::BadParameter {
            name: name.to_owned(),
            message: message.into(),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::UnknownSku(_) | ProjectionError::UnknownLocation(_) => {
                Self::NotFound(e.to_string())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::BadParameter { name, message } => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": format!("parameter `{name}`: {message}"), "parameter": name }),
            ),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, serde_json::json!({ "error": m })),
            Self::Replica(m) => (StatusCode::CONFLICT, serde_json::json!({ "error": m })),
            Self::Internal(m) => {
                tracing::error!(error = %m, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({ "error": m }),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

/// A route's query parameters, by name (names it does not take were
/// refused by [`strict_query`]).
struct Params(HashMap<String, String>);

impl Params {
    fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn parse<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, ApiError> {
        self.0
            .get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad(name, format!("expected {what}, got `{v}`")))
            })
            .transpose()
    }

    fn date(&self, name: &str) -> Result<Option<NaiveDate>, ApiError> {
        self.parse(name, "a date (YYYY-MM-DD)")
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.parse(name, "a time (RFC 3339, e.g. 2026-03-05T09:00:00Z)")
    }

    /// The cut of the log `as_of` (facts dated up to it) and `known_at`
    /// (facts recorded by it) ask for; none for now and every fact. A time
    /// after the clock is refused, or with `every_fact_later` (metrics,
    /// which count ages to it) read as every fact. Only a node with the
    /// log can answer for an earlier time: a replica refuses.
    fn cut(&self, state: &AppState, every_fact_later: bool) -> Result<Option<Cut>, ApiError> {
        let now = state.clock.now();
        let (mut as_of, mut known_at) = (self.time("as_of")?, self.time("known_at")?);
        if every_fact_later {
            as_of = as_of.filter(|t| *t <= now);
            known_at = known_at.filter(|t| *t <= now);
        }
        for (name, time) in [("as_of", as_of), ("known_at", known_at)] {
            if time.is_some_and(|t| t > now) {
                return Err(ApiError::bad(
                    name,
                    format!("is in the future (the clock says {})", now.to_rfc3339()),
                ));
            }
        }
        if as_of.is_none() && known_at.is_none() {
            return Ok(None);
        }
        state.writer_only("it holds no log to read another time from")?;
        let until_position = known_at
            .map(|t| state.store.position_recorded_by(t))
            .transpose()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Some(Cut {
            until_position,
            dated_by: as_of,
        }))
    }
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::bad(name, "required"))
}

/// Longest a readiness request may wait for a position.
const READY_WAIT_MAX_MS: u64 = 60_000;

/// Ready once the first catch-up is done; with `position`, once the read
/// models hold that log position (waiting up to `timeout_ms`, default 10 s),
/// so a client can read what it just wrote.
async fn readyz(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params(raw);
    let position: Option<u64> = params.parse("position", "a log position")?;
    let timeout_ms: u64 = params
        .parse("timeout_ms", "milliseconds")?
        .unwrap_or(10_000)
        .min(READY_WAIT_MAX_MS);
    let reached = |c: &Option<u64>| c.is_some_and(|c| position.is_none_or(|p| c >= p));
    let ready = if position.is_none() {
        reached(&state.caught_up.borrow())
    } else {
        let mut caught_up = state.caught_up.subscribe();
        let limit = std::time::Duration::from_millis(timeout_ms);
        let waited =
            tokio::time::timeout(limit, async { caught_up.wait_for(reached).await.is_ok() }).await;
        waited == Ok(true)
    };
    let lag = state.models.lag(state.head())?;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "ready": ready,
        "role": if state.replica.is_some() { "replica" } else { "writer" },
        "caught_up": *state.caught_up.borrow(),
        "read_models": lag,
    });
    Ok((status, Json(body)).into_response())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn prometheus(State(state): State<AppState>) -> Result<Response, ApiError> {
    use std::fmt::Write;
    let t = &state.telemetry;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    metric(
        "fulfil_log_head_position",
        "gauge",
        "Position of the last event in the log.",
    );
    metric(
        "fulfil_outbox_pending",
        "gauge",
        "Events recorded but not yet published.",
    );
    metric(
        "fulfil_read_model_checkpoint",
        "gauge",
        "Last log position a read model applied.",
    );
    metric(
        "fulfil_read_model_lag_events",
        "gauge",
        "Events a read model is behind the log.",
    );
    metric(
        "fulfil_commands_total",
        "counter",
        "Commands by outcome, from the API and the processes.",
    );
    metric(
        "fulfil_process_refusals_total",
        "counter",
        "Commands the processes (fulfilment, replenishment) issued that were refused, by reason.",
    );
    metric(
        "fulfil_http_body_limit_bytes",
        "gauge",
        "The largest request body the API takes (a larger one is answered 413).",
    );
    metric(
        "fulfil_http_requests_total",
        "counter",
        "HTTP requests by route and status.",
    );
    metric(
        "fulfil_http_request_duration_seconds",
        "histogram",
        "HTTP request latency by route.",
    );
    let lag = state.models.lag(state.head())?;
    let mut body = String::new();
    let _ = writeln!(body, "fulfil_log_head_position {}", state.head());
    let _ = writeln!(
        body,
        "fulfil_http_body_limit_bytes {}",
        state.max_body_bytes
    );
    match &state.replica {
        None => {
            let outbox = state
                .store
                .outbox_len()
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let _ = writeln!(body, "fulfil_outbox_pending {outbox}");
        }
        Some(r) => series(&mut body, r.as_ref()),
    }
    for s in &state.series {
        series(&mut body, s.as_ref());
    }
    for l in &lag {
        let _ = writeln!(
            body,
            "fulfil_read_model_checkpoint{{model=\"{}\"}} {}",
            l.model, l.checkpoint
        );
        let _ = writeln!(
            body,
            "fulfil_read_model_lag_events{{model=\"{}\"}} {}",
            l.model, l.behind
        );
    }
    for (outcome, counter) in [
        ("accepted", &t.commands_accepted),
        ("rejected", &t.commands_rejected),
        ("invalid", &t.commands_invalid),
    ] {
        let _ = writeln!(
            body,
            "fulfil_commands_total{{source=\"api\",outcome=\"{outcome}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        body,
        "fulfil_commands_total{{source=\"process\",outcome=\"issued\"}} {}",
        t.process_commands.load(Ordering::Relaxed)
    );
    let refusals = t
        .process_refusals
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for (reason, n) in &refusals {
        let _ = writeln!(
            body,
            "fulfil_process_refusals_total{{reason=\"{reason}\"}} {n}"
        );
    }
    let requests = t
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut totals: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for ((route, status), (n, secs)) in &requests {
        let _ = writeln!(
            body,
            "fulfil_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
        );
        let total = totals.entry(route.clone()).or_default();
        total.0 += n;
        total.1 += secs;
    }
    let latency = t
        .latency
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for (route, buckets) in &latency {
        let name = "fulfil_http_request_duration_seconds";
        for (bound, count) in LATENCY_BUCKETS.iter().zip(buckets) {
            let _ = writeln!(
                body,
                "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
            );
        }
        let (n, secs) = totals.get(route).copied().unwrap_or_default();
        let _ = writeln!(body, "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {n}");
        let _ = writeln!(body, "{name}_sum{{route=\"{route}\"}} {secs}");
        let _ = writeln!(body, "{name}_count{{route=\"{route}\"}} {n}");
    }
    out.push_str(&body);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

fn today(state: &AppState, params: &Params) -> Result<NaiveDate, ApiError> {
    Ok(params
        .date("today")?
        .unwrap_or_else(|| state.clock.now().date_naive()))
}

async fn atp(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<projections::atp::SkuAtp>, ApiError> {
    let params = Params(raw);
    let cut = params.cut(&state, false)?;
    let today = match (params.date("plan_from")?, cut.and_then(|c| c.dated_by)) {
        (Some(day), _) => day,
        (None, Some(as_of)) => as_of.date_naive(),
        (None, None) => state.clock.now().date_naive(),
    };
    let location = params.text("location");
    let models = state.models.clone();
    let atp = tokio::task::spawn_blocking(move || match cut {
        Some(cut) => models
            .atp
            .as_of(&cut)?
            .sku(&sku, location.as_deref(), today),
        None => models.atp.sku(&sku, location.as_deref(), today),
    })
    .await??;
    Ok(Json(atp))
}

/// One aggregate's state (`order-SO-1`, `inventory-MUG@WH1`, …): now, or
/// from the facts dated by `as_of` as the log held them at `known_at`.
async fn state_of(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = Params(raw);
    state.writer_only("aggregates live in the writer's log")?;
    let cut = params.cut(&state, false)?;
    let name =
        schemas::StreamName::parse(&stream).map_err(|e| ApiError::bad("stream", e.to_string()))?;
    let handler = state.handler.clone();
    let (json, version) = tokio::task::spawn_blocking(move || match cut {
        Some(cut) => handler.state_json_as_of(&name, &cut),
        None => handler.state_json(&name),
    })
    .await?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if version == 0 {
        return Err(ApiError::NotFound(format!("{stream} has no events")));
    }
    Ok(Json(
        serde_json::json!({ "stream": stream, "version": version, "state": json }),
    ))
}

impl From<audit::AuditError> for ApiError {
    fn from(e: audit::AuditError) -> Self {
        use audit::AuditError as A;
        match &e {
            A::Reversed { .. } => Self::bad("from", e.to_string()),
            A::Future { field, .. } => Self::bad(field.trim_start_matches('-'), e.to_string()),
            A::Unknown { what, .. } => {
                let name = if *what == "SKU" { "sku" } else { "location" };
                Self::bad(name, e.to_string())
            }
            A::EmptyStore | A::NoEventsInRange { .. } | A::UnknownOrder(_) => {
                Self::NotFound(e.to_string())
            }
            A::Store(_) | A::Projection(_) => Self::Internal(e.to_string()),
        }
    }
}

/// The audit's scope from `from`, `to` (RFC 3339), `sku` and `location`.
fn audit_scope(params: &Params) -> Result<audit::Scope, ApiError> {
    Ok(audit::Scope {
        from: params.time("from")?,
        to: params.time("to")?,
        sku: params.text("sku"),
        location: params.text("location"),
    })
}

async fn replay(state: &AppState, scope: audit::Scope) -> Result<audit::Audit, ApiError> {
    state.writer_only("the audit replays the writer's log")?;
    let (store, now) = (state.store.clone(), state.clock.now());
    Ok(
        tokio::task::spawn_blocking(move || audit::audit(&store, &scope, now, &mut |_, _| {}))
            .await??,
    )
}

async fn oversells(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<audit::AuditReport>, ApiError> {
    let params = Params(raw);
    let scope = audit_scope(&params)?;
    Ok(Json(replay(&state, scope).await?.promises))
}

/// One order's promises, as held then and as known now.
async fn promises(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<Vec<audit::PromiseView>>, ApiError> {
    state.writer_only("the audit replays the writer's log")?;
    let (store, models) = (state.store.clone(), state.models.clone());
    Ok(Json(
        tokio::task::spawn_blocking(move || audit::promises(&store, &models.atp, &order_id))
            .await??,
    ))
}

async fn late_orders(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<audit::LateReport>, ApiError> {
    let params = Params(raw);
    let scope = audit_scope(&params)?;
    Ok(Json(replay(&state, scope).await?.late))
}

async fn promise(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<projections::atp::Promise>, ApiError> {
    let params = Params(raw);
    let qty: u64 = required(params.parse("qty", "a whole number of units")?, "qty")?;
    if qty == 0 {
        return Err(ApiError::bad("qty", "must be at least 1"));
    }
    let by = required(params.date("by")?, "by")?;
    let today = params
        .date("plan_from")?
        .unwrap_or_else(|| state.clock.now().date_naive());
    Ok(Json(state.models.atp.promise(
        &sku,
        qty,
        by,
        params.text("location").as_deref(),
        today,
    )?))
}

/// `from` must not be after `to`.
fn period(params: &Params) -> Result<(Option<NaiveDate>, Option<NaiveDate>), ApiError> {
    let (from, to) = (params.date("from")?, params.date("to")?);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::bad("from", format!("{f} is after `to` ({t})")));
        }
    }
    Ok((from, to))
}

async fn order_metrics(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<projections::orders::OrderMetrics>, ApiError> {
    let params = Params(raw);
    let (from, to) = period(&params)?;
    let filter = OrderFilter {
        from,
        to,
        channel: params.text("channel"),
        sku: params.text("sku"),
        location: params.text("location"),
    };
    let cut = params.cut(&state, true)?;
    let as_of = params.time("as_of")?.unwrap_or_else(|| state.clock.now());
    let models = state.models.clone();
    let m = tokio::task::spawn_blocking(move || match cut {
        Some(cut) => models.orders.as_of(&cut)?.metrics(&filter, as_of),
        None => models.orders.metrics(&filter, as_of),
    })
    .await??;
    Ok(Json(m))
}

async fn inventory_metrics(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<projections::stock::StockMetrics>, ApiError> {
    let params = Params(raw);
    let cut = params.cut(&state, true)?;
    let (from, to) = period(&params)?;
    let as_of = params.time("as_of")?.unwrap_or_else(|| state.clock.now());
    let tolerance: Option<f64> = params.parse("tolerance", "a share such as 0.02")?;
    if tolerance.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return Err(ApiError::bad("tolerance", "must be between 0 and 1"));
    }
    let dead: Option<i64> = params.parse("dead_after_days", "a whole number of days")?;
    if dead.is_some_and(|d| d < 0) {
        return Err(ApiError::bad("dead_after_days", "must not be negative"));
    }
    let mut filter = StockFilter::new(from, to, as_of);
    filter.sku = params.text("sku");
    filter.location = params.text("location");
    if let Some(t) = tolerance {
        filter.count_tolerance = t;
    }
    if let Some(d) = dead {
        filter.dead_after_days = d;
    }
    let models = state.models.clone();
    let m = tokio::task::spawn_blocking(move || match cut {
        Some(cut) => models.stock.as_of(&cut)?.metrics(&filter, as_of),
        None => models.stock.metrics(&filter, as_of),
    })
    .await??;
    Ok(Json(m))
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Projection(e) => e.into(),
            ReportError::Forecast(e) => Self::bad("method", e.to_string()),
        }
    }
}

async fn forecast(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<ForecastReport>, ApiError> {
    let params = Params(raw);
    let bucket = match params.text("bucket").as_deref() {
        None | Some("week") => Bucket::Week,
        Some("day") => Bucket::Day,
        Some("month") => Bucket::Month,
        Some(other) => {
            return Err(ApiError::bad(
                "bucket",
                format!("expected day, week or month, got `{other}`"),
            ))
        }
    };
    let horizon: usize = params
        .parse("horizon", "a whole number of periods")?
        .unwrap_or(6);
    if !(1..=1000).contains(&horizon) {
        return Err(ApiError::bad("horizon", "must be 1 to 1000"));
    }
    let alpha = |name: &str| -> Result<Option<f64>, ApiError> {
        let value: Option<f64> = params.parse(name, "a number above 0 and at most 1")?;
        if value.is_some_and(|v| !(v > 0.0 && v <= 1.0)) {
            return Err(ApiError::bad(name, "must be above 0 and at most 1"));
        }
        Ok(value)
    };
    let (a, ad, ap) = (alpha("alpha")?, alpha("alpha_d")?, alpha("alpha_p")?);
    let name = params.text("method");
    let takes = |m: &str| name.as_deref() == Some(m);
    if a.is_some() && !takes("ses") {
        return Err(ApiError::bad("alpha", "is for method=ses"));
    }
    if ad.is_some() && !takes("tsb") {
        return Err(ApiError::bad("alpha_d", "is for method=tsb"));
    }
    if ap.is_some() && !takes("tsb") {
        return Err(ApiError::bad("alpha_p", "is for method=tsb"));
    }
    let method = match name.as_deref() {
        None | Some("auto") => None,
        Some(name) => Some(Method::named(name, a, ad, ap).ok_or_else(|| {
            ApiError::bad(
                "method",
                format!("expected auto or one of {}", Method::NAMES.join(", ")),
            )
        })?),
    };
    let query = ForecastQuery {
        sku,
        location: params.text("location"),
        bucket,
        horizon,
        method,
        today: today(&state, &params)?,
    };
    let models = state.models.clone();
    let report = tokio::task::spawn_blocking(move || forecast_report(&models, &query)).await??;
    Ok(Json(report))
}

async fn replenish(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Suggestion>>, ApiError> {
    let params = Params(raw);
    let today = today(&state, &params)?;
    let sku = params.text("sku");
    let models = state.models.clone();
    let table =
        tokio::task::spawn_blocking(move || suggestions(&models, sku.as_deref(), today)).await??;
    Ok(Json(table))
}

async fn command(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    if let Err(e) =
        state.writer_only("send commands to the writer (its POST /commands or the command topics)")
    {
        return e.into_response();
    }
    let dry_run = match Params(raw).parse::<bool>("dry_run", "true or false") {
        Ok(d) => d.unwrap_or(false),
        Err(e) => return e.into_response(),
    };
    // A body over the limit is answered as any other entry point answers
    // a command too large to read.
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let e = schemas::InvalidCommand::TooLarge {
                limit: state.max_body_bytes,
            };
            let result = CommandResult::invalid(None, &e);
            state.telemetry.command(&result);
            return (StatusCode::PAYLOAD_TOO_LARGE, Json(result)).into_response();
        }
        Err(e) => return e.into_response(),
    };
    let handler = state.handler.clone();
    let outcome = tokio::task::spawn_blocking(move || match schemas::parse_command_bytes(&body) {
        Ok(envelope) if dry_run => {
            handler.try_command(&envelope, &mut command_handler::Trial::default())
        }
        Ok(envelope) => handler.handle(&envelope),
        Err(e) => Ok(CommandResult::invalid(None, &e)),
    })
    .await;
    match outcome {
        Ok(Ok(result)) => {
            if !dry_run {
                state.telemetry.command(&result);
            }
            let status = match result {
                CommandResult::Accepted { .. } | CommandResult::WouldAccept { .. } => {
                    StatusCode::OK
                }
                CommandResult::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                CommandResult::Invalid { .. } => StatusCode::BAD_REQUEST,
            };
            (status, Json(result)).into_response()
        }
        Ok(Err(e)) => ApiError::Internal(e.to_string()).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Where `POST /backup` writes its copy.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupTo {
    /// A new or empty directory on this node's machine.
    dir: std::path::PathBuf,
}

/// A consistent copy of the store while it serves (operators only, when
/// tokens are set).
async fn backup(State(state): State<AppState>, body: String) -> Result<Response, ApiError> {
    state.writer_only("it has no log to copy; back up the writer")?;
    let to: BackupTo = serde_json::from_str(&body)
        .map_err(|e| ApiError::bad("(body)", format!("expected {{\"dir\": \"/path\"}}: {e}")))?;
    let store = state.store.clone();
    let copied = tokio::task::spawn_blocking(move || store.backup(&to.dir))
        .await?
        .map_err(|e| ApiError::bad("dir", e.to_string()))?;
    Ok(Json(copied).into_response())
}

fn unknown_model(name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no read model named {name}; there are {}",
        projections::NAMES.join(", ")
    ))
}

async fn rebuild(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    state.writer_only(
        "it rebuilds by reading the topics again; restart it with `fulfil project --reset`",
    )?;
    let models = state.models.clone();
    let n = name.clone();
    match tokio::task::spawn_blocking(move || models.rebuild(&n)).await?? {
        Some(rebuilt) => Ok(Json(rebuilt).into_response()),
        None => Err(unknown_model(&name)),
    }
}

async fn check(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    state.writer_only("it has no log to check against; check the writer")?;
    let models = state.models.clone();
    let n = name.clone();
    match tokio::task::spawn_blocking(move || models.check(&n)).await?? {
        Some(report) => {
            let status = if report.agrees() {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            };
            Ok((status, Json(report)).into_response())
        }
        None => Err(unknown_model(&name)),
    }
}
