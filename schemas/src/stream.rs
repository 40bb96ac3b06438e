//! Stream names: which aggregate instance a stream of events belongs to.
//!
//! A stream name is a kind and an id, printed `kind-id` (`order-SO-1`,
//! `inventory-MUG@WH1`, `po-PO-7`, `sku-MUG`, `location-WH1`). This module
//! is the one place that prints and parses them; everything else holds a
//! [`StreamName`].

use std::fmt;

use crate::InvalidField;

/// The kind of aggregate a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamKind {
    /// A SKU's definition in the item master.
    Sku,
    /// A location's definition in the item master.
    Location,
    /// One SKU at one location.
    Inventory,
    /// A customer order.
    Order,
    /// A purchase order.
    PurchaseOrder,
}

impl StreamKind {
    /// Every kind, in the order their prefixes are tried.
    pub const ALL: [Self; 5] = [
        Self::Sku,
        Self::Location,
        Self::Inventory,
        Self::Order,
        Self::PurchaseOrder,
    ];

    /// The prefix the stream name starts with (before the `-`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Sku => "sku",
            Self::Location => "location",
            Self::Inventory => "inventory",
            Self::Order => "order",
            Self::PurchaseOrder => "po",
        }
    }

    /// Splits a printed stream name into its kind and id, without checking
    /// the id: for reading names the log already holds.
    pub fn split(stream: &str) -> Option<(Self, &str)> {
        let (prefix, id) = stream.split_once('-')?;
        let kind = Self::ALL.into_iter().find(|k| k.prefix() == prefix)?;
        Some((kind, id))
    }

    /// The topic kind its commands and events travel on (`fulfil.events.<kind>`):
    /// SKUs and locations share the item master's.
    pub fn topic_kind(self) -> &'static str {
        match self {
            Self::Sku | Self::Location => "catalog",
            Self::Inventory => "inventory",
            Self::Order => "order",
            Self::PurchaseOrder => "purchase-order",
        }
    }
}

/// A stream's name: its kind and the aggregate's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamName {
    kind: StreamKind,
    id: String,
}

/// Why a text is not a stream name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stream} names no aggregate: expected order-…, inventory-SKU@LOCATION, po-…, sku-… or location-…")]
pub struct UnknownStream {
    /// The text given.
    pub stream: String,
}

impl StreamName {
    /// A stream of `kind` for aggregate `id`, or why the id cannot name one.
    pub fn new(kind: StreamKind, id: &str) -> Result<Self, InvalidField> {
        let field = match kind {
            StreamKind::Sku | StreamKind::Inventory => "sku",
            StreamKind::Location => "location",
            StreamKind::Order => "order_id",
            StreamKind::PurchaseOrder => "po_id",
        };
        if kind == StreamKind::Inventory {
            let (sku, location) = id.split_once('@').ok_or(InvalidField::Id {
                field: "location",
                problem: "must be given as SKU@LOCATION",
            })?;
            return Self::inventory(sku, location);
        }
        crate::check_id(field, id)?;
        Ok(Self {
            kind,
            id: id.to_owned(),
        })
    }

    /// The stream of `sku` at `location`.
    pub fn inventory(sku: &str, location: &str) -> Result<Self, InvalidField> {
        crate::check_id("location", location)?;
        crate::check_id("sku", sku)?;
        Ok(Self {
            kind: StreamKind::Inventory,
            id: format!("{sku}@{location}"),
        })
    }

    /// The stream of a customer order.
    pub fn order(order_id: &str) -> Result<Self, InvalidField> {
        Self::new(StreamKind::Order, order_id)
    }

    /// The stream of a purchase order.
    pub fn purchase_order(po_id: &str) -> Result<Self, InvalidField> {
        Self::new(StreamKind::PurchaseOrder, po_id)
    }

    /// The stream of a SKU's definition.
    pub fn sku(sku: &str) -> Result<Self, InvalidField> {
        Self::new(StreamKind::Sku, sku)
    }

    /// The stream of a location's definition.
    pub fn location(location: &str) -> Result<Self, InvalidField> {
        Self::new(StreamKind::Location, location)
    }

    /// Reads a printed stream name back.
    pub fn parse(text: &str) -> Result<Self, UnknownStream> {
        let unknown = || UnknownStream {
            stream: text.to_owned(),
        };
        let (kind, id) = StreamKind::split(text).ok_or_else(unknown)?;
        Self::new(kind, id).map_err(|_| unknown())
    }

    /// The aggregate's kind.
    pub fn kind(&self) -> StreamKind {
        self.kind
    }

    /// The aggregate's id (`SKU@LOCATION` for an inventory item): the key
    /// its commands and events carry on Kafka.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.kind.prefix(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_name_reads_back_as_printed() {
        for (kind, id) in [
            (StreamKind::Sku, "MUG"),
            (StreamKind::Location, "WH-1"),
            (StreamKind::Inventory, "MUG@WH-1"),
            (StreamKind::Order, "SO-1"),
            (StreamKind::PurchaseOrder, "PO-7"),
        ] {
            let name = StreamName::new(kind, id).unwrap();
            let printed = name.to_string();
            assert_eq!(StreamName::parse(&printed).unwrap(), name, "{printed}");
            assert_eq!(name.id(), id);
        }
        assert_eq!(
            StreamName::inventory("MUG", "WH1").unwrap().to_string(),
            "inventory-MUG@WH1"
        );
        assert_eq!(
            StreamName::purchase_order("PO-1").unwrap().to_string(),
            "po-PO-1"
        );
    }

    #[test]
    fn text_that_names_no_aggregate_is_refused() {
        for text in ["orders", "basket-1", "inventory-MUG", "order-", "po-a b"] {
            assert!(StreamName::parse(text).is_err(), "{text}");
        }
        assert_eq!(
            StreamName::inventory("MUG", "W H"),
            Err(InvalidField::Id {
                field: "location",
                problem: "must not contain whitespace, '@' or '#'"
            })
        );
    }
}
