//! `fulfil serve` on the embedded store: one task keeps the fulfilment
//! process and the read models caught up with the log (woken by each
//! append), while the HTTP API answers from the read models.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use clock::SharedClock;
use event_store::{Store, StoreError};
use projections::ProjectionError;
use tokio::sync::watch;

use crate::api::{AppState, Telemetry};
use crate::handler::CommandHandler;
use crate::process::FulfilmentProcess;
use crate::read_models::ReadModels;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error("a worker task failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// The API's shared state over `store`, not yet ready.
pub fn state(store: &Store, clock: SharedClock) -> Result<AppState, ServiceError> {
    Ok(AppState {
        store: store.clone(),
        handler: CommandHandler::new(store.clone()),
        models: ReadModels::open(store)?,
        clock,
        caught_up: Arc::new(watch::channel(None).0),
        telemetry: Arc::new(Telemetry::default()),
        kafka: crate::api::KafkaStats::default(),
        replica: None,
    })
}

/// Runs the fulfilment process and the read models after every append
/// until `shutdown` turns true. The service is ready after the first pass.
pub async fn run_workers(
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    let mut head = state.store.head_watch();
    let mut process = FulfilmentProcess::open(state.handler.clone())?;
    loop {
        let target = *head.borrow_and_update();
        let models = state.models.clone();
        let (p, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = process
                .run_until_idle()
                .map_err(ServiceError::from)
                .and_then(|progress| Ok((progress, models.catch_up()?)));
            (process, outcome)
        })
        .await?;
        process = p;
        match outcome {
            Ok((progress, _)) => {
                state
                    .telemetry
                    .process_commands
                    .fetch_add(progress.commands as u64, Ordering::Relaxed);
                // Everything up to `target` is handled (the process's own
                // commands went past it; the next pass takes them).
                state.caught_up.send_replace(Some(target));
            }
            // The log is the truth: a failed pass is retried on the next append.
            Err(e) => tracing::error!(error = %e, "the workers could not catch up"),
        }
        tokio::select! {
            changed = head.changed() => if changed.is_err() { return Ok(()) },
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve_http(
    state: AppState,
    listener: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    axum::serve(listener, crate::api::router(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await?;
    Ok(())
}
