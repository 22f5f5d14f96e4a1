//! Reporting periods: parsing what a user typed (`this-week`, `2026-W44`, `FY2026`, date ranges) and
//! resolving it into a half-open UTC interval of whole local days in the guild's timezone, week start
//! and fiscal year. Pure: `now` is an argument; imports nothing of ours outside `domain`.

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use super::DomainError;
use super::settings::GuildSettings;

/// Years a user may name; keeps every derived date far from chrono's limits.
const MIN_YEAR: i32 = 2000;
const MAX_YEAR: i32 = 2100;
/// The longest explicit range, in days (both ends counted): about ten years.
const MAX_RANGE_DAYS: i64 = 3660;

/// What may stand between a year and its `Q`/`W`/`FY` part.
const SEPARATORS: [char; 3] = ['-', ' ', '_'];

const ACCEPTED_FORMS: &str = "Try today, yesterday, this-week, last-month, this-quarter, this-year, \
     2026-10, 2026-W44, 2026-Q4, 2026, FY2026 or 2026-10-01..2026-10-15";

/// What the user asked for, parsed but not yet resolved against a clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeriodSpec {
    Today,
    Yesterday,
    ThisWeek,
    LastWeek,
    ThisMonth,
    LastMonth,
    /// Fiscal quarter: a three-month block counted from the fiscal year start.
    ThisQuarter,
    LastQuarter,
    /// Fiscal year.
    ThisYear,
    LastYear,
    /// `2026-10`
    Month {
        year: i32,
        month: u32,
    },
    /// `2026-W44`
    IsoWeek {
        year: i32,
        week: u32,
    },
    /// `2026-Q4`: a calendar quarter, whatever the fiscal year.
    Quarter {
        year: i32,
        quarter: u32,
    },
    /// `2026`: a calendar year.
    Year(i32),
    /// `FY2026`: the fiscal year that starts in 2026.
    FiscalYear(i32),
    /// `2026-10-01..2026-10-15`, both ends included; a single date `2026-10-14` has `first == last`.
    Range {
        first: NaiveDate,
        last: NaiveDate,
    },
}

/// Every spec that is spelled as a word, in the order the hint lists them.
const KEYWORDS: [PeriodSpec; 10] = [
    PeriodSpec::Today,
    PeriodSpec::Yesterday,
    PeriodSpec::ThisWeek,
    PeriodSpec::LastWeek,
    PeriodSpec::ThisMonth,
    PeriodSpec::LastMonth,
    PeriodSpec::ThisQuarter,
    PeriodSpec::LastQuarter,
    PeriodSpec::ThisYear,
    PeriodSpec::LastYear,
];

