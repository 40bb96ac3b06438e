//! The item master: SKUs and locations, defined before anything refers to them.

// The wire types' fields are described in docs/events.md: a doc comment
// here would change the text of the published JSON Schemas.
#![allow(missing_docs)]

use serde::{Deserialize, Serialize};

/// What kind of place holds stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Warehouse,
    Store,
}

/// A SKU's master data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SkuDefinition {
    pub sku: String,
    pub description: String,
    /// Unit of measure, for example `each`, `box-12`, `kg`.
    pub unit_of_measure: String,
    /// Standard cost per unit, in cents.
    pub standard_cost_cents: u64,
}

/// A location's master data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LocationDefinition {
    pub location: String,
    pub name: String,
    pub kind: LocationKind,
}

/// What can be asked of the item master. Defining again with other
/// values revises the definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum CatalogCommand {
    DefineSku(SkuDefinition),
    DefineLocation(LocationDefinition),
}

impl CatalogCommand {
    /// The `type` values of these commands.
    pub const TYPES: [&'static str; 2] = ["DefineSku", "DefineLocation"];
}

/// What happened to the item master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum CatalogEvent {
    SkuDefined(SkuDefinition),
    SkuRevised(SkuDefinition),
    LocationDefined(LocationDefinition),
    LocationRevised(LocationDefinition),
}

crate::event_types!(CatalogEvent {
    SkuDefined,
    SkuRevised,
    LocationDefined,
    LocationRevised,
});
