//! Pipeline hygiene (issue 17): the rules that flag open deals a forecast should not trust, the
//! guild's settings for them, the state key that lets a rule fire once per deal state, and the
//! tallies a manager's view adds up. Pure: `now` is an argument; imports nothing of ours outside
//! `domain`. Used by `app::hygiene`.
//!
//! Days are counted in local dates of the guild's timezone, never as 24-hour spans, so a DST
//! change neither adds nor removes a day.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::DomainError;
use super::activity::shorten;
use super::period::local_date;
use super::pipeline::{Pipeline, Stage, StageName};
use super::settings::GuildSettings;

/// Days without a stage change or activity before an open deal is stale, unless its stage says
/// otherwise.
pub const DEFAULT_STALE_DAYS: u32 = 14;
/// The longest stale limit a manager may set: a year without a touch is no longer "stale".
pub const MAX_STALE_DAYS: u32 = 365;

/// One hygiene rule. The wording of each is the issue's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// "an open deal whose expected close date has passed": the close date is before today's
    /// local date (a close date of today is not overdue yet).
    Overdue,
    /// "an open deal with no stage change and no activity for N days (N per stage)".
    Stale,
    /// "an open deal with no expected close date or no value".
    MissingData,
    /// "a deal that jumped stages backwards": a stage entry at an earlier position than the entry
    /// before it.
    MovedBack,
    /// "for CRM-fed guilds, an open deal with no future activity planned (Pipedrive's 'next
    /// activity')". Applies to CRM-fed deals only.
    NoNextActivity,
}

impl Rule {
    /// Every rule, in the order they are listed to a manager.
    pub const ALL: [Rule; 5] = [Rule::Overdue, Rule::Stale, Rule::MissingData, Rule::MovedBack, Rule::NoNextActivity];

    /// The name a manager types and `parse` reads back: `overdue`, `stale`, `missing-data`,
    /// `moved-back`, `no-next-activity`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Overdue => "overdue",
            Rule::Stale => "stale",
            Rule::MissingData => "missing-data",
            Rule::MovedBack => "moved-back",
            Rule::NoNextActivity => "no-next-activity",
        }
    }

    /// Reads a rule's name (any case, `_` or space for `-`); a near miss is refused with the name
    /// to use.
    pub fn parse(text: &str) -> Result<Rule, DomainError> {
        let t = text.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        if let Some(rule) = Rule::ALL.into_iter().find(|r| r.as_str() == t) {
            return Ok(rule);
        }
        let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
        let shown = shorten(text.trim(), 40);
        Err(DomainError::invalid(match super::suggest::closest(&t, names.iter().copied()) {
            Some(near) => format!("`{shown}` is not a hygiene rule; did you mean `{near}`?"),
            None => format!("`{shown}` is not a hygiene rule (one of {})", names.join(", ")),
        }))
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A guild's hygiene settings: which rules are on, and the stale limit in local days, per stage
/// with a default. Built only through `Default` and the validated `with_*` changes, so a value of
/// this type always holds limits in 1..=`MAX_STALE_DAYS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HygieneRules {
    disabled: BTreeSet<Rule>,
    stale_default: u32,
    stale_by_stage: BTreeMap<StageName, u32>,
}

impl Default for HygieneRules {
    /// Every rule on; stale after `DEFAULT_STALE_DAYS` in every stage.
    fn default() -> Self {
        HygieneRules { disabled: BTreeSet::new(), stale_default: DEFAULT_STALE_DAYS, stale_by_stage: BTreeMap::new() }
    }
}

impl HygieneRules {
    /// Whether `rule` is checked at all.
    pub fn is_enabled(&self, rule: Rule) -> bool {
        !self.disabled.contains(&rule)
    }

    /// The stale limit, in local days, for deals in `stage`.
    pub fn stale_days(&self, stage: &StageName) -> u32 {
        self.stale_by_stage.get(stage).copied().unwrap_or(self.stale_default)
    }

    /// The stale limit of stages without their own.
    pub fn stale_default(&self) -> u32 {
        self.stale_default
    }

    /// The stages with their own stale limit, by name.
    pub fn stale_overrides(&self) -> impl Iterator<Item = (&StageName, u32)> {
        self.stale_by_stage.iter().map(|(s, d)| (s, *d))
    }

