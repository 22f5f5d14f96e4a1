//! Goals and pace: what a goal is about (subject, metric, period), parsing it from what a user
//! typed, picking the version in force for a period, and the pace arithmetic. Pure: `now` is an
//! argument; imports nothing of ours outside `domain`.
//!
//! # Working time
//!
//! Pace is counted in working days of the guild's calendar (its working weekdays, in its timezone).
//! For a period with `W` working days and the instant `now`, whose local date is `today`:
//!
//! - *elapsed working time* `E` = the working days of the period strictly before `today`, plus, when
//!   `today` is a working day inside the period, the fraction of today's *working hours* already
//!   gone: 0 before they start (at 08:00 on a Monday nobody is behind yet), 1 once they end, and in
//!   between the local wall-clock time since they started over their length. Working hours are
//!   local clock times, so a DST change (at night) does not move them.
//!   Before the period `E` = 0; after it `E` = `W`.
//! - *working days left* `L` = `W − E` (a fraction while a working day is under way).
//! - attainment = actual / target; expected by now = target × `E` / `W`; projected end of period =
//!   actual / `E` × `W`; required daily rate = (target − actual) / `L`.
//!
//! The formulas divide by `W`, `E` and `L`; each division has an explicit answer when its divisor is
//! zero: a period without working days has no expected or projected value, nothing can be projected
//! before any working time has passed, and with no working day left the required rate is "n/a".

use chrono::{DateTime, NaiveDate, Utc};

use super::DomainError;
use super::activity::{KindName, Snowflake, WON, shorten};
use super::kpi::Totals;
use super::money::Money;
use super::period::{Period, PeriodSpec, PeriodUnit, local_date, local_day_start};
use super::settings::GuildSettings;

/// The largest count or points target: far above any real goal, far below overflow.
pub const MAX_COUNT_TARGET: i64 = 1_000_000_000;

/// Who a goal is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GoalSubject {
    Member(Snowflake),
    /// A team id.
    Team(i64),
    Guild,
}

impl GoalSubject {
    /// The `scope` column.
    pub fn scope(&self) -> &'static str {
        match self {
            GoalSubject::Member(_) => "member",
            GoalSubject::Team(_) => "team",
            GoalSubject::Guild => "guild",
        }
    }

    /// The `subject_id` column: a user id, a team id or 0 for the guild.
    pub fn subject_id(&self) -> i64 {
        match self {
            GoalSubject::Member(user) => user.as_i64(),
            GoalSubject::Team(team) => *team,
            GoalSubject::Guild => 0,
        }
    }

    /// Reads the two columns back; `None` for a combination the schema should never hold.
    pub fn from_columns(scope: &str, subject_id: i64) -> Option<GoalSubject> {
        match scope {
            "member" => u64::try_from(subject_id).ok().and_then(|id| Snowflake::new(id).ok()).map(GoalSubject::Member),
            "team" if subject_id > 0 => Some(GoalSubject::Team(subject_id)),
            "guild" => Some(GoalSubject::Guild),
            _ => None,
        }
    }
}

/// The `scope` a user picks in `/goal`: `me` and `rep` both name a member, but `me` is always the
/// person asking, which is what lets reps set their own goals without being managers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeChoice {
    Me,
    Rep,
    Team,
    Guild,
}

impl ScopeChoice {
    pub fn parse(text: &str) -> Result<ScopeChoice, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "me" | "self" | "mine" => Ok(ScopeChoice::Me),
            "rep" | "member" | "user" => Ok(ScopeChoice::Rep),
            "team" => Ok(ScopeChoice::Team),
            "guild" | "server" | "everyone" => Ok(ScopeChoice::Guild),
            _ => Err(DomainError::invalid(format!(
                "`{}` is not a goal scope; use me, rep, team or guild",
                shorten(text.trim(), 40)
            ))),
        }
    }
}

/// What a goal counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GoalMetric {
    Points,
    /// Sum of `won` amounts, in minor units.
    Revenue,
    DealsWon,
    /// How many of one activity kind.
    Kind(KindName),
}

