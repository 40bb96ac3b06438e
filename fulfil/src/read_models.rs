//! The read models the service keeps, by name, caught up together.

use event_store::{ReadModel, Store};
use projections::atp::{AtpModel, AtpProjection};
use projections::orders::{OrdersModel, OrdersProjection};
use projections::stock::{StockModel, StockProjection};
use projections::{Projection, ProjectionError};
use serde::Serialize;

/// The names `replay` and `check` accept.
pub const NAMES: [&str; 3] = ["atp", "orders", "stock"];

/// Every read model over one store.
#[derive(Debug, Clone)]
pub struct ReadModels {
    store: Store,
    pub atp: AtpModel,
    pub orders: OrdersModel,
    pub stock: StockModel,
}

/// How far one model is behind the log.
#[derive(Debug, Clone, Serialize)]
pub struct Lag {
    pub model: &'static str,
    pub checkpoint: u64,
    pub behind: u64,
}

impl ReadModels {
    pub fn open(store: &Store) -> Result<Self, ProjectionError> {
        Ok(Self {
            store: store.clone(),
            atp: AtpModel::open(store)?,
            orders: OrdersModel::open(store)?,
            stock: StockModel::open(store)?,
        })
    }

    /// Folds every new event into every model; returns the events read.
    pub fn catch_up(&self) -> Result<usize, ProjectionError> {
        Ok(self.atp.catch_up()? + self.orders.catch_up()? + self.stock.catch_up()?)
    }

    /// The model named `name` and how it is built, if there is one.
    pub fn get(&self, name: &str) -> Option<(&ReadModel, &'static dyn Projection)> {
        match name {
            "atp" => Some((self.atp.read_model(), &AtpProjection)),
            "orders" => Some((self.orders.read_model(), &OrdersProjection)),
            "stock" => Some((self.stock.read_model(), &StockProjection)),
            _ => None,
        }
    }

    /// Each model's checkpoint and distance from `head`, the newest log
    /// position known.
    pub fn lag(&self, head: u64) -> Result<Vec<Lag>, ProjectionError> {
        NAMES
            .iter()
            .filter_map(|n| self.get(n).map(|(m, _)| (*n, m)))
            .map(|(model, m)| {
                let checkpoint = m.checkpoint()?.unwrap_or(0);
                Ok(Lag {
                    model,
                    checkpoint,
                    behind: head.saturating_sub(checkpoint),
                })
            })
            .collect()
    }

    /// Rebuilds the named model beside the live one and swaps it in.
    pub fn rebuild(
        &self,
        name: &str,
    ) -> Result<Option<projections::projection::Rebuilt>, ProjectionError> {
        self.get(name)
            .map(|(m, p)| projections::projection::rebuild(&self.store, m, p))
            .transpose()
    }

    /// Compares the named live model with a fresh rebuild.
    pub fn check(
        &self,
        name: &str,
    ) -> Result<Option<projections::projection::CheckReport>, ProjectionError> {
        self.get(name)
            .map(|(m, p)| projections::projection::check(&self.store, m, p))
            .transpose()
    }
}
