//! The item master: one stream per SKU and one per location. Orders,
//! purchase orders and stock movements may only name what is defined here
//! (the command handler checks), so a typo never creates phantom stock.

use decider::{Aggregate, Decider};
use schemas::catalog::{CatalogCommand, CatalogEvent, LocationDefinition, SkuDefinition};
use schemas::{check_id, InvalidField, StreamKind, StreamName};
use serde::{Deserialize, Serialize};

/// One SKU's or one location's current definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogEntry {
    #[default]
    /// Nothing defined yet.
    Undefined,
    /// A SKU and its definition.
    Sku(SkuDefinition),
    /// A location and its definition.
    Location(LocationDefinition),
}

/// Why a definition was refused. Nothing changes when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum Rejection {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("{field} must not be empty")]
    Blank { field: &'static str },
    /// The same definition again: nothing to revise.
    #[error("already defined with these values")]
    Unchanged,
}

impl decider::Reason for Rejection {
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::Blank { .. } => "invalid_fields",
            Self::Unchanged => "unchanged",
        }
    }
}

fn not_blank(field: &'static str, value: &str) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        return Err(Rejection::Blank { field });
    }
    Ok(())
}

impl Decider for CatalogEntry {
    type State = CatalogEntry;
    type Command = CatalogCommand;
    type Event = CatalogEvent;
    type Rejection = Rejection;

    fn decide(state: &Self, command: &CatalogCommand) -> Result<Vec<CatalogEvent>, Rejection> {
        match command {
            CatalogCommand::DefineSku(def) => {
                check_id("sku", &def.sku)?;
                not_blank("description", &def.description)?;
                not_blank("unit_of_measure", &def.unit_of_measure)?;
                match state {
                    Self::Sku(current) if current == def => Err(Rejection::Unchanged),
                    Self::Sku(_) => Ok(vec![CatalogEvent::SkuRevised(def.clone())]),
                    _ => Ok(vec![CatalogEvent::SkuDefined(def.clone())]),
                }
            }
            CatalogCommand::DefineLocation(def) => {
                check_id("location", &def.location)?;
                not_blank("name", &def.name)?;
                match state {
                    Self::Location(current) if current == def => Err(Rejection::Unchanged),
                    Self::Location(_) => Ok(vec![CatalogEvent::LocationRevised(def.clone())]),
                    _ => Ok(vec![CatalogEvent::LocationDefined(def.clone())]),
                }
            }
        }
    }

    fn evolve(_state: Self, event: &CatalogEvent) -> Self {
        match event {
            CatalogEvent::SkuDefined(d) | CatalogEvent::SkuRevised(d) => Self::Sku(d.clone()),
            CatalogEvent::LocationDefined(d) | CatalogEvent::LocationRevised(d) => {
                Self::Location(d.clone())
            }
        }
    }
}

impl Aggregate for CatalogEntry {
    const KINDS: &'static [StreamKind] = &[StreamKind::Sku, StreamKind::Location];
    const STATE_SCHEMA: &'static str = "catalog-entry/1";

    fn stream(command: &CatalogCommand) -> Result<StreamName, InvalidField> {
        match command {
            CatalogCommand::DefineSku(d) => StreamName::sku(&d.sku),
            CatalogCommand::DefineLocation(d) => StreamName::location(&d.location),
        }
    }
}