impl GoalMetric {
    /// The metrics that are not a kind, as `parse` reads them: offered beside the kinds when an
    /// unknown metric is refused.
    pub const NAMED: [&'static str; 3] = ["points", "revenue", "deals-won"];

    /// `points`, `revenue`, `deals-won` (also `deals won`, `deals_won`, `won`) or a kind name.
    /// `won` is deals won under another name, so both land on one goal rather than two.
    pub fn parse(text: &str) -> Result<GoalMetric, DomainError> {
        let lower = text.trim().to_ascii_lowercase();
        let compact: String = lower.chars().filter(|c| !matches!(c, ' ' | '-' | '_')).collect();
        match compact.as_str() {
            "points" | "pts" | "point" => return Ok(GoalMetric::Points),
            "revenue" => return Ok(GoalMetric::Revenue),
            "dealswon" | "deals" => return Ok(GoalMetric::DealsWon),
            _ => {}
        }
        let lower = lower.strip_prefix("kind:").unwrap_or(&lower);
        let kind = KindName::parse(lower).map_err(|_| {
            DomainError::invalid(format!(
                "`{}` is not a goal metric; use points, revenue, deals-won or an activity kind",
                shorten(text.trim(), 40)
            ))
        })?;
        Ok(if kind.as_str() == WON { GoalMetric::DealsWon } else { GoalMetric::Kind(kind) })
    }

    /// The `metric` column: `points`, `revenue`, `deals-won` or `kind:<name>`.
    pub fn to_column(&self) -> String {
        match self {
            GoalMetric::Points => "points".into(),
            GoalMetric::Revenue => "revenue".into(),
            GoalMetric::DealsWon => "deals-won".into(),
            GoalMetric::Kind(kind) => format!("kind:{kind}"),
        }
    }

    pub fn from_column(text: &str) -> Option<GoalMetric> {
        match text {
            "points" => Some(GoalMetric::Points),
            "revenue" => Some(GoalMetric::Revenue),
            "deals-won" => Some(GoalMetric::DealsWon),
            other => other.strip_prefix("kind:").and_then(|k| KindName::parse(k).ok()).map(GoalMetric::Kind),
        }
    }

    /// The metric's value in a set of totals.
    pub fn value(&self, totals: &Totals) -> i64 {
        match self {
            GoalMetric::Points => totals.points,
            GoalMetric::Revenue => totals.revenue,
            GoalMetric::DealsWon => totals.deals_won(),
            GoalMetric::Kind(kind) => totals.count(kind.as_str()),
        }
    }

    /// Parses a target written for this metric: an amount in the guild's money for revenue
    /// (`12500`, `12,500.00`, stored in minor units), a whole number for the rest. Always positive.
    pub fn parse_target(&self, text: &str, money: Money) -> Result<i64, DomainError> {
        let raw = text.trim();
        if *self == GoalMetric::Revenue {
            let amount = money.parse(raw)?.minor();
            if amount == 0 {
                return Err(DomainError::invalid("a revenue target must be more than 0"));
            }
            return Ok(amount);
        }
        let bad = || {
            DomainError::invalid(format!(
                "`{}` is not a target for {}; write a whole number like 80",
                shorten(raw, 40),
                self.noun()
            ))
        };
        if raw.starts_with('-') {
            return Err(DomainError::invalid("a target must be more than 0"));
        }
        // Thousands separators as the guild writes them: `1,000` is a thousand only where `,`
        // groups digits; where it is the decimal mark it is refused, not read as 1000.
        let digits = money.format.whole_digits(raw.strip_prefix('+').unwrap_or(raw)).ok_or_else(bad)?;
        let too_large = || DomainError::invalid(format!("a target may be at most {MAX_COUNT_TARGET}"));
        if digits.trim_start_matches('0').len() > 10 {
            return Err(too_large());
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(DomainError::invalid("a target must be more than 0"));
        }
        if n > MAX_COUNT_TARGET {
            return Err(too_large());
        }
        Ok(n)
    }

    /// What is counted, for sentences: `pts`, `revenue`, `deals won`, `call`.
    pub fn noun(&self) -> String {
        match self {
            GoalMetric::Points => "pts".into(),
            GoalMetric::Revenue => "revenue".into(),
            GoalMetric::DealsWon => "deals won".into(),
            GoalMetric::Kind(kind) => kind.to_string(),
        }
    }

    /// Whether its values are money, which the guild's money privacy setting may hide.
    pub fn is_money(&self) -> bool {
        matches!(self, GoalMetric::Revenue)
    }

    /// An exact value of this metric for people: money for revenue, a plain number otherwise.
    pub fn show(&self, value: i64, money: Money) -> String {
        match self {
            GoalMetric::Revenue => money.format(value),
            _ => value.to_string(),
        }
    }

    /// A computed (fractional) value: money to the cent, counts to one decimal when not whole.
    pub fn show_f64(&self, value: f64, money: Money) -> String {
        match self {
            GoalMetric::Revenue => money.format(clamp_i64(value.round())),
            _ => decimal(value),
        }
    }

    /// A rate someone must reach, rounded up so that doing it is enough: a cent for money, a tenth
    /// for counts.
    pub fn show_rate(&self, value: f64, money: Money) -> String {
        match self {
            GoalMetric::Revenue => money.format(clamp_i64(value.ceil())),
            _ => decimal((value * 10.0 - 1e-9).ceil() / 10.0),
        }
    }
}

impl std::fmt::Display for GoalMetric {
    /// The form `parse` reads back and the reference uses: `points`, `deals-won`, `call`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoalMetric::Kind(kind) => write!(f, "{kind}"),
            other => f.write_str(&other.to_column()),
        }
    }
}

fn clamp_i64(v: f64) -> i64 {
    if v.is_nan() { 0 } else { v.clamp(i64::MIN as f64, i64::MAX as f64) as i64 }
}

/// `12`, `12.5`: one decimal at most, none when the value is whole at that precision.
fn decimal(v: f64) -> String {
    let tenths = clamp_i64((v * 10.0).round());
    if tenths % 10 == 0 { (tenths / 10).to_string() } else { format!("{:.1}", tenths as f64 / 10.0) }
}

/// The period a goal recurs over. Quarters and years are fiscal, like `this-quarter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GoalPeriod {
    Week,
    Month,
    Quarter,
    Year,
}

impl GoalPeriod {
    pub const ALL: [GoalPeriod; 4] = [GoalPeriod::Week, GoalPeriod::Month, GoalPeriod::Quarter, GoalPeriod::Year];

    pub fn parse(text: &str) -> Result<GoalPeriod, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "week" | "weekly" => Ok(GoalPeriod::Week),
            "month" | "monthly" => Ok(GoalPeriod::Month),
            "quarter" | "quarterly" => Ok(GoalPeriod::Quarter),
            "year" | "yearly" | "annual" => Ok(GoalPeriod::Year),
            _ => Err(DomainError::invalid(format!(
                "`{}` is not a goal period; use week, month, quarter or year",
                shorten(text.trim(), 40)
            ))),
        }
    }

    /// The `period` column, and the word in sentences.
    pub fn as_str(self) -> &'static str {
        match self {
            GoalPeriod::Week => "week",
            GoalPeriod::Month => "month",
            GoalPeriod::Quarter => "quarter",
            GoalPeriod::Year => "year",
        }
    }

    pub fn from_column(text: &str) -> Option<GoalPeriod> {
        GoalPeriod::ALL.into_iter().find(|p| p.as_str() == text)
    }

    pub fn unit(self) -> PeriodUnit {
        match self {
            GoalPeriod::Week => PeriodUnit::Week,
            GoalPeriod::Month => PeriodUnit::Month,
            GoalPeriod::Quarter => PeriodUnit::Quarter,
            GoalPeriod::Year => PeriodUnit::Year,
        }
    }

    fn this_spec(self) -> PeriodSpec {
        match self {
            GoalPeriod::Week => PeriodSpec::ThisWeek,
            GoalPeriod::Month => PeriodSpec::ThisMonth,
            GoalPeriod::Quarter => PeriodSpec::ThisQuarter,
            GoalPeriod::Year => PeriodSpec::ThisYear,
        }
    }

    /// The week, month, fiscal quarter or fiscal year that holds local day `day`.
    pub fn containing(self, day: NaiveDate, settings: &GuildSettings) -> Result<Period, DomainError> {
        // Resolving "this week" at the instant `day` begins is how `/me` would see it that day.
        Period::resolve(&self.this_spec(), settings, local_day_start(settings.timezone, day))
    }

    /// The current one at `now`.
    pub fn current(self, settings: &GuildSettings, now: DateTime<Utc>) -> Result<Period, DomainError> {
        Period::resolve(&self.this_spec(), settings, now)
    }

    /// The goal period a reporting period is exactly, if any: `last-month` and `2026-10` are
    /// months, but a calendar `2026-Q4` is not a quarter when the fiscal year starts in April, and a
    /// range is never one even when it spans a month.
    pub fn matching(period: &Period, settings: &GuildSettings) -> Option<GoalPeriod> {
        let goal = GoalPeriod::ALL.into_iter().find(|g| g.unit() == period.unit)?;
        let aligned = goal.containing(period.first_day, settings).ok()?;
        (aligned.first_day == period.first_day && aligned.end_day == period.end_day).then_some(goal)
    }
}

