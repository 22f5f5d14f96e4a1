//! Guild settings changes.

use chrono::{DateTime, Utc, Weekday};
use chrono_tz::Tz;

use super::{App, AppResult};
use crate::domain::activity::{ActivityKind, KindName, Snowflake};
use crate::domain::money::{Currency, Money, NumberFormat};
use crate::domain::settings::{FiscalStart, GuildSettings, MoneyPrivacy, WorkingDays, WorkingHours};

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
    pub currency: Option<Currency>,
    pub number_format: Option<NumberFormat>,
    /// The role whose members are left off boards; `Some(None)` clears it.
    pub board_exclude_role: Option<Option<u64>>,
    pub money_privacy: Option<MoneyPrivacy>,
    /// The user confirmed that amounts already recorded are relabelled in the new currency
    /// (not converted). Without it, a currency change on a guild that holds money is refused.
    pub relabel: bool,
}

impl App {
    /// The guild's activity kinds in force.
    pub async fn kinds(&self, guild: Snowflake) -> AppResult<Vec<ActivityKind>> {
        Ok(self.store.kinds(guild.as_i64()).await?)
    }

    /// The guild's activity kinds, shared from the store's cache (no copy on the hot path).
    pub async fn kinds_shared(&self, guild: Snowflake) -> AppResult<std::sync::Arc<Vec<ActivityKind>>> {
        Ok(self.store.kinds_shared(guild.as_i64()).await?)
    }

    /// Adds a kind or changes its points and whether it carries an amount.
    pub async fn upsert_kind(
        &self,
        guild: Snowflake,
        kind: ActivityKind,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        Ok(self.store.upsert_kind(guild.as_i64(), kind, actor, now).await?)
    }

    /// Retires a kind: it can no longer be logged; its history still counts.
    pub async fn retire_kind(
        &self,
        guild: Snowflake,
        name: KindName,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        Ok(self.store.retire_kind(guild.as_i64(), name, actor, now).await?)
    }

    /// Whether `/leaderboard` and scheduled leaderboard posts are on in the guild.
    pub async fn leaderboards_enabled(&self, guild: Snowflake) -> AppResult<bool> {
        Ok(self.store.leaderboards_enabled(guild.as_i64()).await?)
    }

    pub async fn set_leaderboards(
        &self,
        guild: Snowflake,
        on: bool,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        Ok(self.store.set_leaderboards(guild.as_i64(), on, actor, now).await?)
    }

    /// Whether rally has ever stored anything for the guild.
    pub async fn guild_exists(&self, guild: Snowflake) -> AppResult<bool> {
        Ok(self.store.guild_exists(guild.as_i64()).await?)
    }

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
        if let Some(r) = change.board_exclude_role {
            s.board_exclude_role = r;
        }
        if let Some(p) = change.money_privacy {
            s.money_privacy = p;
        }
        if let Some(h) = change.working_hours {
            s.working_hours = h;
        }
        if let Some(f) = change.number_format {
            s.number_format = Some(f);
        }
        if let Some(to) = change.currency {
            let from = s.money();
            if to != from.currency && self.store.has_money(guild.as_i64()).await? {
                check_relabel(from, to, change.relabel)?;
            }
            s.currency = Some(to);
        }
        if let Some(b) = change.backdate_days {
            if b > 366 {
                return Err(super::AppError::User("the back-dating window is at most 366 days".into()));
            }
            s.backdate_days = b;
        }
        Ok(self.store.update_settings(guild.as_i64(), s, actor, now).await?)
    }

    /// The money an interaction from a server with `locale` reads, when the guild has not fixed
    /// its currency and number format yet (`None` once both are chosen). The transport fixes it
    /// with [`App::fix_money`] after the interaction went through, so that the first command a
    /// server runs and every later one read amounts alike.
    pub async fn locale_money(&self, guild: Snowflake, locale: &str) -> AppResult<Option<Money>> {
        let stored = self.store.guild_settings(guild.as_i64()).await?;
        if stored.currency.is_some() && stored.number_format.is_some() {
            return Ok(None);
        }
        Ok(Some(self.with_locale(stored, guild, locale).await?.money()))
    }

    /// Stores `money` as the guild's currency and number format where it has none yet; a choice
    /// already made is kept.
    pub async fn fix_money(&self, guild: Snowflake, money: Money, now: DateTime<Utc>) -> AppResult<()> {
        Ok(self.store.fix_money_defaults(guild.as_i64(), money, now).await?)
    }

    /// The guild's settings as an interaction from a server with `locale` reads them: where the
    /// guild has no currency or number format yet, the ones CLDR gives the locale (a guild already
    /// holding money keeps the default currency: its amounts are never relabelled by a locale).
    /// Writes nothing.
    pub async fn settings_with_locale(&self, guild: Snowflake, locale: Option<&str>) -> AppResult<GuildSettings> {
        let s = self.store.guild_settings(guild.as_i64()).await?;
        match locale {
            Some(locale) => self.with_locale(s, guild, locale).await,
            None => Ok(s),
        }
    }

    /// `s` with what `locale` implies filled in where the guild chose nothing.
    async fn with_locale(&self, mut s: GuildSettings, guild: Snowflake, locale: &str) -> AppResult<GuildSettings> {
        if s.number_format.is_none() {
            s.number_format = NumberFormat::from_locale(locale);
        }
        if s.currency.is_none() && !self.store.has_money(guild.as_i64()).await? {
            s.currency = Currency::from_locale(locale);
        }
        Ok(s)
    }
}

/// Whether a guild holding amounts in `from` may be switched to `to`: only to a currency with the
/// same minor unit (the stored integers keep their meaning as numbers), and only when confirmed,
/// since the amounts are relabelled, never converted.
fn check_relabel(money: Money, to: Currency, confirmed: bool) -> AppResult<()> {
    let from = money.currency;
    if from.exponent() != to.exponent() {
        return Err(super::AppError::User(format!(
            "this server has amounts recorded in {from}, which has {} decimals; {to} has {}, so every stored amount \
             would change its value. The currency can only change to one with {} decimals now",
            from.exponent(),
            to.exponent(),
            from.exponent()
        )));
    }
    if !confirmed {
        return Err(super::AppError::User(format!(
            "this server already has amounts recorded in {from}. Switching to {to} relabels them as {to} without \
             converting ({} becomes {}). If they were {to} all along, confirm the change \
             (`confirm:true` in Discord, `--relabel` on the command line)",
            money.format(100_000),
            Money::new(to, money.format).format(100_000)
        )));
    }
    Ok(())
}
