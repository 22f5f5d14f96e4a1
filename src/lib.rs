//! rally: a Discord bot for sales teams.
//!
//! Layers, and the one rule about who may import whom (arrows point one way):
//!
//! ```text
//! main (CLI) ──> app ──> store ──> domain
//! ```
//!
//! - [`domain`]: pure rules (periods, activities, KPIs). Imports nothing of ours, does no I/O and
//!   never reads the clock: `now` is an argument.
//! - [`store`]: the SQLite schema and every SQL statement; the only module that names rusqlite.
//! - [`app`]: use cases shared by every transport (CLI today; Discord and the scheduler next):
//!   log, undo, KPIs, import, export, settings. Speaks domain types in and out.

pub mod app;
pub mod bench;
pub mod charts;
pub mod config;
pub mod demo;
pub mod discord;
pub mod domain;
pub mod handlers;
pub mod loopback;
pub mod scheduler;
pub mod store;
