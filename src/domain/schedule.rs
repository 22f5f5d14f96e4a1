//! When scheduled posts are due: `weekdays 09:00`, `mon 08:30`, `daily 17:00`, `1st 09:00` or a
//! five-field cron expression, all in the guild's local time. The next slot is computed from local
//! dates, so a slot stays at 09:00 local across DST changes (its UTC instant moves instead). A local
//! time the clocks skip fires at the first instant after the gap; a time that happens twice fires
//! once, at the first. Pure: `after` is an argument.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::DomainError;
use super::activity::shorten;
use super::period::local_date;
use super::settings::{WorkingDays, parse_weekday};

const HELP: &str =
    "use `weekdays 09:00`, `mon 08:30`, `daily 17:00`, `1st 09:00` or a cron expression like `30 8 * * 1-5`";

/// A parsed `at`.
#[derive(Clone, Debug)]
pub enum When {
    /// The guild's working days.
    Weekdays(NaiveTime),
    Weekly(Weekday, NaiveTime),
    Daily(NaiveTime),
    /// Day of the month 1..=31; months without that day use their last day.
    Monthly(u32, NaiveTime),
    Cron(Box<croner::Cron>, String),
}

impl PartialEq for When {
    fn eq(&self, other: &When) -> bool {
        self.to_string() == other.to_string()
    }
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

fn ordinal(text: &str) -> Option<u32> {
    let t = text.trim().to_ascii_lowercase();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &t[digits.len()..];
    let n: u32 = digits.parse().ok()?;
    let ok = matches!((n % 10, n % 100, suffix), (_, 11..=13, "th") | (1, _, "st") | (2, _, "nd") | (3, _, "rd"))
        || (suffix == "th" && !matches!(n % 10, 1..=3))
        || suffix.is_empty();
    (ok && (1..=31).contains(&n)).then_some(n)
}

impl When {
    pub fn parse(text: &str) -> Result<When, DomainError> {
        let t = text.trim();
        let bad = || DomainError::invalid(format!("`{}` is not a schedule; {HELP}", shorten(t, 60)));
        let words: Vec<&str> = t.split_whitespace().collect();
        if let [day, time] = words.as_slice()
            && let Some(time) = parse_time(time)
        {
            let day = day.to_ascii_lowercase();
            return match day.as_str() {
                "weekdays" | "workdays" | "weekday" => Ok(When::Weekdays(time)),
                "daily" | "everyday" | "day" => Ok(When::Daily(time)),
                d => match ordinal(d) {
                    Some(n) => Ok(When::Monthly(n, time)),
                    None => parse_weekday(d).map(|w| When::Weekly(w, time)).map_err(|_| bad()),
                },
            };
        }
        if words.len() == 5 {
            let cron = croner::Cron::from_str(t)
                .map_err(|e| DomainError::invalid(format!("`{}` is not a cron expression: {e}", shorten(t, 60))))?;
            return Ok(When::Cron(Box::new(cron), words.join(" ")));
        }
        Err(bad())
    }

    /// The first slot strictly after `after`, in `tz`; `working` defines `weekdays`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz, working: WorkingDays) -> Option<DateTime<Utc>> {
        if let When::Cron(cron, _) = self {
            let local = after.with_timezone(&tz);
            return cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc));
        }
        let mut day = local_date(tz, after);
        // Any of these fires within 31 days; two months bounds the walk.
        for _ in 0..62 {
            if let Some(time) = self.time_on(day, working) {
                let at = local_instant(tz, day, time)?;
                if at > after {
                    return Some(at);
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// The local time this schedule fires on `day`, if it fires that day.
    fn time_on(&self, day: NaiveDate, working: WorkingDays) -> Option<NaiveTime> {
        match self {
            When::Weekdays(t) => working.is_working(day).then_some(*t),
            When::Weekly(w, t) => (day.weekday() == *w).then_some(*t),
            When::Daily(t) => Some(*t),
            When::Monthly(n, t) => {
                let last = last_day_of_month(day)?;
                (day.day() == (*n).min(last)).then_some(*t)
            }
            When::Cron(..) => None,
        }
    }
}

fn last_day_of_month(day: NaiveDate) -> Option<u32> {
    let first_next = if day.month() == 12 {
        NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(day.year(), day.month() + 1, 1)?
    };
    first_next.pred_opt().map(|d| d.day())
}

/// A local wall-clock time as an instant: the first when it happens twice, the first instant after
/// the gap when the clocks skip it.
fn local_instant(tz: Tz, day: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let local = day.and_time(time);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // Gaps are at most a few hours; step forward a minute at a time to the first real one.
            (1..=24 * 60).find_map(|m| match tz.from_local_datetime(&(local + Duration::minutes(m))) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
                LocalResult::None => None,
            })
        }
    }
}

