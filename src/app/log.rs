//! Logging and undoing activities.

use chrono::{DateTime, Duration, Utc};

use super::{App, AppError, AppResult};
use crate::domain::activity::{
    Amount, DealRef, KindName, Name, Note, Quantity, Snowflake, Source, check_amount, unknown_kind,
};
use crate::domain::kpi::Totals;
use crate::domain::period::Period;
use crate::store::{Logged, NewActivity};

/// What an undo took back, as the storage interface returns it (its row type; for now the SQLite
/// store's own, later backend-neutral).
pub use crate::store::Undone;

/// What a person asked to log, already parsed into valid parts.
#[derive(Clone, Debug)]
pub struct LogRequest {
    pub guild: Snowflake,
    pub user: Snowflake,
    pub user_name: Name,
    pub kind: KindName,
    pub quantity: Quantity,
    pub amount: Option<Amount>,
    pub note: Note,
    pub deal: Option<DealRef>,
    /// When it happened; `None` means now.
    pub when: Option<DateTime<Utc>>,
    pub source: Source,
    /// The interaction id (or another unique key): a retry with the same key is counted once.
    pub idem_key: String,
}

/// How long after logging an activity can still be undone.
pub const UNDO_WINDOW_HOURS: i64 = 24;

impl App {
    /// Logs one activity for the requester, within the guild's back-dating window and never in the
    /// future. A retried request returns the first record. An entry typed in chat is refused when
    /// it would take the rep's local day above the kind's daily cap, and flagged for review
    /// ([`crate::store::Logged::flag`]) when it is an outlier.
    pub async fn log(&self, req: LogRequest, now: DateTime<Utc>) -> AppResult<Logged> {
        let guild = req.guild.as_i64();
        // Both cached: a `/log` reads nothing before its write in the common case.
        let settings = self.store.guild_settings(guild).await?;
        let kinds = self.store.kinds_shared(guild).await?;
        let Some(kind) = kinds.iter().find(|k| k.name == req.kind) else {
            return Err(AppError::User(unknown_kind(req.kind.as_str(), &kinds)));
        };
        check_amount(&kind.name, kind.has_amount, req.amount)?;
        super::crm::refuse_crm_fed(&settings, &kind.name, &format!("`{}` activities", kind.name))?;
        let occurred_at = req.when.unwrap_or(now);
        if occurred_at > now {
            return Err(AppError::User("an activity cannot be logged in the future".into()));
        }
        let oldest = now - Duration::days(settings.backdate_days as i64);
        if occurred_at < oldest {
            return Err(AppError::User(format!(
                "activities can be back-dated at most {} days",
                settings.backdate_days
            )));
        }
        let activity = NewActivity {
            guild,
            user: req.user.as_i64(),
            user_name: req.user_name.as_str().to_string(),
            team: None,
            kind: req.kind,
            quantity: req.quantity,
            amount: req.amount,
            occurred_at,
            note: req.note,
            deal: req.deal,
            source: req.source,
            idem_key: req.idem_key,
            alt_key: None,
            actor: req.user.as_i64(),
        };
        // What reps type is checked against the kind's daily cap and outlier rule (see `review`).
        let logged = if matches!(activity.source, Source::Slash | Source::Button) {
            self.store.log_checked_activity(activity, now).await?
        } else {
            self.store.log_activity(activity, now).await?
        };
        self.wall_changed(guild);
        Ok(logged)
    }

    /// One member's totals for a period, on every team they logged for.
    pub async fn member_totals(&self, guild: Snowflake, user: Snowflake, period: &Period) -> AppResult<Totals> {
        let rows =
            self.store.member_kind_totals(guild.as_i64(), user.as_i64(), period.first_day, period.end_day).await?;
        let mut totals = Totals::default();
        for (kind, quantity, points, amount) in rows {
            totals.add(&kind, quantity, points, amount);
        }
        Ok(totals)
    }

    /// The same for several periods in one read.
    pub async fn member_totals_many(
        &self,
        guild: Snowflake,
        user: Snowflake,
        periods: &[&Period],
    ) -> AppResult<Vec<Totals>> {
        let ranges = periods.iter().map(|p| (p.first_day, p.end_day)).collect();
        let rows = self.store.member_kind_totals_many(guild.as_i64(), user.as_i64(), ranges).await?;
        Ok(rows
            .into_iter()
            .map(|rows| {
                let mut totals = Totals::default();
                for (kind, quantity, points, amount) in rows {
                    totals.add(&kind, quantity, points, amount);
                }
                totals
            })
            .collect())
    }

    /// Undoes the user's latest activity logged in chat, or the given one, if logged within the
    /// last 24 hours. Imported rows are left alone: undoing one would make the importer skip it as
    /// already imported, so it could never come back; `rally import --remove` takes them back.
    pub async fn undo(
        &self,
        guild: Snowflake,
        user: Snowflake,
        activity: Option<i64>,
        now: DateTime<Utc>,
    ) -> AppResult<Undone> {
        let not_before = now - Duration::hours(UNDO_WINDOW_HOURS);
        let undone =
            self.store.undo_activity(guild.as_i64(), user.as_i64(), activity, not_before, now).await?.ok_or_else(
                || {
                    AppError::User(format!(
                        "nothing you logged in chat in the last {UNDO_WINDOW_HOURS} hours to undo; \
                     imported rows are removed with `rally import --remove --guild {guild} FILE`"
                    ))
                },
            )?;
        self.wall_changed(guild.as_i64());
        Ok(undone)
    }
}