impl std::fmt::Display for GoalPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One goal: subject, metric and period together; at most one target is in force per key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoalKey {
    pub subject: GoalSubject,
    pub metric: GoalMetric,
    pub period: GoalPeriod,
}

/// One stored version of a goal: its target from `effective_from` (the first day of a goal period)
/// until a later version; a cleared version ends the goal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoalVersion {
    pub key: GoalKey,
    /// In minor units for revenue; 0 when cleared.
    pub target: i64,
    pub effective_from: NaiveDate,
    pub cleared: bool,
}

/// The target in force for the goal period starting on `first_day`: the latest version that
/// starts on or before it, unless that version clears the goal. `versions` are one key's.
pub fn in_force(versions: &[GoalVersion], first_day: NaiveDate) -> Option<&GoalVersion> {
    versions.iter().filter(|v| v.effective_from <= first_day).max_by_key(|v| v.effective_from).filter(|v| !v.cleared)
}

/// When a new target starts, as the user wrote it in `from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GoalStart {
    /// The current period (no `from`).
    Current,
    /// The period after the current one (`next`, `next-period`).
    Next,
    /// The period holding the first day of this date or period.
    Spec(PeriodSpec),
}

impl GoalStart {
    /// Empty text is the current period; otherwise `next` or anything `PeriodSpec` reads.
    pub fn parse(text: &str) -> Result<GoalStart, DomainError> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(GoalStart::Current);
        }
        let compact: String = t.to_ascii_lowercase().chars().filter(|c| !matches!(c, ' ' | '-' | '_')).collect();
        if compact == "next" || compact == "nextperiod" {
            return Ok(GoalStart::Next);
        }
        PeriodSpec::parse(t)
            .map(GoalStart::Spec)
            .map_err(|e| DomainError::invalid(format!("`from`: {} (or write `next` for the next period)", e.message)))
    }

    /// The first day of the goal period this start names. Targets never start in a past period:
    /// earlier periods keep the target they had.
    pub fn effective_from(
        &self,
        period: GoalPeriod,
        settings: &GuildSettings,
        now: DateTime<Utc>,
    ) -> Result<NaiveDate, DomainError> {
        let current = period.current(settings, now)?;
        let first = match self {
            GoalStart::Current => current.first_day,
            GoalStart::Next => current.end_day,
            GoalStart::Spec(spec) => {
                let asked = Period::resolve(spec, settings, now)?;
                period.containing(asked.first_day, settings)?.first_day
            }
        };
        if first < current.first_day {
            return Err(DomainError::invalid(format!(
                "`from` lies in a past {period}; a goal applies from the current {period} ({}) on, and past \
                 periods keep their targets",
                current.first_day
            )));
        }
        Ok(first)
    }
}

/// What is still needed per working day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Required {
    /// The target is met; nothing more is needed.
    Reached,
    /// (target − actual) / working days left, or all of it when less than one working day is left
    /// (the period's last working day is under way): Friday at 17:30 with 47 calls to go needs 47
    /// today, not 940 "a day" over the half hour left.
    PerDay(f64),
    /// Short of the target with no working time left in the period.
    NoWorkingDaysLeft,
}

/// Where a goal stands at an instant. Days are working days (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Pace {
    pub target: i64,
    pub actual: i64,
    /// Working days in the whole period (`W`).
    pub working_days: u32,
    /// Elapsed working time (`E`), in working days.
    pub elapsed: f64,
    /// `W − E`.
    pub left: f64,
    /// actual / target.
    pub attainment: f64,
    /// target × E / W; none when the period has no working days.
    pub expected_by_now: Option<f64>,
    /// actual / E × W; none before any working time has passed (or without working days).
    pub projected: Option<f64>,
    pub required: Required,
}

impl Pace {
    /// Pace of `actual` against `target` over `period` at `now`. A non-positive target (which
    /// parsing never produces) reads as "reached" with no attainment rather than dividing by it.
    pub fn compute(target: i64, actual: i64, period: &Period, settings: &GuildSettings, now: DateTime<Utc>) -> Pace {
        let working_days = period.working_days_between(period.first_day, period.end_day, settings);
        let elapsed = elapsed_working_days(period, settings, now);
        let total = f64::from(working_days);
        let left = (total - elapsed).max(0.0);
        let (t, a) = (target as f64, actual as f64);
        let required = if actual >= target {
            Required::Reached
        } else if left <= 0.0 {
            Required::NoWorkingDaysLeft
        } else {
            Required::PerDay((t - a) / left.max(1.0))
        };
        Pace {
            target,
            actual,
            working_days,
            elapsed,
            left,
            attainment: if target > 0 { a / t } else { 0.0 },
            expected_by_now: (working_days > 0).then(|| t * elapsed / total),
            projected: (elapsed > 0.0).then(|| a / elapsed * total),
            required,
        }
    }

    /// Behind when short of what was expected by now (and of the target); none without working days.
    pub fn behind(&self) -> Option<bool> {
        self.expected_by_now.map(|expected| (self.actual as f64) < expected && self.actual < self.target)
    }

    /// `60%`, rounded down so that 99.9 % never reads as met; in integers, because 58 / 200 × 100
    /// is 28.999… in floating point.
    pub fn attainment_percent(&self) -> String {
        let percent = if self.target > 0 {
            (i128::from(self.actual.max(0)) * 100 / i128::from(self.target)).to_string()
        } else {
            "0".into()
        };
        format!("{percent}%")
    }

