//! Every read model the service keeps, by name, caught up together. A new
//! model is one line in [`read_models!`]'s list below.

use event_store::Store;
use serde::Serialize;

use crate::atp::AtpModel;
use crate::demand::DemandModel;
use crate::orders::OrdersModel;
use crate::projection::{self, CheckReport, Projection, ReadModel, Rebuilt};
use crate::purchases::PurchasesModel;
use crate::stock::StockModel;
use crate::ProjectionError;

/// How far one model is behind the log.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Lag {
    /// The model's name.
    pub model: &'static str,
    /// The last log position it holds.
    pub checkpoint: u64,
    /// Positions it has still to fold.
    pub behind: u64,
}

/// Declares [`ReadModels`] and [`NAMES`] from one list of `field: Model`.
macro_rules! read_models {
    ($($field:ident: $model:ty),* $(,)?) => {
        /// The names `replay` and `check` accept.
        pub const NAMES: &[&str] = &[$(stringify!($field)),*];

        /// Every read model over one store.
        #[derive(Debug, Clone)]
        pub struct ReadModels {
            store: Store,
            $(
                #[doc = concat!("The `", stringify!($field), "` model.")]
                pub $field: $model,
            )*
        }

        impl ReadModels {
            /// Opens every model over `store`.
            pub fn open(store: &Store) -> Result<Self, ProjectionError> {
                Ok(Self {
                    store: store.clone(),
                    $($field: <$model>::open(store)?,)*
                })
            }

            /// Each model's storage and fold, in [`NAMES`] order.
            pub fn all(&self) -> Vec<(&ReadModel, &dyn Projection)> {
                vec![$((self.$field.read_model(), self.$field.projection())),*]
            }
        }
    };
}

read_models! {
    atp: AtpModel,
    orders: OrdersModel,
    stock: StockModel,
    demand: DemandModel,
    purchases: PurchasesModel,
}

impl ReadModels {
    /// Folds every new event into every model; returns the events read.
    pub fn catch_up(&self) -> Result<usize, ProjectionError> {
        let mut read = 0;
        for (model, fold) in self.all() {
            read += projection::catch_up(&self.store, model, fold, None)?;
        }
        Ok(read)
    }

    /// The model named `name` and how it is built, if there is one.
    pub fn get(&self, name: &str) -> Option<(&ReadModel, &dyn Projection)> {
        self.all().into_iter().find(|(_, p)| p.name() == name)
    }

    /// Each model's checkpoint and distance from `head`, the newest log
    /// position known.
    pub fn lag(&self, head: u64) -> Result<Vec<Lag>, ProjectionError> {
        self.all()
            .into_iter()
            .map(|(m, p)| {
                let checkpoint = m.checkpoint()?.unwrap_or(0);
                Ok(Lag {
                    model: p.name(),
                    checkpoint,
                    behind: head.saturating_sub(checkpoint),
                })
            })
            .collect()
    }

    /// Rebuilds the named model beside the live one and swaps it in.
    pub fn rebuild(&self, name: &str) -> Result<Option<Rebuilt>, ProjectionError> {
        self.get(name)
            .map(|(m, p)| projection::rebuild(&self.store, m, p))
            .transpose()
    }

    /// Compares the named live model with a fresh rebuild.
    pub fn check(&self, name: &str) -> Result<Option<CheckReport>, ProjectionError> {
        self.get(name)
            .map(|(m, p)| projection::check(&self.store, m, p))
            .transpose()
    }

    /// Drops every model, to build them again from the start of their feed.
    pub fn clear(&self) -> Result<(), ProjectionError> {
        for (model, _) in self.all() {
            model.clear()?;
        }
        Ok(())
    }
}
