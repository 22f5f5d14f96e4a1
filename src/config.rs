//! Settings for the process: where the database lives. Defaults < environment (`RALLY_*`) < flags;
//! clap applies the last two, this module holds the defaults.

/// The database file used when neither `--db` nor `RALLY_DB` is given.
pub const DEFAULT_DB: &str = "rally.db";
