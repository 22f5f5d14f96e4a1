//! Guild settings changes.

use chrono::{DateTime, Utc, Weekday};
use chrono_tz::Tz;

use super::{App, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::settings::{FiscalStart, GuildSettings, WorkingDays, WorkingHours};

/// The settings to change; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct SettingsChange {
    pub timezone: Option<Tz>,
    pub week_start: Option<Weekday>,
    pub fiscal_year_start: Option<FiscalStart>,
    pub working_days: Option<WorkingDays>,
    pub manager_role: Option<Option<u64>>,
    pub backdate_days: Option<u32>,
    pub working_hours: Option<WorkingHours>,
}

impl App {
    pub async fn settings(&self, guild: Snowflake) -> AppResult<GuildSettings> {
        Ok(self.store.guild_settings(guild.as_i64()).await?)
    }

    /// Applies a change and returns the new settings. A timezone change re-buckets every activity
    /// into its new local day in the same transaction.
    pub async fn change_settings(
        &self,
        guild: Snowflake,
        change: SettingsChange,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<GuildSettings> {
        let mut s = self.store.guild_settings(guild.as_i64()).await?;
        if let Some(tz) = change.timezone {
            s.timezone = tz;
        }
        if let Some(w) = change.week_start {
            s.week_start = w;
        }
        if let Some(f) = change.fiscal_year_start {
            s.fiscal_year_start = f;
        }
        if let Some(w) = change.working_days {
            s.working_days = w;
        }
        if let Some(r) = change.manager_role {
            s.manager_role = r;
        }
        if let Some(h) = change.working_hours {
            s.working_hours = h;
        }
        if let Some(b) = change.backdate_days {
            if b > 366 {
                return Err(super::AppError::User("the back-dating window is at most 366 days".into()));
            }
            s.backdate_days = b;
        }
        Ok(self.store.update_settings(guild.as_i64(), s, actor, now).await?)
    }
}