impl PeriodSpec {
    /// Case-insensitive; accepts `this-week`, `this week`, `this_week`, `thisweek`; trims whitespace.
    /// Errors are friendly one-liners listing the accepted forms.
    pub fn parse(text: &str) -> Result<PeriodSpec, DomainError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(DomainError::invalid(format!("No period given. {ACCEPTED_FORMS}")));
        }
        let spec = parse_shape(trimmed)
            .map_err(|reason| DomainError::invalid(format!("`{}`: {reason}", shown(trimmed))))?
            .ok_or_else(|| DomainError::invalid(format!("`{}` is not a period. {ACCEPTED_FORMS}", shown(trimmed))))?;
        spec.check().map_err(|reason| DomainError::invalid(format!("`{}`: {reason}", shown(trimmed))))?;
        Ok(spec)
    }

    fn keyword(&self) -> Option<&'static str> {
        Some(match self {
            PeriodSpec::Today => "today",
            PeriodSpec::Yesterday => "yesterday",
            PeriodSpec::ThisWeek => "this-week",
            PeriodSpec::LastWeek => "last-week",
            PeriodSpec::ThisMonth => "this-month",
            PeriodSpec::LastMonth => "last-month",
            PeriodSpec::ThisQuarter => "this-quarter",
            PeriodSpec::LastQuarter => "last-quarter",
            PeriodSpec::ThisYear => "this-year",
            PeriodSpec::LastYear => "last-year",
            _ => return None,
        })
    }

    /// The rules a spec must satisfy whether it was parsed or built in code; the reason is a
    /// fragment the caller prefixes with the offending text.
    fn check(&self) -> Result<(), String> {
        match *self {
            PeriodSpec::Month { year, month } => {
                check_year(year)?;
                if !(1..=12).contains(&month) {
                    return Err("months run from 01 to 12".into());
                }
            }
            PeriodSpec::IsoWeek { year, week } => {
                check_year(year)?;
                let weeks = iso_weeks_in(year);
                if week == 0 || week > weeks {
                    return Err(format!("{year} has ISO weeks W01 to W{weeks}"));
                }
            }
            PeriodSpec::Quarter { year, quarter } => {
                check_year(year)?;
                if !(1..=4).contains(&quarter) {
                    return Err("quarters run from Q1 to Q4".into());
                }
            }
            PeriodSpec::Year(year) | PeriodSpec::FiscalYear(year) => check_year(year)?,
            PeriodSpec::Range { first, last } => {
                check_year(first.year())?;
                check_year(last.year())?;
                if first > last {
                    return Err("the first date must not be after the last".into());
                }
                let span = (last - first).num_days() + 1;
                if span > MAX_RANGE_DAYS {
                    return Err(format!("a range may cover at most {MAX_RANGE_DAYS} days, this one covers {span}"));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl std::str::FromStr for PeriodSpec {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeriodSpec::parse(s)
    }
}

impl std::fmt::Display for PeriodSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(word) = self.keyword() {
            return f.write_str(word);
        }
        match self {
            PeriodSpec::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            PeriodSpec::IsoWeek { year, week } => write!(f, "{year:04}-W{week:02}"),
            PeriodSpec::Quarter { year, quarter } => write!(f, "{year:04}-Q{quarter}"),
            PeriodSpec::Year(year) => write!(f, "{year:04}"),
            PeriodSpec::FiscalYear(year) => write!(f, "FY{year:04}"),
            PeriodSpec::Range { first, last } if first == last => write!(f, "{first}"),
            PeriodSpec::Range { first, last } => write!(f, "{first}..{last}"),
            // Keywords were written above.
            _ => Ok(()),
        }
    }
}

/// Recognises the shape of `text` (already trimmed). `Ok(None)` means no known shape; `Err` means
/// the shape is known but a part of it cannot be a date.
fn parse_shape(text: &str) -> Result<Option<PeriodSpec>, String> {
    let lower = text.to_lowercase();
    let compact: String = lower.chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != '_').collect();
    if let Some(spec) = KEYWORDS
        .iter()
        .find(|spec| spec.keyword().is_some_and(|word| word.chars().filter(|c| *c != '-').eq(compact.chars())))
    {
        return Ok(Some(spec.clone()));
    }

    if let Some((a, b)) = lower.split_once("..") {
        return match (parse_date(a.trim())?, parse_date(b.trim())?) {
            (Some(first), Some(last)) => Ok(Some(PeriodSpec::Range { first, last })),
            _ => Ok(None),
        };
    }

    if let Some(rest) = lower.strip_prefix("fy") {
        return Ok(number(rest.trim_start_matches(SEPARATORS)).map(|y| PeriodSpec::FiscalYear(year(y))));
    }
    if let Some((y, q)) = lower.split_once('q') {
        return Ok(numbered(y, q).map(|(y, q)| PeriodSpec::Quarter { year: year(y), quarter: small(q) }));
    }
    if let Some((y, w)) = lower.split_once('w') {
        return Ok(numbered(y, w).map(|(y, w)| PeriodSpec::IsoWeek { year: year(y), week: small(w) }));
    }

    let parts: Vec<&str> = lower.split('-').collect();
    match parts.as_slice() {
        [y] => Ok(number(y).map(|y| PeriodSpec::Year(year(y)))),
        [y, m] => Ok(number(y).zip(number(m)).map(|(y, m)| PeriodSpec::Month { year: year(y), month: small(m) })),
        [_, _, _] => Ok(parse_date(&lower)?.map(|d| PeriodSpec::Range { first: d, last: d })),
        _ => Ok(None),
    }
}

/// The two numbers of `2026-Q4`, `2026 w44`, `2026Q4`.
fn numbered(year: &str, n: &str) -> Option<(u64, u64)> {
    number(year.trim_end_matches(SEPARATORS)).zip(number(n.trim_start_matches(SEPARATORS)))
}

/// `YYYY-MM-DD` with ASCII digits. `Ok(None)` if it is not date-shaped at all.
fn parse_date(text: &str) -> Result<Option<NaiveDate>, String> {
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (Some(y), Some(m), Some(d)) = (number(y), number(m), number(d)) else {
        return Ok(None);
    };
    let y = year(y);
    check_year(y)?;
    NaiveDate::from_ymd_opt(y, small(m), small(d))
        .map(Some)
        .ok_or_else(|| format!("{text} is not a real date (dates are YYYY-MM-DD)"))
}

/// A run of ASCII digits; saturates instead of overflowing so "99999999999" is merely out of range.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |acc, b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