    /// A manager turns a rule on or off by its name (`Rule::parse`).
    pub fn with_enabled(&self, rule: &str, on: bool) -> Result<HygieneRules, DomainError> {
        let rule = Rule::parse(rule)?;
        let mut next = self.clone();
        if on {
            next.disabled.remove(&rule);
        } else {
            next.disabled.insert(rule);
        }
        Ok(next)
    }

    /// A manager sets the stale limit: for one open stage of `pipeline` when `stage` is given,
    /// otherwise the default. `days` is what they typed, a whole number 1..=`MAX_STALE_DAYS`.
    /// A stage set to the default's value keeps its own entry, so changing the default later does
    /// not move it.
    pub fn with_stale_days(
        &self,
        stage: Option<&str>,
        days: &str,
        pipeline: &Pipeline,
    ) -> Result<HygieneRules, DomainError> {
        let days = parse_days(days)?;
        let mut next = self.clone();
        match stage {
            None => next.stale_default = days,
            Some(name) => {
                let Some(found) = pipeline.get(name) else {
                    return Err(DomainError::invalid(format!("there is no stage `{}`", shorten(name.trim(), 40))));
                };
                if !found.is_open() {
                    return Err(DomainError::invalid(format!(
                        "`{}` closes deals; only open stages can go stale",
                        found.name
                    )));
                }
                next.stale_by_stage.insert(found.name.clone(), days);
            }
        }
        Ok(next)
    }

    /// A stage goes back to the default limit.
    pub fn without_stale_override(&self, stage: &StageName) -> HygieneRules {
        let mut next = self.clone();
        next.stale_by_stage.remove(stage);
        next
    }

    /// The names of the rules turned off, in `Rule::ALL` order (what the store keeps).
    pub fn disabled_names(&self) -> Vec<&'static str> {
        Rule::ALL.into_iter().filter(|r| self.disabled.contains(r)).map(Rule::as_str).collect()
    }

    /// Rebuilds settings the store kept: rule names turned off, the default limit and the limits
    /// per stage. What no longer reads (a rule renamed, a stage removed, a limit out of range) is
    /// left out, so stored settings can never make a value this type does not allow.
    pub fn from_stored<'a>(
        disabled: impl IntoIterator<Item = &'a str>,
        stale_default: i64,
        stale_by_stage: impl IntoIterator<Item = (String, i64)>,
    ) -> HygieneRules {
        let in_range = |d: i64| u32::try_from(d).ok().filter(|d| (1..=MAX_STALE_DAYS).contains(d));
        HygieneRules {
            disabled: disabled.into_iter().filter_map(|n| Rule::parse(n).ok()).collect(),
            stale_default: in_range(stale_default).unwrap_or(DEFAULT_STALE_DAYS),
            stale_by_stage: stale_by_stage
                .into_iter()
                .filter_map(|(stage, d)| Some((StageName::parse(&stage).ok()?, in_range(d)?)))
                .collect(),
        }
    }
}

/// Open deals, their value and their weighted value: one cell of the manager's view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// How many deals.
    pub deals: u64,
    /// Their value, minor units.
    pub value: i64,
    /// Their value × stage probability / 100, minor units (rounded down per deal, as the forecast).
    pub weighted: i64,
}

impl Tally {
    /// Counts one more deal of `value` at `probability` percent.
    pub fn add(&mut self, value: i64, probability: u8) {
        self.deals += 1;
        self.value = self.value.saturating_add(value);
        self.weighted = self.weighted.saturating_add(weighted(value, probability));
    }
}

/// A deal's value weighted by its stage's probability (percent), rounded down: the forecast's rule.
pub fn weighted(value: i64, probability: u8) -> i64 {
    (i128::from(value) * i128::from(probability.min(100)) / 100) as i64
}

/// What the open deals of a rep, a team or the guild add up to: all of them, those breaking any
/// rule (each deal once), and those breaking each rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tallies {
    /// Every open deal.
    pub open: Tally,
    /// Open deals breaking at least one enabled rule, each counted once.
    pub broken: Tally,
    /// Open deals breaking each rule (a deal breaking two rules counts under both).
    pub by_rule: BTreeMap<Rule, Tally>,
}

impl Tallies {
    /// Counts one open deal and the rules it breaks.
    pub fn add(&mut self, value: i64, probability: u8, breaches: &[Breach]) {
        self.open.add(value, probability);
        if !breaches.is_empty() {
            self.broken.add(value, probability);
        }
        let rules: BTreeSet<Rule> = breaches.iter().map(Breach::rule).collect();
        for rule in rules {
            self.by_rule.entry(rule).or_default().add(value, probability);
        }
    }

