//! Integration tests: real SQLite files in temp directories, no network.

mod helpers;

mod cli;
mod import_export;
mod kpis;
mod log_undo;
mod rollups_property;
mod slash;
mod store;