fn year(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn small(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn check_year(year: i32) -> Result<(), String> {
    if (MIN_YEAR..=MAX_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(format!("years must be between {MIN_YEAR} and {MAX_YEAR}"))
    }
}

/// 52 or 53: 28 December always falls in the last ISO week of its year.
fn iso_weeks_in(year: i32) -> u32 {
    NaiveDate::from_ymd_opt(year, 12, 28).map_or(52, |d| d.iso_week().week())
}

/// User text echoed inside a Discord code span: short, one line, no backticks to break out of it.
fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let cleaned: String = text.chars().filter(|c| !c.is_control()).map(|c| if c == '`' { '\'' } else { c }).collect();
    if cleaned.chars().count() > MAX_CHARS {
        let mut short: String = cleaned.chars().take(MAX_CHARS).collect();
        short.push('…');
        short
    } else {
        cleaned
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodUnit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Range,
}

/// A resolved period: the half-open UTC interval [start, end) and the local dates it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// First local day included.
    pub first_day: NaiveDate,
    /// First local day NOT included.
    pub end_day: NaiveDate,
    pub unit: PeriodUnit,
}

impl Period {
    /// Resolves in the guild's timezone, week start and fiscal year start.
    pub fn resolve(spec: &PeriodSpec, settings: &GuildSettings, now: DateTime<Utc>) -> Result<Period, DomainError> {
        spec.check().map_err(|reason| DomainError::invalid(format!("`{spec}`: {reason}")))?;
        let today = local_date(settings.timezone, now);
        let this_month = month_index(today);
        // Month index of the fiscal year's first month, counted like `month_index`.
        let fiscal = i64::from(settings.fiscal_year_start.month()) - 1;
        let fiscal_quarter = this_month - (this_month - fiscal).rem_euclid(3);
        let fiscal_year = this_month - (this_month - fiscal).rem_euclid(12);
        let this_week = week_start(today, settings.week_start)?;

        let (first, end_day, unit) = match *spec {
            PeriodSpec::Today => (today, add_days(today, 1)?, PeriodUnit::Day),
            PeriodSpec::Yesterday => (add_days(today, -1)?, today, PeriodUnit::Day),
            PeriodSpec::ThisWeek => (this_week, add_days(this_week, 7)?, PeriodUnit::Week),
            PeriodSpec::LastWeek => (add_days(this_week, -7)?, this_week, PeriodUnit::Week),
            PeriodSpec::ThisMonth => months(this_month, 1, PeriodUnit::Month)?,
            PeriodSpec::LastMonth => months(this_month - 1, 1, PeriodUnit::Month)?,
            PeriodSpec::ThisQuarter => months(fiscal_quarter, 3, PeriodUnit::Quarter)?,
            PeriodSpec::LastQuarter => months(fiscal_quarter - 3, 3, PeriodUnit::Quarter)?,
            PeriodSpec::ThisYear => months(fiscal_year, 12, PeriodUnit::Year)?,
            PeriodSpec::LastYear => months(fiscal_year - 12, 12, PeriodUnit::Year)?,
            PeriodSpec::Month { year, month } => {
                months(i64::from(year) * 12 + i64::from(month) - 1, 1, PeriodUnit::Month)?
            }
            PeriodSpec::IsoWeek { year, week } => {
                let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(out_of_range)?;
                let first = week_start(monday, settings.week_start)?;
                (first, add_days(first, 7)?, PeriodUnit::Week)
            }
            PeriodSpec::Quarter { year, quarter } => {
                months(i64::from(year) * 12 + 3 * (i64::from(quarter) - 1), 3, PeriodUnit::Quarter)?
            }
            PeriodSpec::Year(year) => months(i64::from(year) * 12, 12, PeriodUnit::Year)?,
            PeriodSpec::FiscalYear(year) => months(i64::from(year) * 12 + fiscal, 12, PeriodUnit::Year)?,
            PeriodSpec::Range { first, last } => {
                let unit = if first == last { PeriodUnit::Day } else { PeriodUnit::Range };
                (first, add_days(last, 1)?, unit)
            }
        };
        Period::from_days(first, end_day, unit, settings)
    }

    /// The period of local days [first, end_day) in settings.timezone; `unit` kept as given.
    pub fn from_days(
        first: NaiveDate,
        end_day: NaiveDate,
        unit: PeriodUnit,
        settings: &GuildSettings,
    ) -> Result<Period, DomainError> {
        if first >= end_day {
            return Err(DomainError::invalid(format!(
                "a period must cover at least one day ({first} to {end_day} does not)"
            )));
        }
        Ok(Period {
            start: local_day_start(settings.timezone, first),
            end: local_day_start(settings.timezone, end_day),
            first_day: first,
            end_day,
            unit,
        })
    }

    /// The preceding period: previous week/month/quarter/year for calendar units (so "last month" of
    /// March is all of February), and for Day/Range the same number of local days just before.
    pub fn previous(&self, settings: &GuildSettings) -> Result<Period, DomainError> {
        let first = match self.unit {
            PeriodUnit::Day | PeriodUnit::Range => add_days(self.first_day, -self.days())?,
            PeriodUnit::Week => add_days(self.first_day, -7)?,
            // Counting months rather than days is what makes February follow March's 31 days.
            PeriodUnit::Month => sub_months(self.first_day, 1)?,
            PeriodUnit::Quarter => sub_months(self.first_day, 3)?,
            PeriodUnit::Year => sub_months(self.first_day, 12)?,
        };
        Period::from_days(first, self.first_day, self.unit, settings)
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Number of local days (not 24-hour spans).
    pub fn days(&self) -> i64 {
        (self.end_day - self.first_day).num_days().max(0)
    }

    /// The local dates in the period, in order.
    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let end = self.end_day;
        self.first_day.iter_days().take_while(move |d| *d < end)
    }

    /// Working days (settings.working_days) in [from, to) clipped to the period; used for pace.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate, settings: &GuildSettings) -> u32 {
        let from = from.max(self.first_day);
        let to = to.min(self.end_day);
        if from >= to {
            return 0;
        }
        let total = (to - from).num_days();
        let per_week =
            [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]
                .into_iter()
                .filter(|d| settings.working_days.contains(*d))
                .count() as i64;
        // Whole weeks hold every weekday once, so only the tail needs looking at day by day;
        // a period built from arbitrary dates may span millennia.
        let rest = total % 7;
        let tail = to.checked_sub_days(Days::new(rest.unsigned_abs())).map_or(0, |tail_start| {
            tail_start.iter_days().take(rest as usize).filter(|d| settings.working_days.is_working(*d)).count() as i64
        });
        u32::try_from((total / 7) * per_week + tail).unwrap_or(u32::MAX)
    }
}

