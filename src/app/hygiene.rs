//! Pipeline hygiene as use cases (issue 17): a guild's rules and a manager's changes to them, the
//! rules checked on every open deal, the manager's view (per team and per rep, with the share of
//! the forecast on flagged deals and the trend since last week), the deals a rep is told of in the
//! hygiene schedule's DM (each breach once), and the changes a rep makes from its buttons.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{App, AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::hygiene::{Breach, DealState, HygieneRules, StageEntry, Tallies, check};
use crate::domain::nudges::{Quiet, quiet};
use crate::domain::period::{PeriodSpec, local_date};
use crate::domain::pipeline::{Pipeline, StageName};
use crate::store::StoreError;
/// An open deal as the hygiene rules read it (the storage interface's row type).
pub use crate::store::hygiene::HygieneDeal;
/// A next step on a deal (what, and the local date it is due).
pub use crate::store::hygiene::NextStep;

/// A next step a rep gave a deal from a hygiene DM's form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecorded {
    /// The deal's name.
    pub deal: String,
    pub step: NextStep,
    /// False when the same submission (interaction id) had recorded it already.
    pub new: bool,
    /// True when the step went to the CRM as an activity (the deal is fed by the CRM).
    pub in_crm: bool,
}

/// One open deal and the enabled rules it breaks now (none: healthy).
#[derive(Clone, Debug, PartialEq)]
pub struct DealCheck {
    pub deal: HygieneDeal,
    pub breaches: Vec<Breach>,
}

/// A manager's change to the guild's hygiene rules, as typed (validated by the domain).
#[derive(Clone, Debug, PartialEq)]
pub enum RulesChange {
    /// Turns a rule (by name) on or off.
    Enable { rule: String, on: bool },
    /// Sets the stale limit in days, of one open stage or (`None`) the default.
    StaleDays { stage: Option<String>, days: String },
    /// A stage goes back to the default stale limit.
    ResetStage(String),
}

/// One line of the manager's view: a rep, a team or everyone, now and a week ago.
#[derive(Clone, Debug, PartialEq)]
pub struct HygieneRow {
    pub name: String,
    pub now: Tallies,
    /// The same figures on the day of the trend (`HygieneReport::trend_from`); `None` without one.
    pub before: Option<Tallies>,
}

/// The manager's `/hygiene` view.
#[derive(Clone, Debug, PartialEq)]
pub struct HygieneReport {
    /// The team shown, or `None` for the whole guild.
    pub team: Option<String>,
    pub rules: HygieneRules,
    /// Today, a local date.
    pub today: NaiveDate,
    /// The local day the trend compares with: the latest kept figure a week or more ago.
    pub trend_from: Option<NaiveDate>,
    /// Everyone (or the team shown).
    pub total: HygieneRow,
    /// Each team with open deals, by name (the guild's view only); deals opened on no team under
    /// "No team".
    pub teams: Vec<HygieneRow>,
    /// Each rep with open deals, most value on flagged deals first.
    pub reps: Vec<HygieneRow>,
    /// This month's forecast (won + weighted pipeline closing this month), minor units.
    pub forecast: i64,
    /// The part of it that rests on deals breaking a rule, minor units.
    pub forecast_on_broken: i64,
}

/// The figures kept per guild and local day, for next week's trend.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Snapshot {
    total: Tallies,
    /// By team id.
    teams: BTreeMap<i64, Tallies>,
    /// By user id.
    reps: BTreeMap<u64, Tallies>,
}

/// A rep's deals with breaches they have not been told of yet.
#[derive(Clone, Debug, PartialEq)]
pub struct RepHygiene {
    pub user: u64,
    pub name: String,
    /// The deals, soonest expected close first, each with only its untold breaches.
    pub deals: Vec<DealCheck>,
}

/// What a rep's press on a hygiene DM's button asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// One week after the later of the close date and today.
    Week,
    /// The last day of the month of the later of the close date and today (of the next month
    /// when that day is already a month's last).
    EndOfMonth,
}

