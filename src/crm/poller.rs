//! The background sync of `rally run` and `rally serve`: every few minutes, one pass per connected
//! guild (a full reconciliation once a day), and one at once when `/crm sync` asks for it. A failed
//! pass is recorded in the guild's status and resumes at its cursor on the next round.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::pipedrive::Pipedrive;
use crate::app::App;
use crate::app::crm::FULL_EVERY;
use crate::discord::Clock;
use crate::domain::crm::Provider;

/// The default time between two rounds.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(300);

/// Runs rounds until `stop` is notified: after `every`, or at once when `wake` is notified.
pub async fn run(app: App, clock: Clock, every: Duration, wake: Arc<Notify>, stop: Arc<Notify>) {
    loop {
        round(&app, &clock).await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = wake.notified() => {}
            _ = stop.notified() => return,
        }
    }
}

/// One pass for every connected guild; errors are logged and kept in the guild's status.
pub async fn round(app: &App, clock: &Clock) {
    let guilds = match app.crm_guilds().await {
        Ok(g) => g,
        // The process is stopping (a `run` that failed to start, a stop): nothing to say.
        Err(e) if e.is_shutting_down() => return,
        Err(e) => {
            tracing::error!(error = %e, "cannot list the guilds connected to a CRM");
            return;
        }
    };
    for guild in guilds {
        let connection = match app.crm_connection(guild).await {
            Ok(c) => c,
            Err(_) => continue,
        };
        let now = clock.now();
        let full = connection.last_full_at.is_none_or(|t| now - t >= FULL_EVERY);
        let result = match connection.provider {
            Provider::Pipedrive => {
                let source = Pipedrive::new(&connection.api_url, connection.api_token.clone());
                app.crm_sync(&source, guild, None, full, now, &mut |_| {}).await
            }
        };
        match result {
            Ok(report) => tracing::info!(
                guild,
                full,
                records = report.total().total(),
                calls = report.usage.calls,
                "CRM sync pass done"
            ),
            Err(e) => tracing::warn!(guild, error = %e, "CRM sync pass failed; it resumes at its cursor next round"),
        }
    }
}