    /// The deals breaking `rule` (zero when none does).
    pub fn rule(&self, rule: Rule) -> Tally {
        self.by_rule.get(&rule).copied().unwrap_or_default()
    }
}

fn parse_days(text: &str) -> Result<u32, DomainError> {
    let t = text.trim();
    let bad = || {
        DomainError::invalid(format!(
            "`{}` is not a number of days; give a whole number from 1 to {MAX_STALE_DAYS}",
            shorten(t, 20)
        ))
    };
    if t.is_empty() || t.len() > 9 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let days: u32 = t.parse().map_err(|_| bad())?;
    if !(1..=MAX_STALE_DAYS).contains(&days) {
        return Err(DomainError::invalid(format!("a deal goes stale after 1 to {MAX_STALE_DAYS} days, not {days}")));
    }
    Ok(days)
}

/// One entry of a deal's stage history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageEntry {
    /// The stage's position in the pipeline when it was entered (open stages 1..=n, then won,
    /// then lost; see `Stage::position`).
    pub position: i64,
    /// When the deal entered it, UTC.
    pub entered_at: DateTime<Utc>,
}

/// A deal as the hygiene rules see it.
#[derive(Clone, Debug, PartialEq)]
pub struct DealState {
    /// The deal's id in the store; part of every state key.
    pub id: i64,
    /// Minor currency units. Zero counts as no value (see `Rule::MissingData` in `check`).
    pub value: i64,
    /// A local date in the guild's timezone.
    pub expected_close: Option<NaiveDate>,
    /// The stage the deal is in now; the deal is open while this stage is open (no outcome), so
    /// "open" and "stage" cannot disagree.
    pub stage: Stage,
    /// When the deal last changed stage (its opening counts as one), UTC.
    pub stage_changed_at: DateTime<Utc>,
    /// The last activity logged on the deal, UTC; `None` when there was none.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Every stage entry, oldest first.
    pub history: Vec<StageEntry>,
    /// Whether the deal comes from the guild's CRM (only those have a "next activity").
    pub crm_fed: bool,
    /// Whether the CRM has a next activity planned for the deal (Pipedrive's `next_activity_id`);
    /// ignored for deals that are not CRM-fed.
    pub has_next_activity: bool,
}

impl DealState {
    /// A deal is open while its stage has no outcome.
    pub fn is_open(&self) -> bool {
        self.stage.is_open()
    }

    /// The later of the last stage change and the last activity, UTC.
    pub fn last_touch(&self) -> DateTime<Utc> {
        self.last_activity_at.map_or(self.stage_changed_at, |a| a.max(self.stage_changed_at))
    }
}

/// What broke a rule, with the facts a message needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Facts {
    /// The expected close date (local) is `days` local days before today (`days` >= 1).
    Overdue { expected_close: NaiveDate, days: i64 },
    /// Nothing happened on the deal for `days` local days, more than the stage's `limit`.
    /// The two instants are the state the breach is keyed by.
    Stale { days: i64, limit: u32, stage_changed_at: DateTime<Utc>, last_activity_at: Option<DateTime<Utc>> },
    /// Which data is missing (at least one is true).
    MissingData { close_date: bool, value: bool },
    /// The deal entered position `to` at `entered_at`, coming from the later position `from`.
    MovedBack { from: i64, to: i64, entered_at: DateTime<Utc> },
    /// A CRM-fed deal with no next activity planned; keyed by the last touch, so that it fires
    /// again only after something happened on the deal and still nothing is planned.
    NoNextActivity { stage_changed_at: DateTime<Utc>, last_activity_at: Option<DateTime<Utc>> },
}

/// One rule broken by one deal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// The deal's id.
    pub deal: i64,
    /// Which rule, and the facts its message shows.
    pub facts: Facts,
}

impl Breach {
    /// The rule broken.
    pub fn rule(&self) -> Rule {
        match self.facts {
            Facts::Overdue { .. } => Rule::Overdue,
            Facts::Stale { .. } => Rule::Stale,
            Facts::MissingData { .. } => Rule::MissingData,
            Facts::MovedBack { .. } => Rule::MovedBack,
            Facts::NoNextActivity { .. } => Rule::NoNextActivity,
        }
    }