    /// The required rate in words: `need 8/day`, `need 47 today` (on the period's last working day),
    /// `target reached`, `n/a — no working days left`.
    pub fn describe_required(&self, metric: &GoalMetric, money: Money) -> String {
        match self.required {
            Required::Reached => "target reached ✅".into(),
            Required::PerDay(rate) => format!("need {}{}", metric.show_rate(rate, money), self.per_day_or_today()),
            Required::NoWorkingDaysLeft => "n/a — no working days left".into(),
        }
    }

    /// One line with every pace number, for KPI replies:
    /// `**48** of 80 pts · **60%** · expected by now 56 · projected 72 · need 8/day`.
    pub fn describe(&self, metric: &GoalMetric, money: Money) -> String {
        let expected = match self.expected_by_now {
            Some(e) => format!("expected by now {}", metric.show_f64(e, money)),
            None => "no working days in this period".into(),
        };
        let projected = match self.projected {
            Some(p) => format!("projected {}", metric.show_f64(p, money)),
            None if self.working_days == 0 => "projected —".into(),
            None => "projected — (no working time yet)".into(),
        };
        format!(
            "**{}** of {} {} · **{}** · {expected} · {projected} · {}",
            metric.show(self.actual, money),
            metric.show(self.target, money),
            metric.noun(),
            self.attainment_percent(),
            self.describe_required(metric, money)
        )
    }

    /// A share of the target, as [`Pace::attainment_percent`] shows it: `92%`.
    pub fn percent_of_target(&self, value: f64) -> String {
        if self.target <= 0 {
            return "-".into();
        }
        format!("{}%", clamp_i64((value / self.target as f64 * 100.0 + 1e-9).floor()))
    }

    /// The required rate as a share of the target per working day, rounded up to a tenth so that
    /// doing it is enough: `4.2%`; none when nothing (or no working time) is left.
    pub fn required_percent(&self) -> Option<String> {
        match self.required {
            Required::PerDay(rate) if self.target > 0 => {
                Some(format!("{}%", decimal((rate / self.target as f64 * 1000.0 - 1e-9).ceil() / 10.0)))
            }
            _ => None,
        }
    }

    /// `/day`, or ` today` once less than one working day is left (the rate is then all that is
    /// left, see [`Required::PerDay`]).
    fn per_day_or_today(&self) -> &'static str {
        if self.left < 1.0 { " today" } else { "/day" }
    }

    /// [`Pace::describe_required`] in shares of the target: `need 4.2%/day`.
    pub fn describe_required_percent(&self) -> String {
        match self.required_percent() {
            Some(share) => format!("need {share}{}", self.per_day_or_today()),
            None => self.describe_required(&GoalMetric::Points, Money::default()),
        }
    }

    /// [`Pace::describe`] without amounts, every number a share of the target, for a money goal
    /// whose amounts the reader may not see:
    /// `**60%** of the goal · expected by now 55% · projected 110% · need 4.2%/day`.
    pub fn describe_percent(&self) -> String {
        let expected = match self.expected_by_now {
            Some(e) => format!("expected by now {}", self.percent_of_target(e)),
            None => "no working days in this period".into(),
        };
        let projected = match self.projected {
            Some(p) => format!("projected {}", self.percent_of_target(p)),
            None if self.working_days == 0 => "projected —".into(),
            None => "projected — (no working time yet)".into(),
        };
        format!(
            "**{}** of the goal · {expected} · {projected} · {}",
            self.attainment_percent(),
            self.describe_required_percent()
        )
    }
}

