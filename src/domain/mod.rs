//! Pure rules of rally: periods, activities, KPIs. Imports nothing of ours and nothing with I/O
//! (no tokio, rusqlite, serenity, reqwest); time is always an argument.

pub mod activity;
pub mod celebrations;
pub mod comp;
pub mod competition;
pub mod crm;
pub mod forecast;
pub mod goals;
pub mod history;
pub mod hygiene;
pub mod kpi;
pub mod money;
pub mod nudges;
pub mod period;
pub mod pipeline;
pub mod review;
pub mod rewards;
pub mod schedule;
pub mod settings;
pub mod suggest;
pub mod when;

use std::fmt;

/// A rule was broken by input: the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DomainError {
    pub message: String,
}

impl DomainError {
    pub fn invalid(message: impl Into<String>) -> Self {
        DomainError { message: message.into() }
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
