//! rally: a Discord bot for sales teams.
//!
//! Layers, and the one rule about who may import whom (arrows point one way):
//!
//! ```text
//! main (CLI), discord, crm, web, scheduler ──> handlers ──> app ──> store ──> domain
//! ```
//!
//! - [`domain`]: pure rules (periods, money and number formats, activities, KPIs, goals and pace,
//!   pipeline and its hygiene rules, compensation, competitions, schedules). Imports nothing of ours, does no I/O and
//!   never reads the clock: `now` is an argument.
//! - [`store`]: the schema and every SQL statement, on SQLite or PostgreSQL; the only module that
//!   names rusqlite or postgres.
//! - [`app`]: use cases shared by every transport: log, undo, KPIs, import (with the CSV dialects
//!   of other tools) and export, goals, deals, pipeline hygiene and forecast, competitions, settings. Speaks domain
//!   types in and out. The only way into [`store`] from above: the layers above call `App` methods
//!   and name the store's row types (`ScheduleRow`, `DealRecord`, ...) through their `app` module's
//!   re-exports, so a second backend can change what is under `app` alone (issue 13;
//!   `tests/it/layers.rs` keeps it so). [`bench`](mod@bench) alone reads and loads the store
//!   directly, to measure it.
//! - [`handlers`]: one file per manifest in `commands/`: typed options in, one app call, a reply out.
//! - [`crm`](mod@crm): the CRM edge: the Pipedrive client (reads, and a rep's hygiene changes written
//!   back where allowed) and the parsing of its records and webhooks.
//! - [`discord`]: the serenity edge: the gateway client (sharded), the HTTP interactions endpoint, rendering.
//! - [`web`]: rally's own HTTP routes beside Discord's endpoint: the CRM webhook receivers.
//! - [`scheduler`]: wakes at the next due slot, claims it once, delivers through the outbox.
//! - [`loopback`]: Discord on 127.0.0.1, strict against its API description; for the demo and tests.
//! - [`bench`](mod@bench), [`demo`], [`charts`], [`config`]: the benchmark, the scripted demo, PNG charts, settings.

pub mod app;
pub mod bench;
pub mod charts;
pub mod config;
pub mod crm;
pub mod demo;
pub mod discord;
pub mod domain;
pub mod handlers;
pub mod loopback;
pub mod scheduler;
pub mod store;
pub mod web;
