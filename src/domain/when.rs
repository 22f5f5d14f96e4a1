//! Parses times people and their tools write: the `when` of a `/log` (`today 14:30`, `yesterday`,
//! `yesterday 16:00`, `14:30`, `-2h`, `-30m`, `-1d`, `now`) and the timestamps of files and CRMs
//! ([`parse_timestamp`]: RFC 3339 with an offset, local date-times without one, bare dates). Local
//! times are in the guild's timezone: one the clocks skip is refused with the reason, one that
//! happens twice (the autumn hour) is the earlier instant. Whether the result is inside the
//! back-dating window is checked by the caller.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
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
    // A full date-time, with or without an offset, reads as a file's timestamp would.
    if t.len() > 10 && t.as_bytes().get(4) == Some(&b'-') && t.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return parse_timestamp(text, tz).map(|(at, _)| at);
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
        d if d.starts_with(|c: char| c.is_ascii_digit()) && d.contains(['/', '.']) => {
            // `25.11.2026`, `02/11/2026`: say why, as the importer does.
            return Err(parse_timestamp(d, tz).err().unwrap_or_else(bad));
        }
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

/// How a timestamp gave its instant; an import counts its rows by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeForm {
    /// RFC 3339 / ISO 8601 with a UTC offset: `2026-11-02T09:00:00+01:00`, `2026-11-02 08:00Z`.
    Offset,
    /// A local date-time without an offset, read in the guild's timezone: `2026-11-02 09:00`.
    Local,
    /// A bare date, counted at 12:00 local time that day: `2026-11-02`.
    Date,
}

const TIMESTAMP_HELP: &str = "write 2026-11-02 09:00 (local time), 2026-11-02T09:00:00+01:00 (with an offset) \
                              or 2026-11-02 (a day, counted at 12:00)";

/// Reads a timestamp from a file or another tool: RFC 3339 / ISO 8601 with an offset (`T` or a
/// space between date and time, seconds and fractions optional, `Z` for UTC), a local date-time
/// without an offset (`2026-11-02 09:00`, `2026-11-02T09:00:00`) in `tz`, or a bare date
/// (`2026-11-02`) at 12:00 local. Refuses dates that could be read two ways (`02/11/2026`), local
/// times the clocks skip, and anything else, saying which forms are read.
pub fn parse_timestamp(text: &str, tz: Tz) -> Result<(DateTime<Utc>, TimeForm), DomainError> {
    let raw = text.trim();
    let shown = shorten(raw, 40);
    let bad = || DomainError::invalid(format!("`{shown}` is not a time rally reads; {TIMESTAMP_HELP}"));
    if raw.is_empty() {
        return Err(DomainError::invalid(format!("the time is empty; {TIMESTAMP_HELP}")));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok((at.with_timezone(&Utc), TimeForm::Offset));
    }
    // `Z` and `z` are UTC; chrono's `%:z` wants digits.
    let normal = match raw.strip_suffix(['Z', 'z']) {
        Some(head) => format!("{head}+00:00"),
        None => raw.to_string(),
    };
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M%:z"] {
        if let Ok(at) = DateTime::parse_from_str(&normal, fmt) {
            return Ok((at.with_timezone(&Utc), TimeForm::Offset));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(raw, fmt) {
            return local_instant(tz, local).map(|at| (at, TimeForm::Local)).ok_or_else(|| {
                let next = after_gap(tz, local)
                    .map_or(String::new(), |t| format!("; the first time after it is {}", t.format("%H:%M")));
                DomainError::invalid(format!(
                    "{} does not exist in {}: the clocks skip it when summer time starts{next}",
                    local.format("%Y-%m-%d %H:%M"),
                    tz.name()
                ))
            });
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let noon = date.and_hms_opt(12, 0, 0).ok_or_else(bad)?;
        return local_instant(tz, noon).map(|at| (at, TimeForm::Date)).ok_or_else(bad);
    }
    // `02/11/2026`, `11.02.2026` (with a time after it or not): day and month depend on the
    // country that wrote them.
    let date_part = raw.split_whitespace().next().unwrap_or(raw);
    let parts: Vec<&str> = date_part.split(['/', '.', '-']).collect();
    let year_first = parts.first().is_some_and(|p| p.len() == 4);
    if !year_first
        && parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        let (a, b) = (parts[0].parse::<u32>().unwrap_or(0), parts[1].parse::<u32>().unwrap_or(0));
        if parts[2].len() == 4 && (1..=12).contains(&a) && (1..=12).contains(&b) && a != b {
            return Err(DomainError::invalid(format!(
                "`{shown}` could be day {a} of month {b} or day {b} of month {a}; write dates as year-month-day, e.g. {}-{b:02}-{a:02}",
                parts[2]
            )));
        }
        return Err(DomainError::invalid(format!(
            "`{shown}` is not a date rally reads; write dates as year-month-day (2026-11-02)"
        )));
    }
    Err(bad())
}

