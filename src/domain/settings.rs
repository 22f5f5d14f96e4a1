//! A guild's calendar settings: timezone, week start, fiscal year start, working days.
//! Pure data; the store persists it and the domain reads it.

use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::DomainError;

/// The set of weekdays a guild works on, as a bitmask (bit 0 = Monday).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingDays(u8);

impl WorkingDays {
    pub const MON_FRI: WorkingDays = WorkingDays(0b0001_1111);

    pub fn from_bits(bits: u8) -> Result<Self, DomainError> {
        if bits == 0 || bits > 0b0111_1111 {
            return Err(DomainError::invalid("working days must name at least one weekday"));
        }
        Ok(WorkingDays(bits))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn is_working(self, date: NaiveDate) -> bool {
        self.contains(date.weekday())
    }

    /// Parses `mon-fri`, `mon,tue,thu`, `sun-thu` (ranges wrap around the week).
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let mut bits = 0u8;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (parse_weekday(a)?, parse_weekday(b)?);
                    let mut d = a;
                    loop {
                        bits |= 1 << d.num_days_from_monday();
                        if d == b {
                            break;
                        }
                        d = d.succ();
                    }
                }
                None => bits |= 1 << parse_weekday(part)?.num_days_from_monday(),
            }
        }
        Self::from_bits(bits)
    }
}

impl std::fmt::Display for WorkingDays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = (0..7).filter(|i| self.0 & (1 << i) != 0).map(|i| WEEKDAY_NAMES[i]).collect();
        f.write_str(&names.join(","))
    }
}

const WEEKDAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `monday`, `Mon`, `mo`... into a weekday.
pub fn parse_weekday(text: &str) -> Result<Weekday, DomainError> {
    let t = text.trim().to_ascii_lowercase();
    let day = match t.get(..2.min(t.len())).unwrap_or("") {
        "mo" => Weekday::Mon,
        "tu" => Weekday::Tue,
        "we" => Weekday::Wed,
        "th" => Weekday::Thu,
        "fr" => Weekday::Fri,
        "sa" => Weekday::Sat,
        "su" => Weekday::Sun,
        _ => return Err(DomainError::invalid(format!("`{text}` is not a weekday (try monday or mon)"))),
    };
    // Reject garbage that merely starts like a weekday ("month", "sunny").
    let full = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        [day.num_days_from_monday() as usize];
    if t.len() < 2 || !full.starts_with(&t) {
        return Err(DomainError::invalid(format!("`{text}` is not a weekday (try monday or mon)")));
    }
    Ok(day)
}

pub fn weekday_name(day: Weekday) -> &'static str {
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][day.num_days_from_monday() as usize]
}

/// Parses an IANA timezone name such as `Europe/Berlin`.
pub fn parse_timezone(text: &str) -> Result<Tz, DomainError> {
    text.trim().parse::<Tz>().map_err(|_| {
        DomainError::invalid(format!("`{text}` is not an IANA timezone (e.g. Europe/Berlin, America/New_York, UTC)"))
    })
}

/// A month 1..=12 in which the fiscal year begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiscalStart(u8);

impl FiscalStart {
    pub const JANUARY: FiscalStart = FiscalStart(1);

    pub fn new(month: u32) -> Result<Self, DomainError> {
        if (1..=12).contains(&month) {
            Ok(FiscalStart(month as u8))
        } else {
            Err(DomainError::invalid(format!("fiscal year start must be a month 1-12, not {month}")))
        }
    }

    pub fn month(self) -> u32 {
        self.0 as u32
    }
}

/// How far back an activity may be dated when logged live (imports are exempt).
pub const DEFAULT_BACKDATE_DAYS: u32 = 7;

#[derive(Clone, Debug, PartialEq)]
pub struct GuildSettings {
    pub timezone: Tz,
    pub week_start: Weekday,
    pub fiscal_year_start: FiscalStart,
    pub working_days: WorkingDays,
    pub manager_role: Option<u64>,
    pub backdate_days: u32,
}

impl Default for GuildSettings {
    fn default() -> Self {
        GuildSettings {
            timezone: Tz::UTC,
            week_start: Weekday::Mon,
            fiscal_year_start: FiscalStart::JANUARY,
            working_days: WorkingDays::MON_FRI,
            manager_role: None,
            backdate_days: DEFAULT_BACKDATE_DAYS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_parse_ranges_lists_and_wraparound() {
        assert_eq!(WorkingDays::parse("mon-fri").unwrap(), WorkingDays::MON_FRI);
        assert_eq!(WorkingDays::parse("sun-thu").unwrap().to_string(), "mon,tue,wed,thu,sun");
        assert_eq!(WorkingDays::parse("Monday, wed").unwrap().to_string(), "mon,wed");
        assert!(WorkingDays::parse("").is_err());
        assert!(WorkingDays::parse("funday").is_err());
    }

    #[test]
    fn weekday_names_must_be_real_prefixes() {
        assert_eq!(parse_weekday("Sunday").unwrap(), Weekday::Sun);
        assert_eq!(parse_weekday("thu").unwrap(), Weekday::Thu);
        assert!(parse_weekday("month").is_err());
        assert!(parse_weekday("s").is_err());
    }

    #[test]
    fn timezones_and_fiscal_months_are_validated() {
        assert!(parse_timezone("Europe/Berlin").is_ok());
        assert!(parse_timezone("Mars/Olympus").is_err());
        assert!(FiscalStart::new(4).is_ok());
        assert!(FiscalStart::new(13).is_err());
        assert!(FiscalStart::new(0).is_err());
    }
}
