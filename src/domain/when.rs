//! Parses the `when` of a `/log`: `today 14:30`, `yesterday`, `yesterday 16:00`, `14:30`,
//! `2026-10-14 09:00`, `2026-10-14`, `-2h`, `-30m`, `-1d`, `now`. Local times are in the guild's
//! timezone. Whether the result is inside the back-dating window is checked by the caller.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::DomainError;
use super::activity::shorten;
use super::period::local_date;

const HELP: &str = "try `today 14:30`, `yesterday`, `2026-10-14 09:00` or `-2h`";

/// The instant `text` names, relative to `now` in `tz`.
pub fn parse_when(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, DomainError> {
    let t = text.trim().to_ascii_lowercase();
    let bad = || DomainError::invalid(format!("`{}` is not a time I understand; {HELP}", shorten(text.trim(), 40)));
    if t.is_empty() || t == "now" {
        return Ok(now);
    }
    if let Some(rest) = t.strip_prefix('-') {
        return relative(rest.trim()).map(|d| now - d).ok_or_else(bad);
    }
    let today = local_date(tz, now);
    let (day, time) = match t.split_once(char::is_whitespace) {
        Some((d, time)) => (d.trim(), Some(time.trim())),
        None if t.contains(':') => ("today", Some(t.as_str())),
        None => (t.as_str(), None),
    };
    let date = match day {
        "today" => today,
        "yesterday" => today.pred_opt().ok_or_else(bad)?,
        d => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?,
    };
    let time = match time {
        Some(s) => NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| bad())?,
        // A bare day keeps the current time of day for `yesterday`, and noon for a date, so that
        // it lands inside that day whatever the timezone.
        None if day == "yesterday" => now.with_timezone(&tz).time(),
        None => NaiveTime::from_hms_opt(12, 0, 0).ok_or_else(bad)?,
    };
    local_instant(tz, date.and_time(time)).ok_or_else(|| {
        DomainError::invalid(format!(
            "{} {} does not exist in {} (the clocks skip it)",
            date,
            time.format("%H:%M"),
            tz.name()
        ))
    })
}

/// `2h`, `30m`, `1d`, `90 min`: a positive span of at most 400 days.
fn relative(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| (1..=10_000).contains(n))?;
    let d = match unit.trim() {
        "m" | "min" | "mins" | "minute" | "minutes" => Duration::minutes(n),
        "h" | "hr" | "hrs" | "hour" | "hours" => Duration::hours(n),
        "d" | "day" | "days" => Duration::days(n),
        _ => return None,
    };
    (d <= Duration::days(400)).then_some(d)
}

/// A local wall-clock time as an instant: the earlier one when it happens twice, none in a gap.
fn local_instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const NOW: &str = "2026-11-27T15:00:00Z"; // 16:00 in Berlin

    #[test]
    fn local_forms_resolve_in_the_guild_timezone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let now = at(NOW);
        assert_eq!(parse_when("today 14:30", now, berlin).unwrap(), at("2026-11-27T13:30:00Z"));
        assert_eq!(parse_when("14:30", now, berlin).unwrap(), at("2026-11-27T13:30:00Z"));
        assert_eq!(parse_when("yesterday", now, berlin).unwrap(), at("2026-11-26T15:00:00Z"));
        assert_eq!(parse_when("Yesterday 09:15", now, berlin).unwrap(), at("2026-11-26T08:15:00Z"));
        assert_eq!(parse_when("2026-10-14 09:00", now, berlin).unwrap(), at("2026-10-14T07:00:00Z"));
        assert_eq!(parse_when("2026-10-14", now, berlin).unwrap(), at("2026-10-14T10:00:00Z"));
        assert_eq!(parse_when("now", now, berlin).unwrap(), now);
    }

    #[test]
    fn relative_forms_count_back_from_now() {
        let now = at(NOW);
        assert_eq!(parse_when("-2h", now, Tz::UTC).unwrap(), at("2026-11-27T13:00:00Z"));
        assert_eq!(parse_when("-30m", now, Tz::UTC).unwrap(), at("2026-11-27T14:30:00Z"));
        assert_eq!(parse_when("-1d", now, Tz::UTC).unwrap(), at("2026-11-26T15:00:00Z"));
        assert_eq!(parse_when("- 90 min", now, Tz::UTC).unwrap(), at("2026-11-27T13:30:00Z"));
    }

    #[test]
    fn a_time_skipped_by_dst_is_refused_and_a_repeated_one_takes_the_first() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let now = at("2026-11-27T15:00:00Z");
        assert!(parse_when("2026-03-29 02:30", now, berlin).unwrap_err().message.contains("does not exist"));
        assert_eq!(parse_when("2026-10-25 02:30", now, berlin).unwrap(), at("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn nonsense_is_refused_without_panicking() {
        let now = at(NOW);
        for bad in [
            "tomorrowish",
            "-",
            "-h",
            "-0h",
            "-99999999999999999999h",
            "-5y",
            "25:00",
            "today 7pm",
            "2026-13-01",
            "🙂",
            "today  ",
            "-401d",
        ] {
            let r = parse_when(bad, now, Tz::UTC);
            if bad == "today  " {
                assert!(r.is_ok());
                continue;
            }
            assert!(r.is_err(), "{bad} should be refused");
        }
    }
}