/// The first local minute after the gap that swallowed `local` (gaps last hours at most).
fn after_gap(tz: Tz, local: NaiveDateTime) -> Option<NaiveDateTime> {
    (1..=24 * 60)
        .map(|m| local + Duration::minutes(m))
        .map(|t| t.with_second(0).unwrap_or(t))
        .find(|t| local_instant(tz, *t).is_some())
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
    fn timestamps_with_an_offset_local_times_and_dates_are_told_apart() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let cases = [
            ("2026-11-02T09:00:00+01:00", "2026-11-02T08:00:00Z", TimeForm::Offset),
            ("2026-11-02 09:00:00+01:00", "2026-11-02T08:00:00Z", TimeForm::Offset),
            ("2026-11-02T08:00Z", "2026-11-02T08:00:00Z", TimeForm::Offset),
            ("2026-11-02 08:00:00.5z", "2026-11-02T08:00:00.5Z", TimeForm::Offset),
            ("2026-11-02 09:00", "2026-11-02T08:00:00Z", TimeForm::Local),
            ("2026-11-02T09:00:00", "2026-11-02T08:00:00Z", TimeForm::Local),
            ("2026-07-02 09:00", "2026-07-02T07:00:00Z", TimeForm::Local),
            ("2026-11-02", "2026-11-02T11:00:00Z", TimeForm::Date),
            (" 2026-07-02 ", "2026-07-02T10:00:00Z", TimeForm::Date),
        ];
        for (text, want, form) in cases {
            assert_eq!(parse_timestamp(text, berlin), Ok((at(want), form)), "{text}");
        }
    }

    #[test]
    fn local_times_across_both_dst_changes_are_the_earlier_instant_or_refused() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        // Spring forward: 02:00-03:00 does not exist.
        let err = parse_timestamp("2026-03-29 02:30", berlin).unwrap_err().message;
        assert!(err.contains("2026-03-29 02:30 does not exist in Europe/Berlin"), "{err}");
        assert!(err.ends_with("the first time after it is 03:00"), "{err}");
        let chat = parse_when("02/11/2026", at(NOW), berlin).unwrap_err().message;
        assert!(chat.contains("could be day 2 of month 11 or day 11 of month 2"), "{chat}");
        assert_eq!(parse_timestamp("2026-03-29 01:59", berlin).unwrap().0, at("2026-03-29T00:59:00Z"));
        assert_eq!(parse_timestamp("2026-03-29 03:00", berlin).unwrap().0, at("2026-03-29T01:00:00Z"));
        assert!(parse_timestamp("2026-03-08T02:15:00", new_york).is_err());
        // Fall back: 02:00-03:00 happens twice; the first one is taken.
        assert_eq!(parse_timestamp("2026-10-25 02:30", berlin).unwrap().0, at("2026-10-25T00:30:00Z"));
        assert_eq!(parse_timestamp("2026-11-01 01:30", new_york).unwrap().0, at("2026-11-01T05:30:00Z"));
        // An offset says which of the two was meant.
        assert_eq!(parse_timestamp("2026-10-25T02:30:00+01:00", berlin).unwrap().0, at("2026-10-25T01:30:00Z"));
        // A bare date on a change day is still its noon.
        assert_eq!(parse_timestamp("2026-03-29", berlin).unwrap().0, at("2026-03-29T10:00:00Z"));
        assert_eq!(parse_timestamp("2026-10-25", berlin).unwrap().0, at("2026-10-25T11:00:00Z"));
    }

    #[test]
    fn dates_that_read_two_ways_and_other_forms_are_refused_with_the_forms_that_work() {
        let err = |t: &str| parse_timestamp(t, Tz::UTC).unwrap_err().message;
        assert!(err("02/11/2026").contains("could be day 2 of month 11 or day 11 of month 2"), "{}", err("02/11/2026"));
        assert!(err("02.11.2026").contains("write dates as year-month-day"));
        assert!(err("31/12/2026").contains("write dates as year-month-day (2026-11-02)"));
        assert!(err("20.11.2026 09:00").contains("write dates as year-month-day"), "{}", err("20.11.2026 09:00"));
        assert!(err("11/02/2026 9:00 AM").contains("could be day 11 of month 2 or day 2 of month 11"));
        assert!(err("yesterday").contains("2026-11-02 09:00 (local time)"));
        assert!(err("2026-13-02").contains("is not a time rally reads"));
        let single_digit_hour = parse_timestamp("2026-11-02 9:00", Tz::UTC);
        assert!(
            single_digit_hour.is_ok() || single_digit_hour.unwrap_err().message.contains("is not a time rally reads")
        );
        assert!(err("").contains("the time is empty"));
    }

    #[test]
    fn nonsense_is_refused_without_panicking() {
        let now = at(NOW);
        for bad in [
            "tomorrowish",
            "25.11.2026",
            "02/11/2026 09:00",
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
