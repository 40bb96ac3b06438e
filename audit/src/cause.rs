//! Why a promise broke: the root causes the audit tells apart.

use serde::Serialize;

/// The root cause of a broken promise.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A cycle count found fewer units than the records said.
    CycleCountVariance,
    /// On-hand adjusted down for damage.
    Damage,
    /// On-hand adjusted down for shrinkage.
    Shrinkage,
    /// On-hand adjusted down as a correction (or another reason).
    OtherAdjustment,
    /// The picker found fewer units than were allocated.
    ShortPick,
    /// The supplier delivered fewer units and the line was closed short.
    SupplierShortReceipt,
    /// The supplier's units arrived after the date promised from them.
    SupplierLateReceipt,
    /// The supplier moved the line's expected date later.
    SupplierRedate,
    /// The purchase order line was cancelled.
    PoCancelled,
    /// A return was expected back in stock and was not restocked. The
    /// promise never counts a return before it is restocked, so no finding
    /// has this cause; it is kept so the table of causes is complete.
    ReturnNotRestocked,
    /// The system itself: a reservation beyond on-hand, an allocation
    /// beyond the order, or a promise broken with no fact to explain it.
    /// Must never appear.
    SystemFault,
}

impl Cause {
    /// Every cause, in the order reports list them.
    pub const ALL: [Cause; 11] = [
        Cause::CycleCountVariance,
        Cause::Damage,
        Cause::Shrinkage,
        Cause::OtherAdjustment,
        Cause::ShortPick,
        Cause::SupplierShortReceipt,
        Cause::SupplierLateReceipt,
        Cause::SupplierRedate,
        Cause::PoCancelled,
        Cause::ReturnNotRestocked,
        Cause::SystemFault,
    ];

    /// The cause's name as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Cause::CycleCountVariance => "cycle_count_variance",
            Cause::Damage => "damage",
            Cause::Shrinkage => "shrinkage",
            Cause::OtherAdjustment => "other_adjustment",
            Cause::ShortPick => "short_pick",
            Cause::SupplierShortReceipt => "supplier_short_receipt",
            Cause::SupplierLateReceipt => "supplier_late_receipt",
            Cause::SupplierRedate => "supplier_redate",
            Cause::PoCancelled => "po_cancelled",
            Cause::ReturnNotRestocked => "return_not_restocked",
            Cause::SystemFault => "system_fault",
        }
    }

    /// Whether the cause is on the inventory-accuracy side (the records
    /// said there was stock that was not there).
    pub fn is_stock_accuracy(self) -> bool {
        matches!(
            self,
            Cause::CycleCountVariance
                | Cause::Damage
                | Cause::Shrinkage
                | Cause::OtherAdjustment
                | Cause::ShortPick
        )
    }

    /// Whether the cause is the supplier's.
    pub fn is_supplier(self) -> bool {
        matches!(
            self,
            Cause::SupplierShortReceipt
                | Cause::SupplierLateReceipt
                | Cause::SupplierRedate
                | Cause::PoCancelled
        )
    }
}

/// A cause with the facts that prove it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Evidence {
    /// The root cause.
    pub cause: Cause,
    /// In words: which count, adjustment, pick or purchase order.
    pub detail: String,
    /// The supplier, for a supplier's cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// Log positions of the facts, root first.
    pub positions: Vec<u64>,
}
