//! The two process managers over one store, run together: fulfilment
//! (orders ↔ stock) and replenishment (demand → purchase orders), until
//! neither has anything left to do.

use command_handler::CommandHandler;
use fulfilment::{FulfilmentProcess, Progress};
use projections::ReadModels;
use replenishment::ReplenishmentProcess;

use crate::ServiceError;

/// The fulfilment and replenishment processes of one writer.
pub struct Processes {
    fulfilment: FulfilmentProcess,
    replenishment: ReplenishmentProcess<CommandHandler>,
}

impl Processes {
    /// Both processes over the handler's store, from their checkpoints;
    /// replenishment reads (and catches up) `models`.
    pub fn open(handler: &CommandHandler, models: ReadModels) -> Result<Self, ServiceError> {
        Ok(Self {
            fulfilment: FulfilmentProcess::open(handler.clone())?,
            replenishment: ReplenishmentProcess::open(
                handler.store().clone(),
                handler.clone(),
                models,
            )?,
        })
    }

    /// Runs fulfilment, then replenishment, until neither issues a command;
    /// returns what both did.
    pub fn run_until_idle(&mut self) -> Result<Progress, ServiceError> {
        let mut total = Progress::default();
        loop {
            total.add(self.fulfilment.run_until_idle()?);
            let replenished = self.replenishment.run_until_idle()?;
            let idle = replenished.commands == 0;
            total.add(replenished);
            if idle {
                return Ok(total);
            }
        }
    }

    /// The purchase orders replenishment placed since the last call.
    pub fn take_placed(&mut self) -> Vec<String> {
        self.replenishment.take_placed()
    }
}
