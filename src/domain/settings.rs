//! A guild's calendar settings: timezone, week start, fiscal year start, working days and hours.
//! Pure data; the store persists it and the domain reads it.

use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::DomainError;
use super::activity::{KindName, shorten};
use super::money::{Currency, Money, NumberFormat};

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

/// Parses an IANA timezone name such as `Europe/Berlin`, spelled as the tz database spells it.
///
/// A name that differs only in case, is close to a real one or names just the city (`berlin`,
/// `new york`) is refused with the name to use: the issue asks for a suggestion rather than a
/// guess, so what a manager saves is always a name they have seen.
pub fn parse_timezone(text: &str) -> Result<Tz, DomainError> {
    let t = text.trim();
    if let Ok(tz) = t.parse::<Tz>() {
        return Ok(tz);
    }
    let shown = shorten(t, 60);
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    let near = super::suggest::closest(t, names()).or_else(|| {
        // Only the city: `Europe/Berlin` is 7 edits from `berlin`, its last part none.
        let city = |name: &'static str| name.rsplit('/').next().unwrap_or(name);
        let found = super::suggest::closest(t, names().filter(|n| n.contains('/')).map(city))?;
        names().find(|n| n.contains('/') && city(n) == found)
    });
    Err(DomainError::invalid(match near {
        Some(near) if near.eq_ignore_ascii_case(t) => {
            format!("`{shown}` is not an IANA timezone; did you mean `{near}`? (the names are case-sensitive)")
        }
        Some(near) => format!("`{shown}` is not an IANA timezone; did you mean `{near}`?"),
        None => format!("`{shown}` is not an IANA timezone (e.g. Europe/Berlin, America/New_York, UTC)"),
    }))
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

/// The local hours of a working day, `[start, end)` in minutes since midnight: nudges and
/// reminders are only sent inside them. End is after start (no overnight shifts) and may be 24:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    start: u16,
    end: u16,
}

impl WorkingHours {
    /// 08:00-18:00, the schema's default.
    pub const DEFAULT: WorkingHours = WorkingHours { start: 8 * 60, end: 18 * 60 };

    /// From minutes since local midnight, as stored.
    pub fn from_minutes(start: u32, end: u32) -> Result<Self, DomainError> {
        if start >= 24 * 60 || end > 24 * 60 {
            return Err(DomainError::invalid("working hours lie between 00:00 and 24:00"));
        }
        if end <= start {
            return Err(DomainError::invalid(format!(
                "working hours must end after they start ({} is not after {}); overnight shifts are not supported",
                hhmm(end),
                hhmm(start)
            )));
        }
        Ok(WorkingHours { start: start as u16, end: end as u16 })
    }

    /// Parses `09:00-18:00` (also `9-18`, `9:30 – 17:30`, `09:00 to 18:00`).
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        let help = "write working hours like `09:00-18:00` (24-hour clock, start-end)";
        let normalized = t.replace(['–', '—'], "-").to_ascii_lowercase().replace(" to ", "-");
        let Some((a, b)) = normalized.split_once('-') else {
            return Err(DomainError::invalid(format!("`{}` is not a range of hours; {help}", shorten(t, 40))));
        };
        let time = |part: &str| -> Result<u32, DomainError> {
            let part = part.trim();
            let bad = || DomainError::invalid(format!("`{}` is not a time of day; {help}", shorten(part, 20)));
            let (h, m) = part.split_once(':').unwrap_or((part, "0"));
            let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(h) || !digits(m) {
                return Err(bad());
            }
            let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if m >= 60 || h > 24 || (h == 24 && m > 0) {
                return Err(bad());
            }
            Ok(h * 60 + m)
        };
        WorkingHours::from_minutes(time(a)?, time(b)?)
    }

    pub fn start_minute(self) -> u32 {
        u32::from(self.start)
    }

    pub fn end_minute(self) -> u32 {
        u32::from(self.end)
    }

    /// Whether a local time of day (minutes since midnight) lies inside the hours.
    pub fn contains_minute(self, minute: u32) -> bool {
        (u32::from(self.start)..u32::from(self.end)).contains(&minute)
    }
}

impl std::fmt::Display for WorkingHours {
    /// The form `parse` reads back: `09:00-18:00`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", hhmm(u32::from(self.start)), hhmm(u32::from(self.end)))
    }
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Who sees money (revenue, deal values, money goals and quotas, commission) of other members.
/// Counts and points are everyone's either way; a member always sees their own money.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MoneyPrivacy {
    /// Everyone sees everyone's money (the default, as before the setting existed).
    #[default]
    Everyone,
    /// Only managers see other members' money; boards ranked by money show ranks without amounts.
    Managers,
}

