//! Activity kinds and the validated parts of an activity (quantity, amount, note, deal reference).
//! Values of these types are valid by construction: parse at the edge, trust inside.

use serde::{Deserialize, Serialize};

use super::DomainError;

pub const MAX_QUANTITY: u32 = 1000;
pub const MAX_NOTE_CHARS: usize = 500;
pub const MAX_DEAL_REF_CHARS: usize = 100;
/// Largest amount accepted, in minor units: 100 billion in major units keeps every sum far from
/// i64 overflow even over millions of activities.
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

/// The kind a win is logged with; its amounts are revenue.
pub const WON: &str = "won";
/// The kind a lost deal is logged with; counts against the win rate.
pub const LOST: &str = "lost";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityKind {
    pub name: KindName,
    pub points: i64,
    pub has_amount: bool,
}

/// The kinds a new guild starts with (DESIGN.md).
pub fn default_kinds() -> Vec<ActivityKind> {
    [
        ("call", 1, false),
        ("email", 1, false),
        ("meeting", 3, false),
        ("demo", 5, false),
        ("proposal", 8, false),
        (WON, 20, true),
        (LOST, 0, false),
    ]
    .into_iter()
    .map(|(name, points, has_amount)| ActivityKind { name: KindName(name.to_string()), points, has_amount })
    .collect()
}

/// A kind's name: lowercase ASCII letters, digits, `-` and `_`, 1..=32 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KindName(String);

