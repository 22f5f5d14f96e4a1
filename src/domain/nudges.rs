//! Nudges, reminders and milestones as rules: how far behind pace a goal is (in points of
//! attainment), whether an instant lies in the guild's working time, and which milestone levels a
//! goal has reached. Pure: the instant is an argument; imports nothing of ours outside `domain`.

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};

use super::goals::Pace;
use super::settings::GuildSettings;

/// Points of attainment below expected-by-now before a nudge, unless a schedule says otherwise.
pub const DEFAULT_THRESHOLD: u32 = 15;

/// The shares of a goal celebrated once per goal period, in percent.
pub const MILESTONES: [u32; 2] = [50, 100];

/// How far behind expected-by-now a goal is, in percentage points of its target:
/// (expected_by_now − actual) / target × 100. Negative when ahead; `None` when the period has no
/// working days or the target is not positive (nothing to be behind on).
pub fn points_behind(pace: &Pace) -> Option<f64> {
    let expected = pace.expected_by_now?;
    (pace.target > 0).then(|| (expected - pace.actual as f64) / pace.target as f64 * 100.0)
}

/// Behind by more than `threshold` points and short of the target: worth a nudge.
pub fn needs_nudge(pace: &Pace, threshold: u32) -> bool {
    pace.actual < pace.target && points_behind(pace).is_some_and(|behind| behind > f64::from(threshold))
}

/// Why an instant is outside the guild's working time, if it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quiet {
    /// The local day is not one of the guild's working days.
    DayOff(NaiveDate),
    /// A working day, but the local time is outside the working hours.
    OutsideHours(NaiveTime),
}

impl std::fmt::Display for Quiet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quiet::DayOff(day) => write!(f, "{} is not a working day", day.format("%a %Y-%m-%d")),
            Quiet::OutsideHours(time) => write!(f, "{} is outside working hours", time.format("%H:%M")),
        }
    }
}

/// `None` when `at` falls on a working day inside the working hours, in the guild's timezone.
pub fn quiet(settings: &GuildSettings, at: DateTime<Utc>) -> Option<Quiet> {
    let local = at.with_timezone(&settings.timezone);
    let day = local.date_naive();
    if !settings.working_days.is_working(day) {
        return Some(Quiet::DayOff(day));
    }
    let minute = local.hour() * 60 + local.minute();
    (!settings.working_hours.contains_minute(minute)).then(|| Quiet::OutsideHours(local.time()))
}

/// The milestone levels `actual` has reached against `target`, lowest first; in integers, so
/// exactly half is 50 % and 99.99 % is not 100 %.
pub fn milestones_reached(target: i64, actual: i64) -> Vec<u32> {
    if target <= 0 {
        return Vec::new();
    }
    MILESTONES.into_iter().filter(|level| i128::from(actual) * 100 >= i128::from(target) * i128::from(*level)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::goals::Required;
    use crate::domain::settings::{WorkingDays, WorkingHours, parse_timezone};

    fn pace(target: i64, actual: i64, expected: Option<f64>) -> Pace {
        Pace {
            target,
            actual,
            working_days: 5,
            elapsed: 2.5,
            left: 2.5,
            attainment: actual as f64 / target as f64,
            expected_by_now: expected,
            projected: None,
            required: Required::PerDay(0.0),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instants are RFC 3339")
    }

    #[test]
    fn a_goal_is_nudged_only_when_more_than_the_threshold_behind() {
        // Expected 50 of 100: 20 is 30 points behind, 35 is exactly 15 (not more), 60 is ahead.
        assert_eq!(points_behind(&pace(100, 20, Some(50.0))), Some(30.0));
        assert!(needs_nudge(&pace(100, 20, Some(50.0)), 15));
        assert!(!needs_nudge(&pace(100, 35, Some(50.0)), 15));
        assert!(!needs_nudge(&pace(100, 60, Some(50.0)), 15));
        assert!(!needs_nudge(&pace(100, 20, None), 15), "no working days: nothing expected");
        assert!(!needs_nudge(&pace(10, 10, Some(50.0)), 15), "a met target is never nudged");
    }

    #[test]
    fn working_time_is_the_working_days_inside_the_working_hours_in_local_time() {
        let settings = GuildSettings {
            timezone: parse_timezone("Europe/Berlin").unwrap(),
            working_days: WorkingDays::MON_FRI,
            working_hours: WorkingHours::parse("09:00-18:00").unwrap(),
            ..GuildSettings::default()
        };
        // Wednesday 25 November 2026; Berlin is UTC+1.
        assert_eq!(quiet(&settings, at("2026-11-25T08:00:00Z")), None, "09:00 local");
        assert_eq!(quiet(&settings, at("2026-11-25T16:59:00Z")), None, "17:59 local");
        assert!(matches!(quiet(&settings, at("2026-11-25T17:00:00Z")), Some(Quiet::OutsideHours(_))));
        assert!(matches!(quiet(&settings, at("2026-11-25T07:30:00Z")), Some(Quiet::OutsideHours(_))));
        assert!(matches!(quiet(&settings, at("2026-11-28T10:00:00Z")), Some(Quiet::DayOff(_))), "Saturday");
    }

    #[test]
    fn milestones_count_in_whole_percent_without_rounding_up() {
        assert_eq!(milestones_reached(100, 49), Vec::<u32>::new());
        assert_eq!(milestones_reached(100, 50), vec![50]);
        assert_eq!(milestones_reached(3, 2), vec![50]);
        assert_eq!(milestones_reached(10_000, 9_999), vec![50]);
        assert_eq!(milestones_reached(100, 250), vec![50, 100]);
        assert_eq!(milestones_reached(0, 5), Vec::<u32>::new());
    }
}
