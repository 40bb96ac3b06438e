//! The HTTP API over a live service: commands in, the workers reacting,
//! read models answering, bad parameters refused by name, rebuilds and
//! checks, Prometheus metrics and the `OpenAPI` document.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use event_store::{Store, StoreConfig};
use fulfil_http::{router, AppState, QUERY_PARAMETERS, ROUTES};
use serde_json::Value;
use tower::ServiceExt;

struct Running {
    app: Router,
    state: AppState,
    service: fulfil_service::Service,
    _dir: tempfile::TempDir,
}

fn start() -> Running {
    start_at(Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap())
}

fn start_at(now: chrono::DateTime<Utc>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let clock = clock::ManualClock::new(now);
    let service = fulfil_service::Service::new(&store, Arc::new(clock))
        .unwrap()
        .with_workers();
    Running {
        app: router(service.state.clone()),
        state: service.state.clone(),
        service,
        _dir: dir,
    }
}

impl Running {
    async fn call(&self, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn json(&self, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
        let (status, text) = self.call(method, uri, body).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Waits until the workers have handled the log up to `position`.
    async fn settled(&self, position: u64) {
        self.state
            .caught_up
            .subscribe()
            .wait_for(|c| c.is_some_and(|c| c >= position))
            .await
            .unwrap();
    }

    /// Posts every line of a scenario, letting the workers react after each.
    async fn submit(&self, file: &str) -> Vec<Value> {
        let path = format!("{}/../scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
        let mut results = Vec::new();
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let (_, result) = self.json("POST", "/commands", line).await;
            self.settled(self.state.store.head_position()).await;
            results.push(result);
        }
        results
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_from_live_read_models_and_refuses_bad_parameters_by_name() {
    let svc = start();
    let (status, _) = svc.call("GET", "/healthz", "").await;
    assert_eq!(status, StatusCode::OK);
    svc.settled(0).await;
    let (status, ready) = svc.json("GET", "/readyz", "").await;
    assert_eq!(
        (status, &ready["ready"]),
        (StatusCode::OK, &Value::Bool(true))
    );

    let results = svc.submit("fulfilment.jsonl").await;
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "accepted").count(), 25);
    assert_eq!(statuses.iter().filter(|s| **s == "rejected").count(), 6);
    // A quantity of 0 is out of the schema's range: not a command.
    assert_eq!(statuses.iter().filter(|s| **s == "invalid").count(), 1);
    // A command through the API gets its HTTP status from its outcome.
    let (status, r) = svc
        .json(
            "POST",
            "/commands",
            r#"{"command_id":"x1","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":0}"#,
        )
        .await;
    assert_eq!(
        (status, r["status"].as_str(), r["command_id"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"), Some("x1"))
    );
    let (status, r) = svc
        .json(
            "POST",
            "/commands",
            r#"{"command_id":"x1","type":"ReceiveStock","sku":"KETTLE","location":"WH1","qty":1}"#,
        )
        .await;
    assert_eq!(
        (status, r["status"].as_str(), r["reason"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("rejected"),
            Some("unknown_sku")
        )
    );
    // The handoff's own commands are refused from outside, and write nothing.
    let head = svc.state.store.head_position();
    let (status, r) = svc
        .json(
            "POST",
            "/commands",
            r#"{"command_id":"x2","type":"ReserveStock","sku":"MUG","location":"WH1","order_id":"SO-404","line":1,"qty":1}"#,
        )
        .await;
    assert_eq!(
        (status, r["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("process_only"))
    );
    assert_eq!(svc.state.store.head_position(), head);
    let (status, r) = svc.json("POST", "/commands", "{not json").await;
    assert_eq!(
        (status, r["status"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );

    // ATP from the live model equals the model's own answer.
    let (status, atp) = svc.json("GET", "/atp/MUG?plan_from=2026-03-20", "").await;
    assert_eq!(status, StatusCode::OK);
    let direct = svc
        .state
        .models
        .atp
        .sku(
            "MUG",
            None,
            chrono::NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
        )
        .unwrap();
    assert_eq!(atp, serde_json::to_value(&direct).unwrap());
    let (status, body) = svc.json("GET", "/atp/KETTLE", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("KETTLE"), "{body}");

    let (status, p) = svc
        .json("GET", "/promise/TOWEL?qty=5&by=2026-03-25", "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["qty"], 5);
    for (uri, parameter) in [
        ("/promise/TOWEL?qty=abc&by=2026-03-25", "qty"),
        ("/promise/TOWEL?qty=0&by=2026-03-25", "qty"),
        ("/promise/TOWEL?qty=5", "by"),
        ("/promise/TOWEL?qty=5&by=tomorrow", "by"),
        ("/atp/MUG?locaton=WH1", "locaton"),
        ("/metrics/orders?from=2026-03-10&to=2026-03-01", "from"),
        ("/metrics/orders?as_of=yesterday", "as_of"),
        ("/metrics/inventory?tolerance=2", "tolerance"),
        ("/metrics/inventory?dead_after_days=-1", "dead_after_days"),
    ] {
        let (status, body) = svc.json("GET", uri, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["parameter"], parameter, "{uri}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(parameter),
            "{body}"
        );
    }

    // Metrics: the scenario's three orders (SO-3 cancelled); a period with
    // no orders is empty and well formed.
    let (status, m) = svc.json("GET", "/metrics/orders", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (m["orders"].as_u64(), m["cancelled"].as_u64()),
        (Some(3), Some(1))
    );
    let (_, web) = svc.json("GET", "/metrics/orders?channel=web", "").await;
    assert_eq!(web["orders"], 2);
    let (status, empty) = svc.json("GET", "/metrics/orders?from=2030-01-01", "").await;
    assert_eq!(
        (status, &empty["orders"], &empty["on_time_rate"]),
        (StatusCode::OK, &Value::from(0), &Value::Null)
    );
    let (status, inv) = svc
        .json(
            "GET",
            "/metrics/inventory?from=2026-03-01&to=2026-03-20&sku=MUG",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inv["days"], 20);
    assert!(inv["units_shipped"].as_u64().unwrap() > 0, "{inv}");

    // Rebuild while serving, then check live against a fresh rebuild.
    for name in ["atp", "orders", "stock"] {
        let (status, r) = svc
            .json("POST", &format!("/read-models/{name}/rebuild"), "")
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(
            r["checkpoint"].as_u64(),
            Some(svc.state.store.head_position())
        );
        let (status, c) = svc
            .json("GET", &format!("/read-models/{name}/check"), "")
            .await;
        assert_eq!(status, StatusCode::OK, "{c}");
        assert_eq!(c["differences"], Value::Array(vec![]));
    }
    let (_, after) = svc.json("GET", "/atp/MUG?plan_from=2026-03-20", "").await;
    assert_eq!(after, atp, "the rebuilt model answers as the live one did");
    let (status, _) = svc.json("POST", "/read-models/nope/rebuild", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Prometheus metrics of the service itself.
    let (status, text) = svc.call("GET", "/metrics", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("fulfil_http_requests_total{route=\"/atp/{sku}\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("fulfil_read_model_lag_events{model=\"stock\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("fulfil_commands_total{source=\"api\",outcome=\"rejected\"} 8"),
        "{text}"
    );
    assert!(
        text.contains("fulfil_commands_total{source=\"api\",outcome=\"invalid\"} 3"),
        "{text}"
    );
    svc.service.stop().await.unwrap();
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let svc = start();
    let (status, doc) = svc.json("GET", "/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path) in ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    // The query parameters documented are exactly those accepted, on every route.
    for (method, path) in ROUTES {
        let mut documented: Vec<&str> = doc["paths"][path][method]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let mut accepted = QUERY_PARAMETERS
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(&[][..], |(_, a)| *a)
            .to_vec();
        documented.sort_unstable();
        accepted.sort_unstable();
        assert_eq!(documented, accepted, "{path}");
    }
    assert_eq!(
        doc["paths"].as_object().unwrap().len(),
        ROUTES.len(),
        "a documented route does not exist"
    );
    // And every route is served for its method: no 405, and a 404 only
    // from a handler (with its JSON message), never from the router.
    for (method, path) in ROUTES {
        let uri = path.replace("{sku}", "MUG").replace("{name}", "atp");
        let (status, body) = svc.call(&method.to_uppercase(), &uri, "{}").await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        if status == StatusCode::NOT_FOUND {
            assert!(body.contains("\"error\""), "{method} {uri}: {body}");
        }
    }
    svc.service.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_forecasts_from_recorded_demand_and_lists_what_to_reorder() {
    let svc = start();
    svc.settled(0).await;
    let results = svc.submit("replenishment.jsonl").await;
    assert!(
        results.iter().all(|r| r["status"] == "accepted"),
        "{results:?}"
    );
    // The workers ran the replenishment process: purchase orders were placed.
    let placed = svc
        .state
        .store
        .read_all(1, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "PurchaseOrderPlaced")
        .count();
    assert!(placed > 0);
    let (status, report) = svc
        .json(
            "GET",
            "/forecast/KETTLE?location=WH3&bucket=day&horizon=3&today=2026-03-30",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ahead"].as_array().unwrap().len(), 3);
    assert_eq!(report["history"][0]["start"], "2026-03-02");
    assert!(report["policy"]["reorder_point"].as_u64().unwrap() > 0);
    let (status, report) = svc
        .json(
            "GET",
            "/forecast/KETTLE?method=tsb&alpha_d=0.2&alpha_p=0.3&today=2026-03-30",
            "",
        )
        .await;
    assert_eq!(
        (status, report["method"].as_str()),
        (StatusCode::OK, Some("tsb"))
    );
    let (status, table) = svc.json("GET", "/replenish?today=2026-03-30", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(table[0]["sku"], "KETTLE");
    assert_eq!(table[0]["supplier_id"], "ACME");
    // Bad parameters are refused by name.
    for (uri, name) in [
        ("/forecast/KETTLE?bucket=year", "bucket"),
        ("/forecast/KETTLE?horizon=0", "horizon"),
        ("/forecast/KETTLE?method=holt", "method"),
        ("/forecast/KETTLE?method=ses&alpha=2", "alpha"),
        ("/forecast/KETTLE?method=croston-sba&alpha=0.2", "alpha"),
        ("/forecast/KETTLE?alpha_p=0.2", "alpha_p"),
        ("/forecast/KETTLE?today=2026-02-30", "today"),
        ("/forecast/KETTLE?colour=red", "colour"),
        ("/replenish?skus=KETTLE", "skus"),
    ] {
        let (status, body) = svc.json("GET", uri, "").await;
        assert_eq!(
            (status, body["parameter"].as_str()),
            (StatusCode::BAD_REQUEST, Some(name)),
            "{uri}: {body}"
        );
    }
    svc.service.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_and_the_state_as_of_another_time_over_http() {
    let svc = start_at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let results = svc.submit("audit.jsonl").await;
    assert!(results.iter().all(|r| r["status"] == "accepted"));
    let to = "to=2026-04-30T23:59:59Z";
    let (status, report) = svc.json("GET", &format!("/audit/oversells?{to}"), "").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["summary"]["findings"], 8);
    assert_eq!(report["summary"]["system_faults"], 0);
    assert_eq!(
        report["findings"][0]["evidence"]["cause"],
        "cycle_count_variance"
    );
    let (status, late) = svc
        .json("GET", &format!("/diagnose/late-orders?{to}"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{late}");
    assert_eq!(
        (
            &late["summary"]["inventory_owned"],
            &late["summary"]["flow_owned"]
        ),
        (&Value::from(9), &Value::from(2))
    );
    for (uri, status, parameter) in [
        (
            "/audit/oversells?from=2026-04-10T00:00:00Z&to=2026-04-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            Some("from"),
        ),
        (
            "/audit/oversells?sku=NOPE",
            StatusCode::BAD_REQUEST,
            Some("sku"),
        ),
        (
            "/audit/oversells?to=2027-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            Some("to"),
        ),
        (
            "/audit/oversells?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/diagnose/late-orders?from=yesterday",
            StatusCode::BAD_REQUEST,
            Some("from"),
        ),
        (
            "/state/inventory-LAMP@WH1?as_of=2027-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            Some("as_of"),
        ),
        (
            "/state/order-SO-A1?as_of=2026-03-01T00:00:00Z",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/state/not-a-stream",
            StatusCode::BAD_REQUEST,
            Some("stream"),
        ),
    ] {
        let (got, body) = svc.json("GET", uri, "").await;
        assert_eq!(got, status, "{uri}: {body}");
        assert_eq!(body["parameter"].as_str(), parameter, "{uri}: {body}");
    }
    // LAMP before and after the count that found 8 missing.
    let (status, before) = svc
        .json(
            "GET",
            "/state/inventory-LAMP@WH1?as_of=2026-04-01T12:00:00Z",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["state"]["on_hand"], 10);
    let (_, now) = svc.json("GET", "/state/inventory-LAMP@WH1", "").await;
    assert_eq!(now["state"]["on_hand"], 12);
    let (_, atp) = svc
        .json("GET", "/atp/LAMP?as_of=2026-04-01T12:00:00Z", "")
        .await;
    assert_eq!(
        (&atp["atp_now"], &atp["today"]),
        (&Value::from(6), &Value::from("2026-04-01"))
    );
    let (_, inv) = svc
        .json(
            "GET",
            "/metrics/inventory?from=2026-04-01&to=2026-04-02&sku=LAMP&as_of=2026-04-02T23:59:59Z",
            "",
        )
        .await;
    let closes: Vec<&Value> = inv["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["close_units"])
        .collect();
    assert_eq!(closes, [&Value::from(10), &Value::from(2)]);
    let (status, views) = svc.json("GET", "/audit/promises/SO-A1", "").await;
    assert_eq!(status, StatusCode::OK, "{views}");
    let verdicts: Vec<&Value> = views
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["verdict"])
        .collect();
    assert_eq!(verdicts, [&Value::from("honest"), &Value::from("honest")]);
    let (status, _) = svc.json("GET", "/audit/promises/SO-404", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing was known before the first command was recorded.
    let (status, _) = svc
        .json(
            "GET",
            "/state/order-SO-A1?known_at=2026-01-01T00:00:00Z",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_route_refuses_unknown_parameters_and_a_dry_run_writes_nothing() {
    let svc = start();
    svc.submit("item-master.jsonl").await;
    let head = svc.state.store.head_position();
    // A misspelt dry_run once applied the command: now every route refuses
    // a parameter it does not take, or one given twice.
    for (method, uri, name) in [
        ("POST", "/commands?dryrun=true", "dryrun"),
        ("POST", "/commands?dry_run=1", "dry_run"),
        ("POST", "/commands?dry_run=true&dry_run=false", "dry_run"),
        ("GET", "/healthz?verbose=1", "verbose"),
        ("GET", "/state/order-SO-1?asof=2026-03-01", "asof"),
        ("GET", "/audit/promises/SO-1?format=json", "format"),
    ] {
        let body =
            r#"{"command_id":"dr1","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":5}"#;
        let (status, r) = svc.json(method, uri, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {r}");
        assert_eq!(r["parameter"], name, "{uri}: {r}");
    }
    let body =
        r#"{"command_id":"dr1","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":5}"#;
    let (status, r) = svc.json("POST", "/commands?dry_run=true", body).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "would_accept");
    assert_eq!(r["events"], serde_json::json!(["StockReceived"]));
    let bad = r#"{"command_id":"dr2","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":5,"po":"PO-1"}"#;
    let (status, r) = svc.json("POST", "/commands?dry_run=true", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
    assert!(r["message"].as_str().unwrap().contains("field `po`"), "{r}");
    assert_eq!(svc.state.store.head_position(), head, "nothing written");

    // A SKU the item master defines but nothing stocked has ATP 0; an
    // undefined SKU or location is a 404 naming it.
    svc.settled(head).await;
    let (status, atp) = svc.json("GET", "/atp/SKU-1", "").await;
    assert_eq!(
        (status, &atp["atp_now"]),
        (StatusCode::OK, &Value::from(0)),
        "{atp}"
    );
    let (status, r) = svc.json("GET", "/atp/NOPE", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("SKU NOPE is not defined"),
        "{r}"
    );
    let (status, r) = svc.json("GET", "/atp/SKU-1?location=WH9", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(r["error"].as_str().unwrap().contains("location WH9"), "{r}");
    svc.service.stop().await.unwrap();
}

#[tokio::test]
async fn orders_pos_stock_the_item_master_and_events_can_be_listed_and_an_order_told() {
    let svc = start();
    svc.submit("fulfilment.jsonl").await;
    svc.settled(svc.state.store.head_position()).await;
    let ids = |page: &Value| -> Vec<String> {
        page["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = svc.json("GET", "/orders", "").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), ["SO-1", "SO-2", "SO-3"]);
    assert_eq!(all["next"], Value::Null);
    for (query, expected) in [
        ("status=cancelled", vec!["SO-3"]),
        ("status=open", vec!["SO-1", "SO-2"]),
        ("customer=CUST-2", vec!["SO-2"]),
        ("sku=BEANS", vec!["SO-2"]),
        ("channel=store", vec!["SO-2"]),
        ("from=2026-03-04", vec![]),
    ] {
        let (status, page) = svc.json("GET", &format!("/orders?{query}"), "").await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }
    // Pages: one order each, following the cursor to the end.
    let (mut seen, mut after) = (Vec::new(), String::new());
    loop {
        let (_, page) = svc
            .json("GET", &format!("/orders?limit=1{after}"), "")
            .await;
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["SO-1", "SO-2", "SO-3"]);
    let (status, r) = svc.json("GET", "/orders?status=lost", "").await;
    assert_eq!(
        (status, &r["parameter"]),
        (StatusCode::BAD_REQUEST, &Value::from("status"))
    );
    let (status, r) = svc.json("GET", "/orders?limit=0", "").await;
    assert_eq!(
        (status, &r["parameter"]),
        (StatusCode::BAD_REQUEST, &Value::from("limit"))
    );

    // One order's story: the customer's facts and the process's, in log order.
    let (status, story) = svc.json("GET", "/orders/SO-1", "").await;
    assert_eq!(status, StatusCode::OK, "{story}");
    assert_eq!(story["order"]["order_id"], "SO-1");
    // The aggregate's own state, as GET /state/order-SO-1 gives it.
    let (_, state) = svc.json("GET", "/state/order-SO-1", "").await;
    assert_eq!(story["state"], state["state"]);
    let events = story["events"].as_array().unwrap();
    assert_eq!(events[0]["event_type"], "OrderPlaced");
    assert_eq!(events[0]["by"], "outside");
    let allocated = events
        .iter()
        .find(|e| e["event_type"] == "LineAllocated")
        .unwrap();
    assert_eq!(allocated["by"], "fulfilment");
    assert_eq!(allocated["reacting_to"], events[0]["position"]);
    assert!(events
        .windows(2)
        .all(|w| w[0]["position"].as_u64() < w[1]["position"].as_u64()));
    assert_eq!(story["lines"].as_array().unwrap().len(), 2);
    let (status, _) = svc.json("GET", "/orders/NOPE", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The item master, POs and stock.
    let (_, skus) = svc.json("GET", "/skus", "").await;
    let skus: Vec<&str> = skus
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["BEANS", "MUG", "TOWEL"]);
    let (_, locations) = svc.json("GET", "/locations", "").await;
    assert_eq!(locations.as_array().unwrap().len(), 2, "{locations}");
    let (_, pos) = svc.json("GET", "/purchase-orders", "").await;
    assert_eq!(pos[0]["po_id"], "PO-1", "{pos}");
    let (_, open) = svc.json("GET", "/purchase-orders?status=open", "").await;
    let (_, done) = svc
        .json("GET", "/purchase-orders?status=done&supplier=SUP-1", "")
        .await;
    assert_eq!(
        open.as_array().unwrap().len() + done.as_array().unwrap().len(),
        pos.as_array().unwrap().len()
    );
    let (status, stock) = svc.json("GET", "/stock?sku=MUG", "").await;
    assert_eq!(status, StatusCode::OK, "{stock}");
    let free: u64 = stock
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["free"].as_u64().unwrap())
        .sum();
    let (_, atp) = svc.json("GET", "/atp/MUG", "").await;
    assert_eq!(
        Some(free),
        atp["atp_now"].as_u64(),
        "free stock is ATP now: {stock}"
    );
    let (status, _) = svc.json("GET", "/stock?sku=NOPE", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Events by type across the log, and one stream a page at a time.
    let (_, page) = svc.json("GET", "/events?type=OrderPlaced", "").await;
    let placed: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stream"].as_str().unwrap())
        .collect();
    assert_eq!(placed, ["order-SO-1", "order-SO-2", "order-SO-3"]);
    let (_, page) = svc
        .json("GET", "/events?stream=order-SO-1&limit=2", "")
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let next = page["next"].as_u64().unwrap();
    let (_, rest) = svc
        .json("GET", &format!("/events?stream=order-SO-1&from={next}"), "")
        .await;
    assert_eq!(
        2 + rest["events"].as_array().unwrap().len(),
        events.len(),
        "the pages hold the order's events"
    );
    svc.service.stop().await.unwrap();
}

#[tokio::test]
async fn with_tokens_analysts_read_operators_write_and_nobody_else_is_let_in() {
    let (analyst, operator) = (
        "analyst-token-for-tests-0001",
        "operator-token-for-tests-0001",
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let clock = clock::ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap());
    let access = fulfil_http::Access::new(&[analyst.into()], &[operator.into()]).unwrap();
    let service = fulfil_service::Service::new(&store, Arc::new(clock))
        .unwrap()
        .with_access(access)
        .with_workers();
    let app = router(service.state.clone());
    let call = |method: &str, uri: &str, token: Option<&str>, body: &str| {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let request = request.body(Body::from(body.to_owned())).unwrap();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let challenge = response.headers().get("www-authenticate").cloned();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                challenge,
                String::from_utf8(bytes.to_vec()).unwrap(),
            )
        }
    };
    let command = r#"{"command_id":"t1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#;
    // The probes stay open; everything else needs a token.
    assert_eq!(call("GET", "/healthz", None, "").await.0, StatusCode::OK);
    let (status, challenge, _) = call("GET", "/skus", None, "").await;
    assert_eq!(
        (status, challenge.as_ref().map(|v| v.to_str().unwrap())),
        (StatusCode::UNAUTHORIZED, Some("Bearer"))
    );
    assert_eq!(
        call("GET", "/skus", Some("operator-token-for-tests-0002"), "")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // An analyst reads, and may not write.
    assert_eq!(
        call("GET", "/skus", Some(analyst), "").await.0,
        StatusCode::OK
    );
    let (status, _, body) = call("POST", "/commands", Some(analyst), command).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        call("POST", "/read-models/atp/rebuild", Some(analyst), "")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(service.state.store.head_position(), 0, "nothing written");
    // An operator writes.
    let (status, _, body) = call("POST", "/commands", Some(operator), command).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // No token appears in what the service says about itself.
    let (_, _, metrics) = call("GET", "/metrics", Some(analyst), "").await;
    assert!(
        metrics.contains("status=\"401\""),
        "refusals are counted: {metrics}"
    );
    for token in [analyst, operator] {
        assert!(!metrics.contains(token));
        assert!(!format!("{:?}", service.state.access).contains(token));
    }
    service.stop().await.unwrap();
}

#[tokio::test]
async fn a_request_body_over_the_bound_is_refused_and_the_bound_is_a_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let clock = clock::ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap());
    let service = fulfil_service::Service::new(&store, Arc::new(clock))
        .unwrap()
        .with_body_limit(4096);
    let app = router(service.state.clone());
    let post = |body: String| {
        let request = Request::builder()
            .method("POST")
            .uri("/commands")
            .body(Body::from(body))
            .unwrap();
        app.clone().oneshot(request)
    };
    let padded = |n: usize| {
        format!(
            r#"{{"command_id":"big","type":"DefineSku","sku":"MUG","description":"{}","unit_of_measure":"each","standard_cost_cents":300}}"#,
            "m".repeat(n)
        )
    };
    let response = post(padded(8192)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(store.head_position(), 0, "nothing written");
    let response = post(padded(100)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let text = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(text.contains("fulfil_http_body_limit_bytes 4096"), "{text}");
    assert!(
        text.contains("route=\"/commands\",status=\"413\""),
        "{text}"
    );
}
