//! A rep's or a team's history over the last N periods of one kind (weeks, months, fiscal
//! quarters): the periods themselves, the team's spread (median and quartiles) in each, and the
//! plain-words verdict that tells a bad period from a pattern. Pure: numbers in, words out.

use super::DomainError;
use super::period::{Period, PeriodUnit};
use super::settings::GuildSettings;

/// Periods a history shows unless asked otherwise: half a year of months.
pub const DEFAULT_PERIODS: usize = 6;
/// The fewest periods a history may show: one to judge and one before it.
pub const MIN_PERIODS: usize = 2;
/// The most periods a history may show: a year of months fits a phone's width and Discord's limits.
pub const MAX_PERIODS: usize = 12;

/// A pattern: below the team's median in at least this share of the periods judged (two thirds:
/// 4 of 6 months, 8 of 12).
pub const PATTERN_NUM: usize = 2;
/// The denominator of the pattern share ([`PATTERN_NUM`] / [`PATTERN_DEN`]).
pub const PATTERN_DEN: usize = 3;
/// The fewest periods judged before a verdict speaks of a pattern or a bad period at all.
pub const MIN_JUDGED: usize = 3;

/// `latest` and the `n - 1` periods of the same kind before it, oldest first. Months count back
/// by calendar months and quarters by three months from the fiscal year's start, as
/// [`Period::previous`] does; `n` outside [`MIN_PERIODS`]..=[`MAX_PERIODS`] is refused.
pub fn periods(latest: &Period, n: usize, settings: &GuildSettings) -> Result<Vec<Period>, DomainError> {
    if !(MIN_PERIODS..=MAX_PERIODS).contains(&n) {
        return Err(DomainError::invalid(format!("history covers {MIN_PERIODS} to {MAX_PERIODS} periods, not {n}")));
    }
    let mut out = vec![latest.clone()];
    while out.len() < n {
        let before = out.last().map(|p| p.previous(settings)).transpose()?;
        out.extend(before);
    }
    out.reverse();
    Ok(out)
}

/// A short name for a period in a history's columns: `Nov 2026`, `w/c 23 Nov`, `Aug–Oct 2026`
/// (a fiscal quarter by its months), `2026` for a year starting in January, else `FY2026`.
pub fn label(p: &Period) -> String {
    let last = p.end_day.pred_opt().unwrap_or(p.end_day);
    match p.unit {
        PeriodUnit::Day => p.first_day.format("%-d %b").to_string(),
        PeriodUnit::Week => p.first_day.format("w/c %-d %b").to_string(),
        PeriodUnit::Month => p.first_day.format("%b %Y").to_string(),
        PeriodUnit::Quarter => format!("{}–{}", p.first_day.format("%b"), last.format("%b %Y")),
        PeriodUnit::Year if p.first_day.format("%m").to_string() == "01" => p.first_day.format("%Y").to_string(),
        PeriodUnit::Year => p.first_day.format("FY%Y").to_string(),
        PeriodUnit::Range => format!("{}–{}", p.first_day.format("%-d %b"), last.format("%-d %b")),
    }
}

/// The noun of one period of this kind: `month`, `week`, `quarter`, `year`, `day`, `period`.
pub fn noun(unit: PeriodUnit) -> &'static str {
    match unit {
        PeriodUnit::Day => "day",
        PeriodUnit::Week => "week",
        PeriodUnit::Month => "month",
        PeriodUnit::Quarter => "quarter",
        PeriodUnit::Year => "year",
        PeriodUnit::Range => "period",
    }
}

/// The team's spread in one period: first quartile, median and third quartile of the reps'
/// values, by linear interpolation between the sorted values (Hyndman and Fan's type 7, what
/// spreadsheets' QUARTILE.INC gives), and how many reps it was taken over.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Spread {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub reps: usize,
}

impl Spread {
    /// `None` for no values; non-finite values are left out.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let pos = q * (v.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        };
        Some(Spread { q1: at(0.25), median: at(0.5), q3: at(0.75), reps: v.len() })
    }
}

/// Where a rep stood in one period against the team's median.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Standing {
    /// Below the median.
    Below,
    /// At or above the median.
    AtOrAbove,
    /// Not judged: before the rep's first log, or no number to compare (no goal that period).
    Unjudged,
}

