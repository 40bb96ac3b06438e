//! The order as a pure decider: placement, payment, allocation, release,
//! pick, pack, ship, deliver, cancel and returns.
//!
//! Empty for now: issue 3 builds it on the `decider` crate, like
//! `inventory-aggregate`. Nothing here is exported yet, so nothing can
//! depend on a rule that does not exist.