/// The new expected close date a push gives, from the current one (local dates).
pub fn pushed(close: Option<NaiveDate>, today: NaiveDate, push: Push) -> NaiveDate {
    let from = close.map_or(today, |c| c.max(today));
    match push {
        Push::Week => from + Duration::days(7),
        Push::EndOfMonth => {
            let end = month_end(from);
            // Already at a month's end: the rep means the next one.
            if end == from { month_end(from + Duration::days(1)) } else { end }
        }
    }
}

/// The last day of `day`'s month.
fn month_end(day: NaiveDate) -> NaiveDate {
    let (y, m) = if day.month() == 12 { (day.year() + 1, 1) } else { (day.year(), day.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).map_or(day, |first| first - Duration::days(1))
}

fn deal_state(d: &HygieneDeal, pipeline: &Pipeline) -> Option<DealState> {
    let stage = pipeline.get(&d.stage)?.clone();
    let history: Vec<StageEntry> = d
        .history
        .iter()
        .map(|(position, entered_at)| StageEntry { position: *position, entered_at: *entered_at })
        .collect();
    Some(DealState {
        id: d.id,
        value: d.value,
        expected_close: d.expected_close,
        stage,
        stage_changed_at: history.last().map_or(d.opened_at, |h| h.entered_at),
        last_activity_at: d.last_activity_at,
        history,
        crm_fed: d.crm_id.is_some(),
        // A deal the CRM said nothing about is not flagged for it: rally cannot know.
        has_next_activity: d.next_activity.unwrap_or(true),
    })
}

impl App {
    /// The guild's hygiene rules.
    pub async fn hygiene_rules(&self, guild: Snowflake) -> AppResult<HygieneRules> {
        Ok(self.store.hygiene_rules(guild.as_i64()).await?)
    }

    /// Changes the guild's hygiene rules; a bad rule name, stage or number of days changes nothing.
    pub async fn change_hygiene_rules(
        &self,
        guild: Snowflake,
        change: RulesChange,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<HygieneRules> {
        let g = guild.as_i64();
        let rules = self.store.hygiene_rules(g).await?;
        let next = match change {
            RulesChange::Enable { rule, on } => rules.with_enabled(&rule, on)?,
            RulesChange::StaleDays { stage, days } => {
                let pipeline = self.store.pipeline(g).await?;
                rules.with_stale_days(stage.as_deref(), &days, &pipeline)?
            }
            RulesChange::ResetStage(stage) => {
                let name = StageName::parse(&stage)?;
                if rules.stale_overrides().all(|(s, _)| *s != name) {
                    return Err(AppError::User(format!(
                        "`{name}` has no stale limit of its own; it uses the default ({} days)",
                        rules.stale_default()
                    )));
                }
                rules.without_stale_override(&name)
            }
        };
        Ok(self.store.set_hygiene_rules(g, next, actor, now).await?)
    }

    /// Every open deal of the guild with the enabled rules it breaks at `now`. A deal in a stage
    /// the pipeline no longer has is left out (it cannot be weighed either).
    pub async fn hygiene_checks(&self, guild: Snowflake, now: DateTime<Utc>) -> AppResult<Vec<DealCheck>> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let rules = self.store.hygiene_rules(g).await?;
        let pipeline = self.store.pipeline(g).await?;
        Ok(self
            .store
            .hygiene_deals(g)
            .await?
            .into_iter()
            .filter_map(|deal| {
                let state = deal_state(&deal, &pipeline)?;
                Some(DealCheck { breaches: check(&state, &rules, &settings, now), deal })
            })
            .collect())
    }

    /// The manager's view for the guild or one team (by name) at `now`. Keeps today's figures
    /// (the whole guild's, replacing any kept earlier today) so that next week has a trend.
    pub async fn hygiene_report(
        &self,
        guild: Snowflake,
        team: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<HygieneReport> {
        let g = guild.as_i64();
        let team = match team {
            Some(name) => Some(self.team(guild, name).await?),
            None => None,
        };
        let settings = self.store.guild_settings(g).await?;
        let today = local_date(settings.timezone, now);
        let checks = self.hygiene_checks(guild, now).await?;
        let names: BTreeMap<u64, String> = checks.iter().map(|c| (c.deal.user_id, c.deal.user_name.clone())).collect();
        let snapshot = self.keep_hygiene_figures(g, today, &checks).await?;
        let earlier = self.store.hygiene_snapshot_on_or_before(g, today - Duration::days(7)).await?;
        let (trend_from, before) = match earlier {
            Some((day, body)) => match serde_json::from_str::<Snapshot>(&body) {
                Ok(s) => (Some(day), Some(s)),
                Err(e) => {
                    tracing::warn!(guild = g, error = %e, "a kept hygiene figure no longer reads; no trend");
                    (None, None)
                }
            },
            None => (None, None),
        };
        let forecast = self
            .forecast_with_checks(guild, team.as_ref().map(|t| t.name.as_str()), &PeriodSpec::ThisMonth, now, &checks)
            .await?;
        let teams = self.store.teams(g).await?;
        let team_name =
            |id: i64| teams.iter().find(|t| t.id == id).map_or_else(|| "No team".to_string(), |t| t.name.clone());
        let in_scope = |id: i64| team.as_ref().is_none_or(|t| t.id == id);
        // A team's view counts the deals opened under it, as the forecast does.
        let mut scoped_reps: BTreeMap<u64, Tallies> = BTreeMap::new();
        let mut total = Tallies::default();
        for c in checks.iter().filter(|c| in_scope(c.deal.team_id)) {
            let d = &c.deal;
            total.add(d.value, d.probability, &c.breaches);
            scoped_reps.entry(d.user_id).or_default().add(d.value, d.probability, &c.breaches);
        }
        let total_before = before.as_ref().map(|b| match &team {
            Some(t) => b.teams.get(&t.id).cloned().unwrap_or_default(),
            None => b.total.clone(),
        });
        let team_rows = if team.is_some() {
            Vec::new()
        } else {
            let mut rows: Vec<HygieneRow> = snapshot
                .teams
                .iter()
                .map(|(id, t)| HygieneRow {
                    name: team_name(*id),
                    now: t.clone(),
                    before: before.as_ref().map(|b| b.teams.get(id).cloned().unwrap_or_default()),
                })
                .collect();
            rows.sort_by_key(|r| (r.name == "No team", r.name.to_lowercase()));
            rows
        };
        let mut reps: Vec<HygieneRow> = scoped_reps
            .into_iter()
            .map(|(user, now)| HygieneRow {
                name: names.get(&user).cloned().unwrap_or_else(|| user.to_string()),
                now,
                // Without a team, a rep's deals a week ago on any team; with one, the guild-wide
                // figure would mislead, so a team's reps show no trend of their own.
                before: if team.is_none() {
                    before.as_ref().map(|b| b.reps.get(&user).cloned().unwrap_or_default())
                } else {
                    None
                },
            })
            .collect();
        reps.sort_by(|a, b| {
            b.now.broken.value.cmp(&a.now.broken.value).then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
        Ok(HygieneReport {
            team: team.as_ref().map(|t| t.name.clone()),
            rules: self.store.hygiene_rules(g).await?,
            today,
            trend_from: total_before.as_ref().and(trend_from),
            total: HygieneRow {
                name: team.as_ref().map_or_else(|| "Everyone".to_string(), |t| t.name.clone()),
                now: total,
                before: total_before,
            },
            teams: team_rows,
            reps,
            forecast: forecast.forecast.forecast,
            forecast_on_broken: forecast.forecast.weighted_broken,
        })
    }

    /// Keeps the day's figures of `checks` (the guild's every open deal), replacing any kept
    /// earlier that day, for the trend a week later; returns them.
    async fn keep_hygiene_figures(&self, guild: i64, today: NaiveDate, checks: &[DealCheck]) -> AppResult<Snapshot> {
        let mut snapshot = Snapshot::default();
        for c in checks {
            let d = &c.deal;
            snapshot.total.add(d.value, d.probability, &c.breaches);
            snapshot.teams.entry(d.team_id).or_default().add(d.value, d.probability, &c.breaches);
            snapshot.reps.entry(d.user_id).or_default().add(d.value, d.probability, &c.breaches);
        }
        let body =
            serde_json::to_string(&snapshot).map_err(|e| AppError::Internal(StoreError::Corrupt(e.to_string())))?;
        self.store.save_hygiene_snapshot(guild, today, body).await?;
        Ok(snapshot)
    }

    /// For the hygiene schedule at `at` (which keeps the day's figures for the trend): each rep (on team `team` when given: the deal's team)
    /// with deals breaking a rule they were not told of yet, leaving out reps who turned nudges
    /// off; nothing outside the guild's working time. The breaches are noted as told when the DM
    /// is queued (see `store::schedules::QueuedPost::marks`).
    pub async fn hygiene_for_reps(
        &self,
        guild: Snowflake,
        team: Option<i64>,
        at: DateTime<Utc>,
    ) -> AppResult<Result<Vec<RepHygiene>, Quiet>> {
        let settings = self.settings(guild).await?;
        if let Some(q) = quiet(&settings, at) {
            return Ok(Err(q));
        }
        let g = guild.as_i64();
        let optouts = self.store.nudge_optouts(g).await?;
        let all = self.hygiene_checks(guild, at).await?;
        // The schedule keeps the day's figures too, so a manager has a trend without asking daily.
        self.keep_hygiene_figures(g, local_date(settings.timezone, at), &all).await?;
        let checks: Vec<DealCheck> = all
            .into_iter()
            .filter(|c| !c.breaches.is_empty())
            .filter(|c| team.is_none_or(|t| t == c.deal.team_id) && !optouts.contains(&c.deal.user_id))
            .collect();
        let keys: Vec<String> = checks.iter().flat_map(|c| c.breaches.iter().map(Breach::state_key)).collect();
        let told = self.store.hygiene_fired(g, keys).await?;
        let mut reps: BTreeMap<u64, RepHygiene> = BTreeMap::new();
        for mut c in checks {
            c.breaches.retain(|b| !told.contains(&b.state_key()));
            if c.breaches.is_empty() {
                continue;
            }
            let rep = reps.entry(c.deal.user_id).or_insert_with(|| RepHygiene {
                user: c.deal.user_id,
                name: c.deal.user_name.clone(),
                deals: Vec::new(),
            });
            rep.deals.push(c);
        }
        let mut out: Vec<RepHygiene> = reps.into_values().collect();
        for rep in &mut out {
            rep.deals.sort_by_key(|c| (c.deal.expected_close.is_none(), c.deal.expected_close, c.deal.id));
        }
        Ok(Ok(out))
    }

    /// Where the guild's CRM shows a deal, as a base to which the CRM's deal id is appended:
    /// `https://acme.pipedrive.com/deal/`; `None` without a CRM connection. Pipedrive's API host
    /// (`api.pipedrive.com`) serves no pages, so its deals are linked through `app.pipedrive.com`,
    /// which sends the user on to their company's domain.
    pub async fn crm_deal_base(&self, guild: Snowflake) -> AppResult<Option<String>> {
        let Some(c) = self.store.crm_connection(guild.as_i64()).await? else { return Ok(None) };
        let base = c.api_url.trim_end_matches('/');
        let base = if base.ends_with("://api.pipedrive.com") { "https://app.pipedrive.com" } else { base };
        Ok(Some(format!("{base}/deal/")))
    }

    /// One deal of the guild, open or closed.
    pub async fn deal_by_id(&self, guild: Snowflake, deal: i64) -> AppResult<Option<crate::store::DealRecord>> {
        Ok(self.store.deal_by_id(guild.as_i64(), deal).await?)
    }

    /// Whether a hygiene DM's buttons write to the guild's CRM: its connection allows it (`rally
    /// crm write-back`) and a writer is installed. Otherwise a CRM deal's DM links to the CRM.
    pub async fn crm_writes(&self, guild: Snowflake) -> AppResult<bool> {
        Ok(self.crm_writer().is_some()
            && self.store.crm_connection(guild.as_i64()).await?.is_some_and(|c| c.write_back))
    }

    /// The rep's own open deal `deal`, or a clear refusal.
    async fn own_open_deal(&self, guild: Snowflake, user: Snowflake, deal: i64) -> AppResult<crate::store::DealRecord> {
        let record = self
            .store
            .deal_by_id(guild.as_i64(), deal)
            .await?
            .filter(|d| d.user_id == user.get())
            .ok_or_else(|| AppError::User("that deal is not one of yours any more".into()))?;
        match record.outcome {
            Some(outcome) => Err(AppError::User(format!(
                "`{}` is already {}: nothing to do",
                crate::domain::activity::shorten(&record.name, 60),
                outcome.as_str()
            ))),
            None => Ok(record),
        }
    }

    /// Writes a rep's change of a CRM deal to the CRM, then applies the deal as the CRM returns
    /// it, through the sync's own path, so rally and the CRM agree at once.
    async fn crm_change(
        &self,
        guild: Snowflake,
        deal: i64,
        crm_id: &str,
        change: crate::app::crm::DealChange,
        now: DateTime<Utc>,
    ) -> AppResult<Option<crate::store::DealRecord>> {
        let g = guild.as_i64();
        let refused = || {
            AppError::User(
                "this deal comes from your CRM, and this server's connection takes no changes from rally: change it in the CRM"
                    .into(),
            )
        };
        let connection = self.store.crm_connection(g).await?.filter(|c| c.write_back).ok_or_else(refused)?;
        let writer = self.crm_writer().ok_or_else(refused)?;
        let record = writer.update_deal(&connection, crm_id, change).await.map_err(|e| {
            tracing::warn!(guild = g, deal, error = %e, "a hygiene change was not written to the CRM");
            AppError::User(format!("the CRM did not take the change, so nothing changed: {e}"))
        })?;
        self.store.crm_apply_page(g, connection.provider, vec![record], None, None, now).await?;
        Ok(self.store.deal_by_id(g, deal).await?)
    }

    /// Plans a next step on a CRM deal in the CRM, then applies the deal as the CRM returns it
    /// (its next activity) through the sync's own path. Refused where the connection may not
    /// write; a CRM refusal changes nothing and says why.
    async fn crm_next_step(
        &self,
        guild: Snowflake,
        deal: i64,
        crm_id: &str,
        step: &NextStep,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let g = guild.as_i64();
        let refused = || {
            AppError::User(
                "this deal comes from your CRM, and this server's connection takes no changes from rally: plan the next step in the CRM"
                    .into(),
            )
        };
        let connection = self.store.crm_connection(g).await?.filter(|c| c.write_back).ok_or_else(refused)?;
        let writer = self.crm_writer().ok_or_else(refused)?;
        let record = writer.add_next_step(&connection, crm_id, &step.what, step.due).await.map_err(|e| {
            tracing::warn!(guild = g, deal, error = %e, "a next step was not planned in the CRM");
            AppError::User(format!("the CRM did not take the next step, so nothing changed: {e}"))
        })?;
        self.store.crm_apply_page(g, connection.provider, vec![record], None, None, now).await?;
        Ok(())
    }

    /// A rep marks one of their open deals lost from a hygiene DM: in the CRM for a CRM deal
    /// (then applied as the CRM returns it), else as `/deal lost` does (logging its `lost`).
    /// `idem_key`: the interaction's, so a redelivery logs nothing twice. Returns the deal's name.
    pub async fn lose_from_dm(
        &self,
        guild: Snowflake,
        user: Snowflake,
        deal: i64,
        idem_key: String,
        now: DateTime<Utc>,
    ) -> AppResult<String> {
        let record = self.own_open_deal(guild, user, deal).await?;
        if let Some(crm_id) = self.store.crm_deal_id(guild.as_i64(), deal).await? {
            self.crm_change(guild, deal, &crm_id, crate::app::crm::DealChange::Lost, now).await?;
            return Ok(record.name);
        }
        let closed = self
            .close_deal(
                crate::app::deals::CloseDealRequest {
                    guild,
                    user,
                    user_name: crate::domain::activity::Name::parse(&record.user_name, "your name")?,
                    name: crate::domain::pipeline::DealName::parse(&record.name)?,
                    outcome: crate::domain::pipeline::Outcome::Lost,
                    value: None,
                    reason: None,
                    idem_key,
                },
                now,
            )
            .await?;
        Ok(closed.deal.name)
    }

    /// A rep pushes the expected close date of one of their open deals from a hygiene DM. `from`
    /// is the date the button was made for: a second press (or one after the date changed in
    /// another way) changes nothing. A CRM deal's date is changed in the CRM (see
    /// [`App::crm_writes`]). Returns the deal and whether it changed.
    pub async fn push_close_date(
        &self,
        guild: Snowflake,
        user: Snowflake,
        deal: i64,
        from: Option<NaiveDate>,
        push: Push,
        now: DateTime<Utc>,
    ) -> AppResult<(crate::store::DealRecord, bool)> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let today = local_date(settings.timezone, now);
        let to = pushed(from, today, push);
        if let Some(crm_id) = self.store.crm_deal_id(g, deal).await? {
            let record = self.own_open_deal(guild, user, deal).await?;
            if record.expected_close != from {
                return Ok((record, false));
            }
            let after =
                self.crm_change(guild, deal, &crm_id, crate::app::crm::DealChange::ExpectedClose(to), now).await?;
            return Ok((after.unwrap_or(record), true));
        }
        Ok(self.store.push_close_date(g, user.as_i64(), deal, from, to, now).await?)
    }

    /// A rep gives one of their open deals its next step from a hygiene DM's form: `what` and
    /// `due`, the form's two inputs as typed (see [`crate::domain::hygiene::parse_next_step`]; `due` in the guild's
    /// timezone). A chat deal keeps it as rally's own record, which the hygiene rules read as work
    /// on the deal (no longer stale); `idem_key` (the interaction's) makes a resubmission record
    /// nothing new. Bad input is a user error that changes nothing.
    pub async fn record_next_step(
        &self,
        guild: Snowflake,
        user: Snowflake,
        deal: i64,
        (what, due): (&str, &str),
        idem_key: String,
        now: DateTime<Utc>,
    ) -> AppResult<StepRecorded> {
        let g = guild.as_i64();
        let settings = self.store.guild_settings(g).await?;
        let (what, due) = crate::domain::hygiene::parse_next_step(what, due, now, settings.timezone)?;
        let step = NextStep { what, due };
        let record = self.own_open_deal(guild, user, deal).await?;
        if let Some(crm_id) = self.store.crm_deal_id(g, deal).await? {
            if let Some(step) = self.store.next_step_by_key(g, deal, idem_key.clone()).await? {
                return Ok(StepRecorded { deal: record.name, step, new: false, in_crm: true });
            }
            self.crm_next_step(guild, deal, &crm_id, &step, now).await?;
            // Rally keeps its own record too: a resubmission then sends nothing.
            let (_, step, _) = self.store.record_next_step(g, user.as_i64(), deal, step, idem_key, now).await?;
            return Ok(StepRecorded { deal: record.name, step, new: true, in_crm: true });
        }
        let (record, step, new) = self.store.record_next_step(g, user.as_i64(), deal, step, idem_key, now).await?;
        Ok(StepRecorded { deal: record.name, step, new, in_crm: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_push_starts_from_today_when_the_close_date_has_passed_and_from_the_date_otherwise() {
        let today = date(2026, 11, 25);
        assert_eq!(pushed(Some(date(2026, 11, 20)), today, Push::Week), date(2026, 12, 2));
        assert_eq!(pushed(Some(date(2026, 11, 27)), today, Push::Week), date(2026, 12, 4));
        assert_eq!(pushed(None, today, Push::Week), date(2026, 12, 2));
        assert_eq!(pushed(Some(date(2026, 11, 20)), today, Push::EndOfMonth), date(2026, 11, 30));
        assert_eq!(pushed(Some(date(2026, 12, 3)), today, Push::EndOfMonth), date(2026, 12, 31));
        assert_eq!(pushed(None, date(2027, 2, 10), Push::EndOfMonth), date(2027, 2, 28));
        // Due on a month's last day, "end of month" moves it to the next month's.
        assert_eq!(pushed(Some(date(2026, 11, 30)), date(2026, 11, 30), Push::EndOfMonth), date(2026, 12, 31));
        assert_eq!(pushed(Some(date(2026, 12, 31)), today, Push::EndOfMonth), date(2027, 1, 31));
    }
}