    /// The deal state this breach belongs to: "no rule fires twice for the same deal state" means
    /// a breach whose key was already delivered is not delivered again. The key changes exactly
    /// when the deal changes in a way that matters to the rule, and not as days go by:
    ///
    /// - overdue: (deal, expected close date): pushing the date makes a new state;
    /// - stale: (deal, last stage change, last activity);
    /// - missing data: (deal, which data is missing);
    /// - moved back: (deal, the time the backward stage entry was made);
    /// - no next activity: (deal, last stage change, last activity).
    ///
    /// The text is `rule/deal/part...`, with dates as `YYYY-MM-DD` and instants as Unix seconds
    /// (`-` for none), stable across releases because it is stored.
    pub fn state_key(&self) -> String {
        let secs = |t: Option<DateTime<Utc>>| t.map_or("-".to_string(), |t| t.timestamp().to_string());
        let state = match &self.facts {
            Facts::Overdue { expected_close, .. } => expected_close.format("%Y-%m-%d").to_string(),
            Facts::Stale { stage_changed_at, last_activity_at, .. }
            | Facts::NoNextActivity { stage_changed_at, last_activity_at } => {
                format!("{}/{}", secs(Some(*stage_changed_at)), secs(*last_activity_at))
            }
            Facts::MissingData { close_date, value } => {
                let mut parts = Vec::new();
                if *close_date {
                    parts.push("close");
                }
                if *value {
                    parts.push("value");
                }
                parts.join("+")
            }
            Facts::MovedBack { entered_at, .. } => secs(Some(*entered_at)),
        };
        format!("{}/{}/{state}", self.rule(), self.deal)
    }
}

/// The enabled rules `deal` breaks at `now`, in `Rule::ALL` order. A closed deal breaks none.
///
/// - Overdue: the expected close date is before `now`'s local date in the guild's timezone.
/// - Stale: more than the stage's limit of local days lie between the local date of the last
///   touch (stage change or activity) and today: touched on the 1st with a limit of 14, the deal is
///   fine through the 15th and stale on the 16th, as a close date is due through its own day.
/// - Missing data: no expected close date, or a value of zero. Zero counts as missing because the
///   store keeps no "unknown" value (a deal without one is stored as 0, and Pipedrive reports a
///   deal without a value as 0), and a zero-value deal adds nothing to the forecast either way.
/// - Moved back: the latest stage entry whose position is below the entry before it; later
///   forward steps do not clear it (the state key keeps it from firing twice). A deal reopened
///   from won or lost also counts, since its position goes down.
/// - No next activity: a CRM-fed deal with none planned; never a deal opened in chat.
pub fn check(deal: &DealState, rules: &HygieneRules, settings: &GuildSettings, now: DateTime<Utc>) -> Vec<Breach> {
    if !deal.is_open() {
        return Vec::new();
    }
    let today = local_date(settings.timezone, now);
    let mut found = Vec::new();
    let on = |rule| rules.is_enabled(rule);
    if on(Rule::Overdue)
        && let Some(close) = deal.expected_close
        && close < today
    {
        found.push(Facts::Overdue { expected_close: close, days: (today - close).num_days() });
    }
    if on(Rule::Stale) {
        let limit = rules.stale_days(&deal.stage.name);
        let days = (today - local_date(settings.timezone, deal.last_touch())).num_days();
        if days > i64::from(limit) {
            found.push(Facts::Stale {
                days,
                limit,
                stage_changed_at: deal.stage_changed_at,
                last_activity_at: deal.last_activity_at,
            });
        }
    }
    if on(Rule::MissingData) {
        let (close_date, value) = (deal.expected_close.is_none(), deal.value <= 0);
        if close_date || value {
            found.push(Facts::MissingData { close_date, value });
        }
    }
    if on(Rule::MovedBack)
        && let Some(step) = deal.history.windows(2).rev().find(|w| w[1].position < w[0].position)
    {
        found.push(Facts::MovedBack { from: step[0].position, to: step[1].position, entered_at: step[1].entered_at });
    }
    if on(Rule::NoNextActivity) && deal.crm_fed && !deal.has_next_activity {
        found.push(Facts::NoNextActivity {
            stage_changed_at: deal.stage_changed_at,
            last_activity_at: deal.last_activity_at,
        });
    }
    found.into_iter().map(|facts| Breach { deal: deal.id, facts }).collect()
}

