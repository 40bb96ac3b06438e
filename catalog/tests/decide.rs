//! Given events, when a definition, then events or a rejection.

use catalog::{CatalogEntry, Rejection};
use decider::given;
use schemas::catalog::{
    CatalogCommand as C, CatalogEvent as E, LocationDefinition, LocationKind, SkuDefinition,
};
use schemas::InvalidField;

fn sku(cost: u64) -> SkuDefinition {
    SkuDefinition {
        sku: "SKU-A".into(),
        description: "Blue mug".into(),
        unit_of_measure: "each".into(),
        standard_cost_cents: cost,
    }
}
fn warehouse(name: &str) -> LocationDefinition {
    LocationDefinition {
        location: "WH1".into(),
        name: name.into(),
        kind: LocationKind::Warehouse,
    }
}

#[test]
fn a_sku_is_defined_then_revised() {
    given::<CatalogEntry>([])
        .when(C::DefineSku(sku(120)))
        .then([E::SkuDefined(sku(120))]);
    given::<CatalogEntry>([E::SkuDefined(sku(120))])
        .when(C::DefineSku(sku(135)))
        .then([E::SkuRevised(sku(135))]);
    given::<CatalogEntry>([E::SkuDefined(sku(120))])
        .when(C::DefineSku(sku(120)))
        .then_rejected(Rejection::Unchanged);
}

#[test]
fn a_location_is_defined_then_revised() {
    given::<CatalogEntry>([])
        .when(C::DefineLocation(warehouse("Bristol")))
        .then([E::LocationDefined(warehouse("Bristol"))]);
    given::<CatalogEntry>([E::LocationDefined(warehouse("Bristol"))])
        .when(C::DefineLocation(warehouse("Bristol DC")))
        .then([E::LocationRevised(warehouse("Bristol DC"))]);
    given::<CatalogEntry>([E::LocationDefined(warehouse("Bristol"))])
        .when(C::DefineLocation(warehouse("Bristol")))
        .then_rejected(Rejection::Unchanged);
}

#[test]
fn blank_fields_and_bad_ids_are_refused() {
    let mut blank = sku(1);
    blank.description = " ".into();
    given::<CatalogEntry>([])
        .when(C::DefineSku(blank))
        .then_rejected(Rejection::Blank {
            field: "description",
        });
    let mut no_uom = sku(1);
    no_uom.unit_of_measure.clear();
    given::<CatalogEntry>([])
        .when(C::DefineSku(no_uom))
        .then_rejected(Rejection::Blank {
            field: "unit_of_measure",
        });
    let mut bad = sku(1);
    bad.sku = "SKU#1".into();
    given::<CatalogEntry>([])
        .when(C::DefineSku(bad))
        .then_rejected(Rejection::Invalid(InvalidField::Id {
            field: "sku",
            problem: "must not contain whitespace, '@' or '#'",
        }));
    given::<CatalogEntry>([])
        .when(C::DefineLocation(warehouse("")))
        .then_rejected(Rejection::Blank { field: "name" });
    let mut bad_location = warehouse("x");
    bad_location.location = String::new();
    given::<CatalogEntry>([])
        .when(C::DefineLocation(bad_location))
        .then_rejected(Rejection::Invalid(InvalidField::Id {
            field: "location",
            problem: "must have 1 to 64 characters",
        }));
}
