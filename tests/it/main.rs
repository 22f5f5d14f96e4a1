//! Integration tests: real SQLite files in temp directories, no network.

mod helpers;

mod bench;
mod boards;
mod cli;
mod competitions;
mod crm;
mod crm_crash;
mod csv_dialects;
mod db_copy;
mod deals;
mod e2e;
mod exclusions;
mod forecast_comp;
mod fuzz;
mod goals;
mod import_export;
mod intake;
mod interaction_payloads;
mod kpis;
mod layers;
mod log_undo;
mod manifests;
mod money;
mod nudges;
mod paging;
mod privacy;
mod reliability;
mod review;
mod rollups_property;
mod scheduler;
mod scheduler_restart;
mod sharding;
mod slash;
mod store;
mod suggest;