/// The most characters of a next step's text (what the form's input allows too).
pub const MAX_STEP_CHARS: usize = 200;
/// How far ahead a next step may be due: two years.
pub const MAX_DUE_DAYS: i64 = 730;

/// A rep's next step on a deal, as typed in the hygiene DM's form: what (trimmed, 1 to
/// [`MAX_STEP_CHARS`] characters, no control characters) and an optional due date (`today`,
/// `tomorrow` or `2026-12-15`, a local date in `tz` from today up to [`MAX_DUE_DAYS`] ahead; empty:
/// none). Errors say what to type instead.
pub fn parse_next_step(
    what: &str,
    due: &str,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<(String, Option<NaiveDate>), DomainError> {
    let what = what.trim();
    if what.is_empty() {
        return Err(DomainError::invalid("say what the next step is, e.g. `demo with their CTO`"));
    }
    if what.chars().count() > MAX_STEP_CHARS || what.chars().any(char::is_control) {
        return Err(DomainError::invalid(format!(
            "a next step must be at most {MAX_STEP_CHARS} characters on one line"
        )));
    }
    let today = local_date(tz, now);
    let due = due.trim();
    let day = match due.to_ascii_lowercase().as_str() {
        "" => return Ok((what.to_string(), None)),
        "today" => today,
        "tomorrow" => today.succ_opt().unwrap_or(today),
        _ => super::pipeline::parse_close_date(due).map_err(|_| {
            DomainError::invalid(format!(
                "`{}` is not a date; write the due date like {}, or today or tomorrow",
                shorten(due, 40),
                (today + chrono::Duration::days(7)).format("%Y-%m-%d")
            ))
        })?,
    };
    if day < today {
        return Err(DomainError::invalid(format!(
            "{} has passed: a next step is due today or later",
            day.format("%a %-d %b %Y")
        )));
    }
    if (day - today).num_days() > MAX_DUE_DAYS {
        return Err(DomainError::invalid("a next step is due within two years"));
    }
    Ok((what.to_string(), Some(day)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::Outcome;
    use crate::domain::settings::parse_timezone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test dates are real")
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instants are RFC 3339")
    }

    fn guild(zone: &str) -> GuildSettings {
        GuildSettings { timezone: parse_timezone(zone).expect("test zones exist"), ..GuildSettings::default() }
    }

    fn stage(name: &str) -> Stage {
        Pipeline::defaults().get(name).expect("a default stage").clone()
    }

    /// A healthy open deal in `proposal`: dated, valued, touched at `touched`, moving forward only.
    fn deal(touched: &str) -> DealState {
        let touched = at(touched);
        DealState {
            id: 42,
            value: 1_250_000,
            expected_close: Some(date(2026, 12, 31)),
            stage: stage("proposal"),
            stage_changed_at: touched,
            last_activity_at: None,
            history: vec![
                StageEntry { position: 1, entered_at: touched - chrono::Duration::days(3) },
                StageEntry { position: 4, entered_at: touched },
            ],
            crm_fed: false,
            has_next_activity: false,
        }
    }

    fn rules_of(breaches: &[Breach]) -> Vec<Rule> {
        breaches.iter().map(Breach::rule).collect()
    }

    fn overdue_days(d: &DealState, zone: &str, now: &str) -> Option<i64> {
        check(d, &HygieneRules::default(), &guild(zone), at(now)).into_iter().find_map(|b| match b.facts {
            Facts::Overdue { days, .. } => Some(days),
            _ => None,
        })
    }

    #[test]
    fn a_close_date_of_today_in_berlin_is_not_overdue_but_yesterday_is_even_before_midnight_utc() {
        let d = DealState { expected_close: Some(date(2026, 11, 20)), ..deal("2026-11-19T10:00:00Z") };
        // 23:59 on the 20th in Berlin.
        assert_eq!(overdue_days(&d, "Europe/Berlin", "2026-11-20T22:59:00Z"), None);
        // 00:30 on the 21st in Berlin, still the 20th in UTC.
        assert_eq!(overdue_days(&d, "Europe/Berlin", "2026-11-20T23:30:00Z"), Some(1));
        assert_eq!(overdue_days(&d, "UTC", "2026-11-20T23:30:00Z"), None, "the guild's zone decides, not UTC");
    }

    #[test]
    fn a_close_date_of_today_in_los_angeles_is_not_overdue_after_midnight_utc_but_yesterday_is() {
        let d = DealState { expected_close: Some(date(2026, 11, 20)), ..deal("2026-11-19T10:00:00Z") };
        // 16:30 on the 20th in Los Angeles, already the 21st in UTC.
        assert_eq!(overdue_days(&d, "America/Los_Angeles", "2026-11-21T00:30:00Z"), None);
        assert_eq!(overdue_days(&d, "UTC", "2026-11-21T00:30:00Z"), Some(1));
        // 23:59 and 00:00 local (PST, UTC-8).
        assert_eq!(overdue_days(&d, "America/Los_Angeles", "2026-11-21T07:59:00Z"), None);
        assert_eq!(overdue_days(&d, "America/Los_Angeles", "2026-11-21T08:00:00Z"), Some(1));
        assert_eq!(overdue_days(&d, "America/Los_Angeles", "2026-11-23T08:00:00Z"), Some(3));
    }

    fn stale_days(d: &DealState, rules: &HygieneRules, now: &str) -> Option<i64> {
        check(d, rules, &guild("Europe/Berlin"), at(now)).into_iter().find_map(|b| match b.facts {
            Facts::Stale { days, .. } => Some(days),
            _ => None,
        })
    }

    #[test]
    fn a_deal_untouched_exactly_the_limit_is_not_stale_and_one_day_more_is_across_the_october_dst_change() {
        // Touched at 12:00 CEST on 15 October; Berlin leaves summer time on 25 October 2026.
        let d = deal("2026-10-15T10:00:00Z");
        let rules = HygieneRules::default();
        // 23:59 CET on 29 October: 14 days 12 h 59 min of elapsed time, still the 14th local day.
        assert_eq!(stale_days(&d, &rules, "2026-10-29T22:59:00Z"), None);
        // 00:00 CET on 30 October: 15 local days, one more than the limit.
        assert_eq!(stale_days(&d, &rules, "2026-10-29T23:00:00Z"), Some(15));
    }

    #[test]
    fn stale_days_are_local_days_so_the_extra_dst_hour_does_not_add_one() {
        let pipeline = Pipeline::defaults();
        let rules = HygieneRules::default().with_stale_days(Some("proposal"), "6", &pipeline).unwrap();
        // Touched at 00:30 CEST on 22 October.
        let d = deal("2026-10-21T22:30:00Z");
        // 23:45 CET on 28 October is 6 local days on, but 7 days and 15 minutes of elapsed time.
        assert_eq!(stale_days(&d, &rules, "2026-10-28T22:45:00Z"), None);
        // 00:15 CET on 29 October: 7 local days.
        assert_eq!(stale_days(&d, &rules, "2026-10-28T23:15:00Z"), Some(7));
    }

    #[test]
    fn an_activity_or_a_stage_change_resets_the_stale_count_and_other_stages_keep_the_default() {
        let pipeline = Pipeline::defaults();
        let rules = HygieneRules::default().with_stale_days(Some("Lead"), "3", &pipeline).unwrap();
        let d = deal("2026-10-01T10:00:00Z");
        assert_eq!(rules.stale_days(&d.stage.name), DEFAULT_STALE_DAYS);
        assert_eq!(stale_days(&d, &rules, "2026-10-20T10:00:00Z"), Some(19));
        let called = DealState { last_activity_at: Some(at("2026-10-18T10:00:00Z")), ..d.clone() };
        assert_eq!(stale_days(&called, &rules, "2026-10-20T10:00:00Z"), None);
        let in_lead = DealState { stage: stage("lead"), ..called };
        assert_eq!(stale_days(&in_lead, &rules, "2026-10-21T10:00:00Z"), None);
        assert_eq!(stale_days(&in_lead, &rules, "2026-10-22T10:00:00Z"), Some(4));
    }

    #[test]
    fn a_deal_moved_back_and_then_forward_breaches_only_for_the_backward_step() {
        let now = at("2026-11-10T10:00:00Z");
        let t = |day: u32| at(&format!("2026-11-{day:02}T09:00:00Z"));
        let moved = DealState {
            history: vec![
                StageEntry { position: 1, entered_at: t(1) },
                StageEntry { position: 3, entered_at: t(2) },
                StageEntry { position: 2, entered_at: t(3) },
                StageEntry { position: 4, entered_at: t(4) },
            ],
            ..deal("2026-11-04T09:00:00Z")
        };
        let breaches = check(&moved, &HygieneRules::default(), &guild("Europe/Berlin"), now);
        assert_eq!(breaches, vec![Breach { deal: 42, facts: Facts::MovedBack { from: 3, to: 2, entered_at: t(3) } }]);
        let forward_only = DealState { history: vec![moved.history[0], moved.history[1], moved.history[3]], ..moved };
        assert!(check(&forward_only, &HygieneRules::default(), &guild("Europe/Berlin"), now).is_empty());
    }

    #[test]
    fn a_value_of_zero_counts_as_missing_and_any_positive_value_does_not() {
        let now = at("2026-11-10T10:00:00Z");
        let base = deal("2026-11-09T10:00:00Z");
        let missing = |d: &DealState| {
            check(d, &HygieneRules::default(), &guild("UTC"), now).into_iter().find(|b| b.rule() == Rule::MissingData)
        };
        let zero = DealState { value: 0, ..base.clone() };
        assert_eq!(missing(&zero).unwrap().facts, Facts::MissingData { close_date: false, value: true });
        assert_eq!(missing(&DealState { value: 1, ..base.clone() }), None);
        let undated = DealState { value: 0, expected_close: None, ..base };
        let both = missing(&undated).unwrap();
        assert_eq!(both.facts, Facts::MissingData { close_date: true, value: true });
        assert_eq!(both.state_key(), "missing-data/42/close+value");
    }

    #[test]
    fn a_closed_deal_breaches_nothing() {
        let now = at("2027-06-01T10:00:00Z");
        let broken = DealState {
            value: 0,
            expected_close: Some(date(2026, 1, 1)),
            history: vec![
                StageEntry { position: 4, entered_at: at("2026-01-01T00:00:00Z") },
                StageEntry { position: 2, entered_at: at("2026-01-02T00:00:00Z") },
            ],
            crm_fed: true,
            ..deal("2026-01-02T00:00:00Z")
        };
        assert_eq!(rules_of(&check(&broken, &HygieneRules::default(), &guild("UTC"), now)), Rule::ALL);
        for outcome in [Outcome::Won, Outcome::Lost] {
            let closed = DealState { stage: Pipeline::defaults().terminal(outcome).unwrap().clone(), ..broken.clone() };
            assert!(check(&closed, &HygieneRules::default(), &guild("UTC"), now).is_empty());
        }
    }

    #[test]
    fn a_deal_not_fed_by_the_crm_never_breaches_no_next_activity() {
        let now = at("2026-11-10T10:00:00Z");
        let chat = deal("2026-11-09T10:00:00Z");
        assert!(check(&chat, &HygieneRules::default(), &guild("UTC"), now).is_empty());
        let crm = DealState { crm_fed: true, ..chat };
        assert_eq!(rules_of(&check(&crm, &HygieneRules::default(), &guild("UTC"), now)), vec![Rule::NoNextActivity]);
        let planned = DealState { has_next_activity: true, ..crm };
        assert!(check(&planned, &HygieneRules::default(), &guild("UTC"), now).is_empty());
    }

    #[test]
    fn a_disabled_rule_never_fires() {
        let now = at("2026-11-10T10:00:00Z");
        let d = DealState { crm_fed: true, expected_close: Some(date(2026, 11, 1)), ..deal("2026-11-09T10:00:00Z") };
        let rules = HygieneRules::default();
        assert_eq!(rules_of(&check(&d, &rules, &guild("UTC"), now)), vec![Rule::Overdue, Rule::NoNextActivity]);
        let off = rules.with_enabled("No next activity", false).unwrap().with_enabled("OVERDUE", false).unwrap();
        assert!(check(&d, &off, &guild("UTC"), now).is_empty());
        assert_eq!(off.with_enabled("overdue", true).unwrap().with_enabled("no_next_activity", true).unwrap(), rules);
    }

    #[test]
    fn the_state_key_changes_with_the_deal_not_with_the_passing_days() {
        let d = DealState { expected_close: Some(date(2026, 11, 1)), ..deal("2026-11-01T10:00:00Z") };
        let key = |d: &DealState, rule: Rule, now: &str| {
            check(d, &HygieneRules::default(), &guild("UTC"), at(now))
                .into_iter()
                .find(|b| b.rule() == rule)
                .map(|b| b.state_key())
        };
        let overdue = key(&d, Rule::Overdue, "2026-11-05T10:00:00Z");
        assert_eq!(overdue.as_deref(), Some("overdue/42/2026-11-01"));
        assert_eq!(key(&d, Rule::Overdue, "2026-11-09T10:00:00Z"), overdue);
        let pushed = DealState { expected_close: Some(date(2026, 11, 3)), ..d.clone() };
        assert_eq!(key(&pushed, Rule::Overdue, "2026-11-09T10:00:00Z").as_deref(), Some("overdue/42/2026-11-03"));

        let stale = key(&d, Rule::Stale, "2026-11-20T10:00:00Z");
        assert_eq!(stale.as_deref(), Some("stale/42/1793527200/-"));
        assert_eq!(key(&d, Rule::Stale, "2026-11-25T10:00:00Z"), stale);
        let touched = DealState { last_activity_at: Some(at("2026-11-02T10:00:00Z")), ..d };
        assert_eq!(
            key(&touched, Rule::Stale, "2026-11-25T10:00:00Z").as_deref(),
            Some("stale/42/1793527200/1793613600")
        );
    }

    #[test]
    fn a_managers_change_to_the_rules_is_validated_with_a_clear_message() {
        let pipeline = Pipeline::defaults();
        let rules = HygieneRules::default();
        let err = |r: Result<HygieneRules, DomainError>| r.unwrap_err().message;
        assert_eq!(
            err(rules.with_enabled("missing dat", false)),
            "`missing dat` is not a hygiene rule; did you mean `missing-data`?"
        );
        assert!(err(rules.with_enabled("everything", false)).contains("one of overdue, stale, missing-data"));
        assert_eq!(err(rules.with_stale_days(None, "0", &pipeline)), "a deal goes stale after 1 to 365 days, not 0");
        assert_eq!(
            err(rules.with_stale_days(None, "two weeks", &pipeline)),
            "`two weeks` is not a number of days; give a whole number from 1 to 365"
        );
        assert!(err(rules.with_stale_days(None, "99999999999", &pipeline)).contains("is not a number of days"));
        assert_eq!(err(rules.with_stale_days(Some("pitch"), "7", &pipeline)), "there is no stage `pitch`");
        assert_eq!(
            err(rules.with_stale_days(Some("won"), "7", &pipeline)),
            "`won` closes deals; only open stages can go stale"
        );
        let set = rules.with_stale_days(None, " 21 ", &pipeline).unwrap();
        assert_eq!(set.stale_default(), 21);
        let demo = StageName::parse("demo").unwrap();
        let set = set.with_stale_days(Some("demo"), "5", &pipeline).unwrap();
        assert_eq!((set.stale_days(&demo), set.stale_overrides().count()), (5, 1));
        assert_eq!(set.without_stale_override(&demo).stale_days(&demo), 21);
    }

    #[test]
    fn a_next_step_needs_a_text_and_takes_a_due_date_from_today_in_the_guilds_timezone() {
        let tz: chrono_tz::Tz = "Pacific/Auckland".parse().unwrap();
        // 23:00 UTC on the 24th is already the 25th in Auckland.
        let now = at("2026-11-24T23:00:00Z");
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_next_step(" demo ", "", now, tz).unwrap(), ("demo".to_string(), None));
        assert_eq!(parse_next_step("demo", "today", now, tz).unwrap().1, day(2026, 11, 25));
        assert_eq!(parse_next_step("demo", "Tomorrow", now, tz).unwrap().1, day(2026, 11, 26));
        assert_eq!(parse_next_step("demo", "2026-12-03", now, tz).unwrap().1, day(2026, 12, 3));
        for (what, due) in [
            ("", ""),
            ("  ", "today"),
            ("a\nb", ""),
            ("demo", "next week"),
            ("demo", "2026-11-24"),
            ("demo", "2026-13-01"),
            ("demo", "2029-01-01"),
        ] {
            assert!(parse_next_step(what, due, now, tz).is_err(), "{what:?} {due:?}");
        }
        assert!(parse_next_step(&"x".repeat(MAX_STEP_CHARS + 1), "", now, tz).is_err());
        assert!(parse_next_step(&"é".repeat(MAX_STEP_CHARS), "", now, tz).is_ok());
    }
}