/// Elapsed working time `E` (module docs): whole working days before today's local date, plus the
/// fraction of today's working hours gone when today is a working day of the period.
pub fn elapsed_working_days(period: &Period, settings: &GuildSettings, now: DateTime<Utc>) -> f64 {
    let today = local_date(settings.timezone, now);
    let whole = f64::from(period.working_days_between(period.first_day, today, settings));
    let inside = period.first_day <= today && today < period.end_day;
    if !inside || !settings.working_days.is_working(today) {
        return whole;
    }
    let local = now.with_timezone(&settings.timezone).time();
    let minute = f64::from(chrono::Timelike::num_seconds_from_midnight(&local)) / 60.0;
    let (start, end) =
        (f64::from(settings.working_hours.start_minute()), f64::from(settings.working_hours.end_minute()));
    if end <= start {
        return whole;
    }
    whole + ((minute - start) / (end - start)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Money;

    /// Money as a guild that chose nothing shows it.
    const M: Money =
        Money { currency: crate::domain::money::Currency::USD, format: crate::domain::money::NumberFormat::CommaDot };
    use crate::domain::settings::{FiscalStart, WorkingDays, parse_timezone};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test dates are real")
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instants are RFC 3339")
    }

    fn guild(zone: &str) -> GuildSettings {
        GuildSettings { timezone: parse_timezone(zone).expect("test zones exist"), ..GuildSettings::default() }
    }

    fn every_day(zone: &str) -> GuildSettings {
        GuildSettings { working_days: WorkingDays::parse("mon-sun").expect("all days"), ..guild(zone) }
    }

    fn period(text: &str, settings: &GuildSettings) -> Period {
        Period::resolve(&PeriodSpec::parse(text).expect("spec"), settings, at("2026-06-01T12:00:00Z")).expect("period")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn assert_close(actual: Option<f64>, want: f64) {
        let actual = actual.expect("a value");
        assert!(close(actual, want), "{actual} != {want}");
    }

    fn version(target: i64, from: NaiveDate, cleared: bool) -> GoalVersion {
        GoalVersion {
            key: GoalKey { subject: GoalSubject::Guild, metric: GoalMetric::Points, period: GoalPeriod::Month },
            target,
            effective_from: from,
            cleared,
        }
    }

    // --- Pace ---------------------------------------------------------------------------------

    #[test]
    fn pace_in_a_berlin_month_with_a_dst_change_counts_local_working_days() {
        // March 2026 in Berlin: clocks spring forward on Sunday the 29th. Monday to Friday gives
        // 2-6, 9-13, 16-20, 23-27 and 30-31: 22 working days. At 12:00 CEST on Monday the 30th
        // (10:00 UTC) 20 of them are over and 4 of Monday's 10 working hours (08:00-18:00) have
        // gone: E = 20.4.
        let berlin = guild("Europe/Berlin");
        let march = period("2026-03", &berlin);
        let pace = Pace::compute(220, 150, &march, &berlin, at("2026-03-30T10:00:00Z"));
        assert_eq!(pace.working_days, 22);
        assert!(close(pace.elapsed, 20.4), "{}", pace.elapsed);
        assert!(close(pace.left, 1.6));
        assert!(close(pace.attainment, 150.0 / 220.0));
        assert_close(pace.expected_by_now, 204.0); // 220 × 20.4 / 22
        assert_close(pace.projected, 150.0 / 20.4 * 22.0); // 161.76…
        let Required::PerDay(rate) = pace.required else { panic!("{:?}", pace.required) };
        assert!(close(rate, 70.0 / 1.6), "{rate}"); // 43.75 a day
        assert_eq!(pace.behind(), Some(true));
        assert_eq!(pace.attainment_percent(), "68%");
        let awkward = Pace::compute(200, 58, &march, &berlin, at("2026-03-30T10:00:00Z"));
        assert_eq!(awkward.attainment_percent(), "29%", "not 28%, as 0.29 × 100 in floating point would say");
        let almost = Pace::compute(1000, 999, &march, &berlin, at("2026-03-30T10:00:00Z"));
        assert_eq!(almost.attainment_percent(), "99%");
        assert_eq!(
            pace.describe(&GoalMetric::Points, M),
            "**150** of 220 pts · **68%** · expected by now 204 · projected 161.8 · need 43.8/day"
        );
    }

    #[test]
    fn a_money_goal_read_without_amounts_gives_every_pace_number_as_a_share_of_the_target() {
        let berlin = guild("Europe/Berlin");
        let march = period("2026-03", &berlin);
        // The goal of the test above, in cents: 2,200.00 with 1,500.00 won.
        let pace = Pace::compute(220_000, 150_000, &march, &berlin, at("2026-03-30T10:00:00Z"));
        let text = pace.describe_percent();
        assert_eq!(text, "**68%** of the goal · expected by now 92% · projected 73% · need 19.9%/day");
        assert!(!text.contains("2,200") && !text.contains("1,500"), "{text}");
        let met = Pace::compute(100, 120, &march, &berlin, at("2026-03-30T10:00:00Z"));
        assert!(met.describe_percent().ends_with("target reached ✅"), "{}", met.describe_percent());
    }

    #[test]
    fn a_dst_day_counts_its_working_hours_on_the_local_clock() {
        // A guild that works every day, on the spring-forward Sunday: the clocks jump at 02:00,
        // outside the working hours. At 12:00 CEST (10:00 UTC) 4 of the 10 working hours are gone,
        // so E = 28 + 0.4 of March's 31 working days.
        let berlin = every_day("Europe/Berlin");
        let march = period("2026-03", &berlin);
        let pace = Pace::compute(310, 290, &march, &berlin, at("2026-03-29T10:00:00Z"));
        assert_eq!(pace.working_days, 31);
        assert!(close(pace.elapsed, 28.4), "{}", pace.elapsed);
        assert_close(pace.expected_by_now, 284.0); // 10 × 28.4
        let Required::PerDay(rate) = pace.required else { panic!("{:?}", pace.required) };
        assert!(close(rate, 20.0 / 2.6), "{rate}"); // 7.69 a day
        assert_eq!(pace.behind(), Some(false));
        // The 25-hour autumn day: at 12:00 CET (11:00 UTC) it is 4 working hours in, too.
        let october = period("2026-10", &berlin);
        let pace = Pace::compute(31, 0, &october, &berlin, at("2026-10-25T11:00:00Z"));
        assert!(close(pace.elapsed, 24.4), "{}", pace.elapsed);
    }

    #[test]
    fn before_the_working_hours_start_nobody_is_behind_and_after_they_end_the_day_is_done() {
        // Monday 23 Nov 2026, UTC, 08:00-18:00: a 60-call week goal.
        let utc = guild("UTC");
        let week = GoalPeriod::Week.current(&utc, at("2026-11-23T07:00:00Z")).unwrap();
        let early = Pace::compute(60, 0, &week, &utc, at("2026-11-23T07:59:00Z"));
        assert_close(early.expected_by_now, 0.0); // at 07:59 nothing is expected yet
        let noon = Pace::compute(60, 0, &week, &utc, at("2026-11-23T13:00:00Z"));
        assert_close(noon.expected_by_now, 6.0); // half of Monday's working hours
        let evening = Pace::compute(60, 0, &week, &utc, at("2026-11-23T21:00:00Z"));
        assert_close(evening.expected_by_now, 12.0); // all of Monday
    }

    #[test]
    fn elapsed_time_is_counted_in_the_guilds_timezone_not_utc() {
        // 23:30 UTC on Sunday 29 Nov is already 08:30 on Monday in Tokyo: a new week, half an hour
        // into Monday's working hours (08:00-18:00). In UTC the week has not started yet.
        let tokyo = guild("Asia/Tokyo");
        let now = at("2026-11-29T23:30:00Z");
        let week = GoalPeriod::Week.current(&tokyo, now).unwrap();
        assert_eq!(week.first_day, date(2026, 11, 30));
        assert!(close(elapsed_working_days(&week, &tokyo, now), 0.5 / 10.0));
        let utc = guild("UTC");
        let week = GoalPeriod::Week.current(&utc, now).unwrap();
        assert_eq!(week.first_day, date(2026, 11, 23));
        assert!(close(elapsed_working_days(&week, &utc, now), 5.0), "the weekend adds no working time");
    }

    #[test]
    fn with_zero_working_days_left_the_required_rate_is_not_available() {
        // October 2026 ends on a Saturday: after Friday the 30th every one of its 22 working days is over.
        let utc = guild("UTC");
        let october = period("2026-10", &utc);
        let pace = Pace::compute(220, 200, &october, &utc, at("2026-10-31T12:00:00Z"));
        assert_eq!(pace.working_days, 22);
        assert!(close(pace.elapsed, 22.0));
        assert!(close(pace.left, 0.0));
        assert_eq!(pace.required, Required::NoWorkingDaysLeft);
        assert_eq!(pace.describe_required(&GoalMetric::Points, M), "n/a — no working days left");
        assert_close(pace.expected_by_now, 220.0);
        assert_close(pace.projected, 200.0);
        // Met, the same moment reads as reached rather than "n/a".
        let met = Pace::compute(220, 230, &october, &utc, at("2026-10-31T12:00:00Z"));
        assert_eq!(met.required, Required::Reached);
        assert_eq!(met.attainment_percent(), "104%");
        // And after the period is over entirely.
        let later = Pace::compute(220, 200, &october, &utc, at("2027-01-15T12:00:00Z"));
        assert_eq!(later.required, Required::NoWorkingDaysLeft);
        assert!(close(later.elapsed, 22.0));
    }

    #[test]
    fn the_last_working_day_needs_what_is_left_today() {
        // 15:30 UTC on Friday 30 Oct: 21 whole days and three quarters of the last one's working
        // hours (08:00-18:00) are gone. 20 points are left to do today, not "80/day" (20 / 0.25
        // extrapolated over a day that has 2.5 hours left).
        let utc = guild("UTC");
        let october = period("2026-10", &utc);
        let pace = Pace::compute(220, 200, &october, &utc, at("2026-10-30T15:30:00Z"));
        assert!(close(pace.elapsed, 21.75));
        assert_eq!(pace.required, Required::PerDay(20.0));
        assert_eq!(pace.describe_required(&GoalMetric::Points, M), "need 20 today");
        assert_eq!(pace.describe_required_percent(), "need 9.1% today"); // 20 of 220
        // The morning before, a day and a quarter is left: a rate per day again.
        let thursday = Pace::compute(220, 200, &october, &utc, at("2026-10-29T15:30:00Z"));
        assert!(close(thursday.left, 1.25));
        assert_eq!(thursday.describe_required(&GoalMetric::Points, M), "need 16/day");
    }

    #[test]
    fn a_period_without_working_days_has_no_expected_or_projected_value() {
        // A weekend, Monday to Friday: W = 0, so nothing is expected, projected or achievable.
        let utc = guild("UTC");
        let weekend = period("2026-11-28..2026-11-29", &utc);
        let pace = Pace::compute(10, 4, &weekend, &utc, at("2026-11-28T12:00:00Z"));
        assert_eq!(pace.working_days, 0);
        assert!(close(pace.elapsed, 0.0));
        assert_eq!(pace.expected_by_now, None);
        assert_eq!(pace.projected, None);
        assert_eq!(pace.required, Required::NoWorkingDaysLeft);
        assert!(close(pace.attainment, 0.4));
        assert_eq!(pace.behind(), None);
        assert_eq!(
            pace.describe(&GoalMetric::Points, M),
            "**4** of 10 pts · **40%** · no working days in this period · projected — · n/a — no working days left"
        );
    }

    #[test]
    fn before_the_period_starts_nothing_is_expected_and_nothing_projected() {
        let utc = guild("UTC");
        let december = period("2026-12", &utc); // 23 working days
        let pace = Pace::compute(230, 0, &december, &utc, at("2026-11-27T12:00:00Z"));
        assert!(close(pace.elapsed, 0.0));
        assert_close(pace.expected_by_now, 0.0);
        assert_eq!(pace.projected, None);
        assert_eq!(pace.required, Required::PerDay(10.0));
        assert_eq!(pace.behind(), Some(false));
    }

    #[test]
    fn a_week_goal_halfway_through_wednesday_matches_the_log_example() {
        // Monday 23 Nov 2026; at 13:00 on Wednesday, half of its working hours (08:00-18:00) are
        // gone: E = 2.5 of 5 working days, L = 2.5.
        let utc = guild("UTC");
        let week = GoalPeriod::Week.current(&utc, at("2026-11-25T13:00:00Z")).unwrap();
        let pace = Pace::compute(80, 48, &week, &utc, at("2026-11-25T13:00:00Z"));
        assert_eq!(pace.attainment_percent(), "60%");
        assert_close(pace.expected_by_now, 40.0);
        assert_close(pace.projected, 96.0);
        assert_eq!(pace.required, Required::PerDay(12.8));
        assert_eq!(pace.describe_required(&GoalMetric::Points, M), "need 12.8/day");
    }

    #[test]
    fn revenue_pace_is_shown_as_money_and_the_rate_rounds_up_to_the_cent() {
        let utc = guild("UTC");
        let week = GoalPeriod::Week.current(&utc, at("2026-11-23T00:00:00Z")).unwrap();
        // 1,000.00 to go over three working days: 333.333… a day, shown as 333.34.
        let pace = Pace::compute(100_000, 0, &week, &utc, at("2026-11-25T00:00:00Z"));
        assert_eq!(pace.describe_required(&GoalMetric::Revenue, M), "need 333.34\u{a0}USD/day");
        assert_eq!(GoalMetric::Revenue.show(1_250_000, M), "12,500.00\u{a0}USD");
    }

    #[test]
    fn a_zero_target_built_in_code_does_not_divide_by_zero() {
        let utc = guild("UTC");
        let week = period("2026-W48", &utc);
        let pace = Pace::compute(0, 0, &week, &utc, at("2026-11-25T12:00:00Z"));
        assert_eq!(pace.required, Required::Reached);
        assert!(pace.attainment.is_finite());
    }

    // --- Goal periods -------------------------------------------------------------------------

    #[test]
    fn goal_quarters_and_years_follow_the_fiscal_calendar() {
        let april = GuildSettings { fiscal_year_start: FiscalStart::new(4).unwrap(), ..guild("UTC") };
        let q = GoalPeriod::Quarter.containing(date(2026, 11, 27), &april).unwrap();
        assert_eq!((q.first_day, q.end_day), (date(2026, 10, 1), date(2027, 1, 1)));
        let y = GoalPeriod::Year.containing(date(2026, 2, 3), &april).unwrap();
        assert_eq!((y.first_day, y.end_day), (date(2025, 4, 1), date(2026, 4, 1)));
        let w = GoalPeriod::Week.containing(date(2026, 11, 29), &april).unwrap();
        assert_eq!(w.first_day, date(2026, 11, 23));
    }

    #[test]
    fn only_reporting_periods_that_are_whole_goal_periods_match_one() {
        let april = GuildSettings { fiscal_year_start: FiscalStart::new(4).unwrap(), ..guild("UTC") };
        let now = at("2026-11-27T12:00:00Z");
        let of = |text: &str| {
            let p = Period::resolve(&PeriodSpec::parse(text).unwrap(), &april, now).unwrap();
            GoalPeriod::matching(&p, &april)
        };
        assert_eq!(of("this-week"), Some(GoalPeriod::Week));
        assert_eq!(of("2026-W40"), Some(GoalPeriod::Week));
        assert_eq!(of("last-month"), Some(GoalPeriod::Month));
        assert_eq!(of("this-quarter"), Some(GoalPeriod::Quarter));
        assert_eq!(of("FY2026"), Some(GoalPeriod::Year));
        assert_eq!(of("2026"), None, "a calendar year is not the April fiscal year");
        assert_eq!(of("2026-Q4"), Some(GoalPeriod::Quarter), "October to December is an April fiscal quarter");
        assert_eq!(of("today"), None);
        assert_eq!(of("2026-11-01..2026-11-30"), None);
        // Fiscal quarters from February run Feb-Apr, May-Jul, Aug-Oct and Nov-Jan.
        let february = GuildSettings { fiscal_year_start: FiscalStart::new(2).unwrap(), ..guild("UTC") };
        let q4 = Period::resolve(&PeriodSpec::parse("2026-Q4").unwrap(), &february, now).unwrap();
        assert_eq!(GoalPeriod::matching(&q4, &february), None, "October to December is not one of them");
        let this = Period::resolve(&PeriodSpec::ThisQuarter, &february, now).unwrap();
        assert_eq!(GoalPeriod::matching(&this, &february), Some(GoalPeriod::Quarter));
    }

    // --- Versions -----------------------------------------------------------------------------

    #[test]
    fn a_goal_changed_mid_year_keeps_the_old_target_for_earlier_months() {
        let versions = [version(100, date(2026, 1, 1), false), version(150, date(2026, 7, 1), false)];
        assert_eq!(in_force(&versions, date(2025, 12, 1)), None);
        assert_eq!(in_force(&versions, date(2026, 1, 1)).map(|v| v.target), Some(100));
        assert_eq!(in_force(&versions, date(2026, 6, 1)).map(|v| v.target), Some(100));
        assert_eq!(in_force(&versions, date(2026, 7, 1)).map(|v| v.target), Some(150));
        assert_eq!(in_force(&versions, date(2026, 12, 1)).map(|v| v.target), Some(150));
    }

    #[test]
    fn a_cleared_goal_is_gone_from_its_period_on_and_can_come_back() {
        let versions = [
            version(100, date(2026, 1, 1), false),
            version(0, date(2026, 4, 1), true),
            version(90, date(2026, 9, 1), false),
        ];
        assert_eq!(in_force(&versions, date(2026, 3, 1)).map(|v| v.target), Some(100));
        assert_eq!(in_force(&versions, date(2026, 4, 1)), None);
        assert_eq!(in_force(&versions, date(2026, 8, 1)), None);
        assert_eq!(in_force(&versions, date(2026, 9, 1)).map(|v| v.target), Some(90));
    }

    #[test]
    fn a_new_target_starts_in_the_current_period_or_the_one_named_in_from() {
        let utc = guild("UTC");
        let now = at("2026-11-27T12:00:00Z"); // Friday
        let from = |text: &str, period| GoalStart::parse(text).unwrap().effective_from(period, &utc, now);
        assert_eq!(from("", GoalPeriod::Week), Ok(date(2026, 11, 23)));
        assert_eq!(from("", GoalPeriod::Month), Ok(date(2026, 11, 1)));
        assert_eq!(from("", GoalPeriod::Quarter), Ok(date(2026, 10, 1)));
        assert_eq!(from("", GoalPeriod::Year), Ok(date(2026, 1, 1)));
        assert_eq!(from("next", GoalPeriod::Month), Ok(date(2026, 12, 1)));
        assert_eq!(from("Next Period", GoalPeriod::Week), Ok(date(2026, 11, 30)));
        assert_eq!(from("2026-12", GoalPeriod::Month), Ok(date(2026, 12, 1)));
        assert_eq!(from("2027-02-17", GoalPeriod::Month), Ok(date(2027, 2, 1)));
        assert_eq!(from("2027-02-17", GoalPeriod::Quarter), Ok(date(2027, 1, 1)));
        assert_eq!(from("2026-12-02", GoalPeriod::Week), Ok(date(2026, 11, 30)));
        assert_eq!(from("today", GoalPeriod::Month), Ok(date(2026, 11, 1)));
        // A date earlier in the current period still means the current period.
        assert_eq!(from("2026-11-02", GoalPeriod::Month), Ok(date(2026, 11, 1)));
        let past = from("2026-10", GoalPeriod::Month).unwrap_err().message;
        assert_eq!(
            past,
            "`from` lies in a past month; a goal applies from the current month (2026-11-01) on, and past periods keep their targets"
        );
        assert!(from("last-week", GoalPeriod::Week).is_err());
        let bad = GoalStart::parse("someday").unwrap_err().message;
        assert!(bad.starts_with("`from`: `someday` is not a period."), "{bad}");
        assert!(bad.ends_with("(or write `next` for the next period)"), "{bad}");
    }

    // --- Parsing ------------------------------------------------------------------------------

    #[test]
    fn metrics_parse_from_what_people_type_and_round_trip_through_the_column() {
        assert_eq!(GoalMetric::parse("Points").unwrap(), GoalMetric::Points);
        assert_eq!(GoalMetric::parse(" revenue ").unwrap(), GoalMetric::Revenue);
        for text in ["deals-won", "deals won", "DEALS_WON", "won"] {
            assert_eq!(GoalMetric::parse(text).unwrap(), GoalMetric::DealsWon, "{text}");
        }
        let call = GoalMetric::parse("Call").unwrap();
        assert_eq!(call, GoalMetric::Kind(KindName::parse("call").unwrap()));
        assert_eq!(GoalMetric::parse("kind:demo").unwrap().to_column(), "kind:demo");
        for metric in [GoalMetric::Points, GoalMetric::Revenue, GoalMetric::DealsWon, call] {
            assert_eq!(GoalMetric::from_column(&metric.to_column()), Some(metric.clone()));
            assert_eq!(GoalMetric::parse(&metric.to_string()), Ok(metric));
        }
        assert_eq!(GoalMetric::from_column("kind:"), None);
        assert_eq!(GoalMetric::from_column("banana"), None);
        let bad = GoalMetric::parse("cold calls!").unwrap_err().message;
        assert_eq!(bad, "`cold calls!` is not a goal metric; use points, revenue, deals-won or an activity kind");
    }

    #[test]
    fn metrics_read_their_value_from_totals() {
        let mut t = Totals::default();
        t.add("call", 7, 7, 0);
        t.add(WON, 2, 40, 250_000);
        assert_eq!(GoalMetric::Points.value(&t), 47);
        assert_eq!(GoalMetric::Revenue.value(&t), 250_000);
        assert_eq!(GoalMetric::DealsWon.value(&t), 2);
        assert_eq!(GoalMetric::parse("call").unwrap().value(&t), 7);
        assert_eq!(GoalMetric::parse("demo").unwrap().value(&t), 0);
    }

    #[test]
    fn revenue_targets_are_amounts_in_minor_units_and_counts_are_whole_numbers() {
        assert_eq!(GoalMetric::Revenue.parse_target("12500", M), Ok(1_250_000));
        assert_eq!(GoalMetric::Revenue.parse_target("12,500.00", M), Ok(1_250_000));
        assert_eq!(GoalMetric::Revenue.parse_target("0.5", M), Ok(50));
        assert_eq!(GoalMetric::Points.parse_target(" 80 ", M), Ok(80));
        assert_eq!(GoalMetric::Points.parse_target("1,000", M), Ok(1000));
        let de = Money { format: crate::domain::money::NumberFormat::DotComma, ..M };
        assert_eq!(GoalMetric::Points.parse_target("1.000", de), Ok(1000));
        assert!(GoalMetric::Points.parse_target("1,000", de).is_err(), "a decimal comma is never dropped");
        assert_eq!(GoalMetric::DealsWon.parse_target("+3", M), Ok(3));
        assert_eq!(GoalMetric::Points.parse_target("1000000000", M), Ok(MAX_COUNT_TARGET));
        let err = |m: GoalMetric, t: &str| m.parse_target(t, M).unwrap_err().message;
        assert_eq!(err(GoalMetric::Revenue, "0"), "a revenue target must be more than 0");
        assert_eq!(err(GoalMetric::Revenue, "-5"), "an amount cannot be negative");
        assert!(err(GoalMetric::Revenue, "12.345").starts_with("`12.345` has 3 decimals, but USD has 2"));
        assert_eq!(err(GoalMetric::Revenue, "99999999999999999"), "that amount is too large");
        assert_eq!(err(GoalMetric::Points, "0"), "a target must be more than 0");
        assert_eq!(err(GoalMetric::Points, "-3"), "a target must be more than 0");
        assert_eq!(err(GoalMetric::Points, "2.5"), "`2.5` is not a target for pts; write a whole number like 80");
        assert_eq!(err(GoalMetric::Points, ""), "`` is not a target for pts; write a whole number like 80");
        assert_eq!(err(GoalMetric::Points, "1000000001"), "a target may be at most 1000000000");
        assert_eq!(err(GoalMetric::Points, &"9".repeat(40)), "a target may be at most 1000000000");
        assert_eq!(GoalMetric::Points.parse_target(&format!("{}7", "0".repeat(30)), M), Ok(7));
        assert!(GoalMetric::Points.parse_target("٣", M).is_err());
    }

    #[test]
    fn scopes_and_periods_parse_and_reject_with_a_hint() {
        assert_eq!(ScopeChoice::parse("Me"), Ok(ScopeChoice::Me));
        assert_eq!(ScopeChoice::parse("rep"), Ok(ScopeChoice::Rep));
        assert_eq!(ScopeChoice::parse("team"), Ok(ScopeChoice::Team));
        assert_eq!(ScopeChoice::parse("guild"), Ok(ScopeChoice::Guild));
        assert_eq!(
            ScopeChoice::parse("galaxy").unwrap_err().message,
            "`galaxy` is not a goal scope; use me, rep, team or guild"
        );
        assert_eq!(GoalPeriod::parse("Monthly"), Ok(GoalPeriod::Month));
        for p in GoalPeriod::ALL {
            assert_eq!(GoalPeriod::from_column(p.as_str()), Some(p));
        }
        assert_eq!(
            GoalPeriod::parse("fortnight").unwrap_err().message,
            "`fortnight` is not a goal period; use week, month, quarter or year"
        );
    }

    #[test]
    fn subjects_round_trip_through_their_columns() {
        let member = GoalSubject::Member(Snowflake::new(42).unwrap());
        for s in [member, GoalSubject::Team(7), GoalSubject::Guild] {
            assert_eq!(GoalSubject::from_columns(s.scope(), s.subject_id()), Some(s));
        }
        assert_eq!(GoalSubject::from_columns("member", 0), None);
        assert_eq!(GoalSubject::from_columns("team", -1), None);
        assert_eq!(GoalSubject::from_columns("planet", 1), None);
    }

    #[test]
    fn computed_values_show_one_decimal_only_when_needed() {
        assert_eq!(GoalMetric::Points.show_f64(160.9756, M), "161");
        assert_eq!(GoalMetric::Points.show_f64(7.93, M), "7.9");
        assert_eq!(GoalMetric::Points.show_rate(7.93, M), "8");
        assert_eq!(GoalMetric::Points.show_rate(7.91, M), "8");
        assert_eq!(GoalMetric::Points.show_rate(8.0, M), "8");
        assert_eq!(GoalMetric::Points.show_rate(46.666, M), "46.7");
        assert_eq!(GoalMetric::Revenue.show_f64(f64::NAN, M), "0.00\u{a0}USD");
        assert_eq!(GoalMetric::Revenue.show_f64(f64::INFINITY, M), M.format(i64::MAX));
    }
}