/// The UTC instant at which local date `date` begins in `tz`. Correct when local midnight does not
/// exist (DST gap at midnight, e.g. America/Santiago, Asia/Beirut historically): the day then begins at
/// the first instant that exists; when midnight is ambiguous, the earlier one.
pub fn local_day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        chrono::LocalResult::None => first_instant_at_or_after(tz, midnight),
    }
}

/// The local date of a UTC instant in `tz`.
pub fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    naive_local(tz, t).date()
}

/// Like `DateTime::naive_local`, which panics at chrono's limits; this saturates instead.
fn naive_local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    t.naive_utc().checked_add_offset(offset).unwrap_or(if offset.local_minus_utc() < 0 {
        NaiveDateTime::MIN
    } else {
        NaiveDateTime::MAX
    })
}

/// The first instant whose local time is at or after `local`, for a `local` that does not exist.
/// A gap never overlaps a repeated hour, so local time only rises across the search window and a
/// bisection over whole seconds (transitions are whole seconds) finds the jump exactly.
fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    // UTC offsets stay well within ±26 h, so local time is before `local` at the low end of the
    // window and after it at the high end.
    let window = TimeDelta::hours(30);
    let mut lo = local.checked_sub_signed(window).unwrap_or(NaiveDateTime::MIN).and_utc().timestamp();
    let mut hi = local.checked_add_signed(window).unwrap_or(NaiveDateTime::MAX).and_utc().timestamp();
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match DateTime::from_timestamp(mid, 0) {
            Some(t) if naive_local(tz, t) >= local => hi = mid,
            _ => lo = mid,
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn out_of_range() -> DomainError {
    DomainError::invalid("that period lies outside the supported calendar")
}

fn add_days(date: NaiveDate, days: i64) -> Result<NaiveDate, DomainError> {
    let shifted = if days >= 0 {
        date.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    };
    shifted.ok_or_else(out_of_range)
}

fn sub_months(date: NaiveDate, months: u32) -> Result<NaiveDate, DomainError> {
    date.checked_sub_months(Months::new(months)).ok_or_else(out_of_range)
}

/// The guild's week start on or before `date`.
fn week_start(date: NaiveDate, start: Weekday) -> Result<NaiveDate, DomainError> {
    let back = (date.weekday().num_days_from_monday() + 7 - start.num_days_from_monday()) % 7;
    add_days(date, -i64::from(back))
}

/// Months counted from year 0, so that fiscal blocks can be found with plain remainders.
fn month_index(date: NaiveDate) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

fn month_start(index: i64) -> Result<NaiveDate, DomainError> {
    let year = i32::try_from(index.div_euclid(12)).map_err(|_| out_of_range())?;
    // rem_euclid(12) is 0..=11, so the month is always valid.
    let month = index.rem_euclid(12) as u32 + 1;
    NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(out_of_range)
}

/// `count` calendar months starting at month `index`.
fn months(index: i64, count: i64, unit: PeriodUnit) -> Result<(NaiveDate, NaiveDate, PeriodUnit), DomainError> {
    Ok((month_start(index)?, month_start(index + count)?, unit))
}