impl KindName {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim().to_ascii_lowercase();
        let ok = !t.is_empty()
            && t.len() <= 32
            && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(KindName(t))
        } else {
            Err(DomainError::invalid(format!(
                "`{}` is not a valid kind name (1-32 letters, digits, - or _)",
                shorten(text, 40)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many of a kind were done at once: 1..=1000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Quantity(u32);

impl Quantity {
    pub const ONE: Quantity = Quantity(1);

    pub fn new(n: i64) -> Result<Self, DomainError> {
        if (1..=MAX_QUANTITY as i64).contains(&n) {
            Ok(Quantity(n as u32))
        } else {
            Err(DomainError::invalid(format!("quantity must be between 1 and {MAX_QUANTITY}, not {n}")))
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        match t.parse::<i64>() {
            Ok(n) => Self::new(n),
            Err(_) => Err(DomainError::invalid(format!(
                "quantity must be a whole number between 1 and {MAX_QUANTITY}, not `{}`",
                shorten(t, 40)
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Money in minor currency units (cents), never negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Amount(i64);

impl Amount {
    pub fn from_minor(minor: i64) -> Result<Self, DomainError> {
        if minor < 0 {
            return Err(DomainError::invalid("amount cannot be negative"));
        }
        if minor > MAX_AMOUNT_MINOR {
            return Err(DomainError::invalid("amount is too large"));
        }
        Ok(Amount(minor))
    }

    /// Parses a decimal in major units: `1250`, `1250.5`, `1250.00`, `1,250.00`. At most two decimals.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let raw = text.trim();
        let bad =
            || DomainError::invalid(format!("`{}` is not an amount (write it like 1250 or 1250.00)", shorten(raw, 40)));
        if raw.starts_with('-') {
            return Err(DomainError::invalid("amount cannot be negative"));
        }
        let t: String = raw.trim_start_matches('+').chars().filter(|c| *c != ',' && *c != '_').collect();
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, f),
            None => (t.as_str(), ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
            return Err(bad());
        }
        if whole.len() > 15 {
            return Err(DomainError::invalid("amount is too large"));
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let cents: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
            _ => frac.parse().map_err(|_| bad())?,
        };
        Self::from_minor(whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(bad)?)
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for Amount {
    /// `1250.00`: the form `parse` reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Formats minor units for people: `12,500.00`.
pub fn format_money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", abs % 100)
}

/// Free text kept with an activity: at most 500 characters, no control characters but newlines.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Note(String);

impl Note {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        let chars = t.chars().count();
        if chars > MAX_NOTE_CHARS {
            return Err(DomainError::invalid(format!(
                "note is {chars} characters long; the limit is {MAX_NOTE_CHARS}"
            )));
        }
        if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(DomainError::invalid("note contains control characters"));
        }
        Ok(Note(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An optional reference to a deal in a CRM or in rally's pipeline: 1..=100 printable characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DealRef(String);

impl DealRef {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        if t.is_empty() || t.chars().count() > MAX_DEAL_REF_CHARS || t.chars().any(char::is_control) {
            return Err(DomainError::invalid(format!(
                "deal reference must be 1-{MAX_DEAL_REF_CHARS} printable characters"
            )));
        }
        Ok(DealRef(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an activity came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Slash,
    Button,
    Import,
    Cli,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Slash => "slash",
            Source::Button => "button",
            Source::Import => "import",
            Source::Cli => "cli",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "slash" => Source::Slash,
            "button" => Source::Button,
            "import" => Source::Import,
            "cli" => Source::Cli,
            _ => return None,
        })
    }
}

/// A display name: trimmed, 1..=100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub fn parse(text: &str, what: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(DomainError::invalid(format!("{what} cannot be empty")));
        }
        if t.chars().count() > 100 || t.chars().any(char::is_control) {
            return Err(DomainError::invalid(format!("{what} must be at most 100 printable characters")));
        }
        Ok(Name(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Discord snowflake (user, guild, role). Discord ids fit in 63 bits, which SQLite stores natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snowflake(u64);

impl Snowflake {
    pub fn new(id: u64) -> Result<Self, DomainError> {
        if id == 0 || id > i64::MAX as u64 {
            return Err(DomainError::invalid(format!("`{id}` is not a valid Discord id")));
        }
        Ok(Snowflake(id))
    }

    /// Accepts `123`, `<@123>` and `<@!123>`.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        let inner = t
            .strip_prefix("<@!")
            .or_else(|| t.strip_prefix("<@&"))
            .or_else(|| t.strip_prefix("<@"))
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(t);
        match inner.parse::<u64>() {
            Ok(id) => Self::new(id),
            Err(_) => Err(DomainError::invalid(format!("`{}` is not a Discord id", shorten(t, 40)))),
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// The id as SQLite stores it; lossless because `new` caps ids at i64::MAX.
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }
}

impl std::fmt::Display for Snowflake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Cuts text to `max` characters for error messages, so a 1 MB input never ends up in a reply.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// Whether an amount may (or must not) be given for a kind: only kinds that carry amounts take one.
pub fn check_amount(kind: &KindName, has_amount: bool, amount: Option<Amount>) -> Result<(), DomainError> {
    if amount.is_some() && !has_amount {
        return Err(DomainError::invalid(format!("`{kind}` does not carry an amount; only kinds like `won` do")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_from_decimal_major_units() {
        assert_eq!(Amount::parse("1250.00").unwrap().minor(), 125_000);
        assert_eq!(Amount::parse("1,250.5").unwrap().minor(), 125_050);
        assert_eq!(Amount::parse("0.07").unwrap().minor(), 7);
        assert_eq!(Amount::parse("12").unwrap().minor(), 1200);
        assert_eq!(Amount::parse("12").unwrap().to_string(), "12.00");
        for bad in ["-5", "1.234", "abc", "", ".", "1e5", "99999999999999999999", "1.2.3"] {
            assert!(Amount::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn money_is_formatted_with_thousands_separators() {
        assert_eq!(format_money(125_000), "1,250.00");
        assert_eq!(format_money(5), "0.05");
        assert_eq!(format_money(12_345_678_900), "123,456,789.00");
        assert_eq!(format_money(-100_000), "-1,000.00");
    }

    #[test]
    fn quantities_outside_one_to_a_thousand_are_rejected() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(5000).is_err());
        assert!(Quantity::new(-1).is_err());
        assert_eq!(Quantity::parse(" 1000 ").unwrap().get(), 1000);
        assert!(Quantity::parse("2.5").is_err());
    }

    #[test]
    fn notes_are_capped_and_free_of_control_characters() {
        assert!(Note::parse(&"x".repeat(500)).is_ok());
        assert!(Note::parse(&"x".repeat(501)).is_err());
        assert!(Note::parse("bell\u{7}").is_err());
        assert!(Note::parse("two\nlines").is_ok());
        assert!(Note::parse("'; DROP TABLE activities; --").is_ok());
    }

    #[test]
    fn snowflakes_accept_mentions_and_reject_overflow() {
        assert_eq!(Snowflake::parse("<@!42>").unwrap().get(), 42);
        assert_eq!(Snowflake::parse("42").unwrap().get(), 42);
        assert!(Snowflake::parse("18446744073709551615").is_err());
        assert!(Snowflake::parse("0").is_err());
        assert!(Snowflake::parse("bob").is_err());
    }

    #[test]
    fn kind_names_are_normalised_to_lowercase() {
        assert_eq!(KindName::parse(" Call ").unwrap().as_str(), "call");
        assert!(KindName::parse("cold call").is_err());
        assert!(KindName::parse("").is_err());
    }
}