impl MoneyPrivacy {
    /// Reads `everyone` or `managers` (any case).
    pub fn parse(s: &str) -> Result<MoneyPrivacy, DomainError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "everyone" => Ok(MoneyPrivacy::Everyone),
            "managers" => Ok(MoneyPrivacy::Managers),
            other => Err(DomainError::invalid(format!(
                "`{}` is not a privacy setting; use `everyone` or `managers`",
                shorten(other, 20)
            ))),
        }
    }

    /// The name `parse` reads back.
    pub fn as_str(self) -> &'static str {
        match self {
            MoneyPrivacy::Everyone => "everyone",
            MoneyPrivacy::Managers => "managers",
        }
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
    pub working_hours: WorkingHours,
    /// The currency money is kept in; `None` until chosen or taken from the server's locale.
    pub currency: Option<Currency>,
    /// How numbers are written; `None` until chosen or taken from the server's locale.
    pub number_format: Option<NumberFormat>,
    /// Kinds whose activities come from the guild's CRM, not from chat: `/log` refuses them, so
    /// that nothing is counted twice. Empty without a CRM connection.
    pub crm_fed: Vec<KindName>,
    /// Members holding this Discord role (as last seen on their interactions) are left off boards,
    /// team tables and competitions; they keep their own `/me`.
    pub board_exclude_role: Option<u64>,
    /// Who sees other members' money.
    pub money_privacy: MoneyPrivacy,
}

impl GuildSettings {
    /// Whether activities of `kind` come from the CRM rather than from chat.
    pub fn is_crm_fed(&self, kind: &KindName) -> bool {
        self.crm_fed.contains(kind)
    }

    /// How this guild writes money: its currency and number format, USD and `1,234.56` where
    /// neither was chosen nor known from the server's locale.
    pub fn money(&self) -> Money {
        let d = Money::default();
        Money::new(self.currency.unwrap_or(d.currency), self.number_format.unwrap_or(d.format))
    }
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
            working_hours: WorkingHours::DEFAULT,
            currency: None,
            number_format: None,
            crm_fed: Vec::new(),
            board_exclude_role: None,
            money_privacy: MoneyPrivacy::Everyone,
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
    fn working_hours_parse_common_forms_and_refuse_nonsense_kindly() {
        assert_eq!(WorkingHours::parse("09:00-18:00").unwrap().to_string(), "09:00-18:00");
        assert_eq!(WorkingHours::parse(" 9-17:30 ").unwrap().to_string(), "09:00-17:30");
        assert_eq!(WorkingHours::parse("08:30 – 24:00").unwrap().to_string(), "08:30-24:00");
        assert_eq!(WorkingHours::parse("7:00 to 15:00").unwrap().to_string(), "07:00-15:00");
        let err = |t: &str| WorkingHours::parse(t).unwrap_err().message;
        assert!(err("18:00-09:00").contains("must end after they start"), "{}", err("18:00-09:00"));
        assert!(err("09:00-09:00").contains("must end after they start"));
        assert!(err("nine to five").contains("`nine` is not a time of day"), "{}", err("nine to five"));
        assert!(err("09:00").contains("is not a range of hours"));
        assert!(err("25:00-26:00").contains("is not a time of day"));
        assert!(err("09:60-10:00").contains("is not a time of day"));
        assert!(err("").contains("09:00-18:00"), "every error shows the expected form");
        let h = WorkingHours::parse("09:00-18:00").unwrap();
        assert!(h.contains_minute(9 * 60) && h.contains_minute(18 * 60 - 1));
        assert!(!h.contains_minute(18 * 60) && !h.contains_minute(8 * 60 + 59));
    }

    #[test]
    fn a_timezone_in_another_case_or_close_to_a_real_one_is_refused_with_the_name_to_use() {
        let cases = [
            ("europe/berlin", "did you mean `Europe/Berlin`? (the names are case-sensitive)"),
            ("EUROPE/BERLIN", "did you mean `Europe/Berlin`? (the names are case-sensitive)"),
            ("utc", "did you mean `UTC`? (the names are case-sensitive)"),
            ("Europe/Berln", "did you mean `Europe/Berlin`?"),
            ("america/new york", "did you mean `America/New_York`?"),
            ("America/New York", "did you mean `America/New_York`?"),
            ("berlin", "did you mean `Europe/Berlin`?"),
            ("new york", "did you mean `America/New_York`?"),
            ("Tokio", "did you mean `Asia/Tokyo`?"),
        ];
        for (typed, want) in cases {
            let err = parse_timezone(typed).unwrap_err().message;
            assert_eq!(err, format!("`{typed}` is not an IANA timezone; {want}"));
        }
        assert_eq!(
            parse_timezone(" Mars/Olympus ").unwrap_err().message,
            "`Mars/Olympus` is not an IANA timezone (e.g. Europe/Berlin, America/New_York, UTC)"
        );
        assert!(parse_timezone(&"x".repeat(100_000)).unwrap_err().message.len() < 200);
        assert_eq!(parse_timezone(" Europe/Berlin ").unwrap(), Tz::Europe__Berlin);
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