impl std::fmt::Display for When {
    /// The canonical form, which `parse` reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |t: &NaiveTime| t.format("%H:%M").to_string();
        match self {
            When::Weekdays(t) => write!(f, "weekdays {}", hm(t)),
            When::Weekly(w, t) => {
                write!(f, "{} {}", super::settings::weekday_name(*w).get(..3).unwrap_or("mon"), hm(t))
            }
            When::Daily(t) => write!(f, "daily {}", hm(t)),
            When::Monthly(n, t) => {
                let suffix = match (n % 10, n % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                write!(f, "{n}{suffix} {}", hm(t))
            }
            When::Cron(_, text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    fn slots(when: &When, from: &str, n: usize, tz: Tz) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = at(from);
        for _ in 0..n {
            t = when.next_after(t, tz, WorkingDays::MON_FRI).unwrap();
            out.push(t);
        }
        out
    }

    #[test]
    fn a_week_of_weekday_slots_across_the_spring_dst_change_stays_at_nine_local() {
        // Berlin springs forward on Sunday 29 March 2026: 09:00 is 08:00Z before, 07:00Z after.
        let got = slots(&When::parse("weekdays 09:00").unwrap(), "2026-03-26T12:00:00Z", 5, berlin());
        let want = [
            "2026-03-27T08:00:00Z",
            "2026-03-30T07:00:00Z",
            "2026-03-31T07:00:00Z",
            "2026-04-01T07:00:00Z",
            "2026-04-02T07:00:00Z",
        ];
        assert_eq!(got, want.map(at));
    }

    #[test]
    fn daily_slots_across_the_autumn_change_fire_once_each_day() {
        // 25 October 2026: Berlin falls back; 17:00 local is 15:00Z before and 16:00Z after.
        let got = slots(&When::parse("daily 17:00").unwrap(), "2026-10-24T00:00:00Z", 3, berlin());
        assert_eq!(got, ["2026-10-24T15:00:00Z", "2026-10-25T16:00:00Z", "2026-10-26T16:00:00Z"].map(at));
    }

    #[test]
    fn a_skipped_local_time_fires_after_the_gap_and_a_repeated_one_fires_once() {
        let skipped = slots(&When::parse("daily 02:30").unwrap(), "2026-03-28T12:00:00Z", 2, berlin());
        // On 29 March 02:30 does not exist: the slot is 03:00 CEST (01:00Z).
        assert_eq!(skipped, ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"].map(at));
        let repeated = slots(&When::parse("daily 02:30").unwrap(), "2026-10-24T12:00:00Z", 2, berlin());
        // On 25 October 02:30 happens twice: only the first (00:30Z) fires.
        assert_eq!(repeated, ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"].map(at));
    }

    #[test]
    fn weekly_monthly_and_cron_forms() {
        let mon = slots(&When::parse("mon 08:30").unwrap(), "2026-11-27T00:00:00Z", 2, Tz::UTC);
        assert_eq!(mon, ["2026-11-30T08:30:00Z", "2026-12-07T08:30:00Z"].map(at));
        // The 31st falls back to the last day of shorter months.
        let last = slots(&When::parse("31st 09:00").unwrap(), "2026-01-31T10:00:00Z", 2, Tz::UTC);
        assert_eq!(last, ["2026-02-28T09:00:00Z", "2026-03-31T09:00:00Z"].map(at));
        let cron = slots(&When::parse("30 8 * * 1-5").unwrap(), "2026-03-27T12:00:00Z", 2, berlin());
        assert_eq!(cron, ["2026-03-30T06:30:00Z", "2026-03-31T06:30:00Z"].map(at));
        let sun_thu = When::parse("weekdays 09:00").unwrap();
        let first = sun_thu.next_after(at("2026-11-27T12:00:00Z"), Tz::UTC, WorkingDays::parse("sun-thu").unwrap());
        assert_eq!(first, Some(at("2026-11-29T09:00:00Z")), "weekdays follow the guild's working days");
    }

    #[test]
    fn forms_round_trip_and_nonsense_is_refused() {
        for text in ["weekdays 09:00", "mon 08:30", "daily 17:00", "1st 09:00", "22nd 10:15", "30 8 * * 1-5"] {
            assert_eq!(When::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "",
            "sometimes",
            "mon 25:00",
            "32nd 09:00",
            "1th 09:00",
            "funday 09:00",
            "* * *",
            "99 99 * * *",
            "daily",
            "🙂 09:00",
        ] {
            assert!(When::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