impl Standing {
    /// The standing of `value` against `spread` (unjudged when either is missing).
    pub fn of(value: Option<f64>, spread: Option<&Spread>) -> Standing {
        match (value, spread) {
            (Some(v), Some(s)) if v < s.median => Standing::Below,
            (Some(_), Some(_)) => Standing::AtOrAbove,
            _ => Standing::Unjudged,
        }
    }
}

/// What a run of standings says, the latest period last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    /// Below the median in at least two thirds of the periods judged, the latest among them.
    Pattern,
    /// Below in the latest period only, at or above in every period judged before it.
    BadPeriod,
    /// At or above in the latest period after being below in at least two thirds before it.
    Recovering,
    /// At or above in the latest period, below in fewer than two thirds of them.
    OnTrack,
    /// Below in the latest period and in some before it, but not two thirds of them.
    Mixed,
    /// Fewer than [`MIN_JUDGED`] periods to judge.
    TooShort,
}

/// The verdict on `standings` (oldest first), with how many periods were judged and below.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Periods judged (not [`Standing::Unjudged`]).
    pub judged: usize,
    /// Of those, below the median.
    pub below: usize,
    /// The latest period's standing.
    pub latest: Standing,
}

impl Judgement {
    /// Judges `standings`, the latest last.
    pub fn of(standings: &[Standing]) -> Judgement {
        let latest = standings.last().copied().unwrap_or(Standing::Unjudged);
        let judged = standings.iter().filter(|s| **s != Standing::Unjudged).count();
        let below = standings.iter().filter(|s| **s == Standing::Below).count();
        let earlier_below = below - usize::from(latest == Standing::Below);
        let earlier_judged = judged - usize::from(latest != Standing::Unjudged);
        let pattern = |below: usize, judged: usize| judged > 0 && below * PATTERN_DEN >= judged * PATTERN_NUM;
        let verdict = if judged < MIN_JUDGED || latest == Standing::Unjudged {
            Verdict::TooShort
        } else if latest == Standing::Below && pattern(below, judged) {
            Verdict::Pattern
        } else if latest == Standing::Below && earlier_below == 0 {
            Verdict::BadPeriod
        } else if latest == Standing::Below {
            Verdict::Mixed
        } else if pattern(earlier_below, earlier_judged) {
            Verdict::Recovering
        } else {
            Verdict::OnTrack
        };
        Judgement { verdict, judged, below, latest }
    }

    /// The verdict in plain words, e.g. "below the team's median in 5 of the last 6 months: a
    /// pattern" or "below only this month; at or above in the 5 before: a bad month". `latest`
    /// names the latest period as the reader would (`this month`, `in Oct 2026`).
    pub fn describe(&self, unit: PeriodUnit, latest: &str) -> String {
        let noun = noun(unit);
        let plural = |n: usize| if n == 1 { noun.to_string() } else { format!("{noun}s") };
        let before = self.judged.saturating_sub(1);
        let earlier_below = self.below - usize::from(self.latest == Standing::Below);
        match self.verdict {
            Verdict::Pattern => format!(
                "below the team's median in {} of the last {} {}: a pattern, not a bad {noun}",
                self.below,
                self.judged,
                plural(self.judged)
            ),
            Verdict::BadPeriod => {
                format!("below only {latest}; at or above in the {before} {} before: a bad {noun}", plural(before))
            }
            Verdict::Mixed => format!(
                "below {latest} and in {earlier_below} of the {before} {} before: mixed, not yet a pattern",
                plural(before)
            ),
            Verdict::Recovering => format!(
                "at or above the median {latest}, after being below in {earlier_below} of the {before} {} before: \
                 recovering",
                plural(before)
            ),
            Verdict::OnTrack => format!(
                "at or above the median {latest}; below in {earlier_below} of the {before} {} before",
                plural(before)
            ),
            Verdict::TooShort => {
                format!("{} {} to judge; a verdict needs {MIN_JUDGED}", self.judged, plural(self.judged))
            }
        }
    }
}

/// The thresholds the verdicts use, in words, for a reply's footer.
pub fn thresholds(unit: PeriodUnit) -> String {
    let noun = noun(unit);
    format!(
        "Below = under the team's median. Pattern: below in at least {PATTERN_NUM}/{PATTERN_DEN} of the {noun}s \
         judged, the latest included. Bad {noun}: below in the latest only. A verdict needs {MIN_JUDGED} {noun}s."
    )
}

/// The median of `values` (`None` for none): a rep's own typical value over earlier periods.
pub fn median(values: &[f64]) -> Option<f64> {
    Spread::of(values).map(|s| s.median)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::period::PeriodSpec;
    use Standing::{AtOrAbove as A, Below as B, Unjudged as U};

    #[test]
    fn quartiles_interpolate_between_sorted_values() {
        // Sorted 10 20 30 40: q1 at position 0.75 → 17.5, median 25, q3 at 2.25 → 32.5.
        let s = Spread::of(&[40.0, 10.0, 30.0, 20.0]).unwrap();
        assert_eq!((s.q1, s.median, s.q3, s.reps), (17.5, 25.0, 32.5, 4));
        let one = Spread::of(&[7.0]).unwrap();
        assert_eq!((one.q1, one.median, one.q3), (7.0, 7.0, 7.0));
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN]), None);
    }

    #[test]
    fn one_bad_month_is_told_from_a_pattern() {
        let bad = Judgement::of(&[A, A, A, A, A, B]);
        assert_eq!((bad.verdict, bad.judged, bad.below), (Verdict::BadPeriod, 6, 1));
        assert_eq!(
            bad.describe(PeriodUnit::Month, "this month"),
            "below only this month; at or above in the 5 months before: a bad month"
        );
        let pattern = Judgement::of(&[B, B, A, B, B, B]);
        assert_eq!(pattern.verdict, Verdict::Pattern);
        assert_eq!(
            pattern.describe(PeriodUnit::Month, "this month"),
            "below the team's median in 5 of the last 6 months: a pattern, not a bad month"
        );
        // 4 of 6 is two thirds exactly: a pattern; 3 of 6 is not.
        assert_eq!(Judgement::of(&[B, A, B, A, B, B]).verdict, Verdict::Pattern);
        assert_eq!(Judgement::of(&[A, A, B, A, B, B]).verdict, Verdict::Mixed);
        assert_eq!(Judgement::of(&[B, B, B, B, B, A]).verdict, Verdict::Recovering);
        assert_eq!(Judgement::of(&[A, B, A, A, A, A]).verdict, Verdict::OnTrack);
    }

    #[test]
    fn periods_before_the_first_log_are_not_judged() {
        let j = Judgement::of(&[U, U, U, U, A, B]);
        assert_eq!((j.verdict, j.judged), (Verdict::TooShort, 2));
        assert_eq!(j.describe(PeriodUnit::Week, "this week"), "2 weeks to judge; a verdict needs 3");
        let j = Judgement::of(&[U, U, U, A, A, B]);
        assert_eq!(j.verdict, Verdict::BadPeriod);
        assert_eq!(
            j.describe(PeriodUnit::Quarter, "in Aug–Oct 2026"),
            "below only in Aug–Oct 2026; at or above in the 2 quarters before: a bad quarter"
        );
    }

    #[test]
    fn six_months_count_back_by_calendar_months_and_quarters_by_the_fiscal_year() {
        let mut settings = GuildSettings::default();
        let now = "2026-11-27T12:00:00Z".parse().unwrap();
        let latest = Period::resolve(&PeriodSpec::ThisMonth, &settings, now).unwrap();
        let six = periods(&latest, 6, &settings).unwrap();
        let firsts: Vec<NaiveDate> = six.iter().map(|p| p.first_day).collect();
        let labels: Vec<String> = six.iter().map(label).collect();
        assert_eq!(firsts[0], NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
        assert_eq!(labels, ["Jun 2026", "Jul 2026", "Aug 2026", "Sep 2026", "Oct 2026", "Nov 2026"]);
        // A fiscal year from February: this quarter is Nov–Jan, the one before Aug–Oct.
        settings.fiscal_year_start = crate::domain::settings::FiscalStart::new(2).unwrap();
        let q = Period::resolve(&PeriodSpec::ThisQuarter, &settings, now).unwrap();
        let two: Vec<String> = periods(&q, 2, &settings).unwrap().iter().map(label).collect();
        assert_eq!(two, ["Aug–Oct 2026", "Nov–Jan 2027"]);
        assert!(periods(&latest, 1, &settings).is_err());
        assert_eq!(periods(&latest, 13, &settings).unwrap_err().to_string(), "history covers 2 to 12 periods, not 13");
    }
}
