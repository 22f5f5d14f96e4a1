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

/// Why `typed` is not a kind here, for every place that refuses one (`/log`, kind-remove, CSV
/// import): names the closest kind when one is close ("did you mean `call`?") and always lists
/// the kinds, so a typo is fixed without a trip to `/settings show`.
pub fn unknown_kind(typed: &str, kinds: &[ActivityKind]) -> String {
    let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    let list = names.join(", ");
    let shown = shorten(typed.trim(), 40);
    match super::suggest::closest(typed, names) {
        Some(near) => format!("`{shown}` is not an activity kind here; did you mean `{near}`? The kinds are: {list}"),
        None => format!("`{shown}` is not an activity kind here; try one of: {list}"),
    }
}

/// Why `typed` is not a metric here, where a metric is one of `others` (`points`, `revenue`, ...)
/// or a kind: like [`unknown_kind`], with `others` offered too (`reveune` -> `revenue`).
pub fn unknown_metric(typed: &str, others: &[&str], kinds: &[ActivityKind]) -> String {
    let kind_names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    let (others_list, kind_list) = (others.join(", "), kind_names.join(", "));
    let shown = shorten(typed.trim(), 40);
    match super::suggest::closest(typed, others.iter().copied().chain(kind_names.iter().copied())) {
        Some(near) => {
            format!("`{shown}` is not a metric here; did you mean `{near}`? Use {others_list} or a kind: {kind_list}")
        }
        None => format!("`{shown}` is not a metric here; use {others_list} or a kind: {kind_list}"),
    }
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

/// Money in the guild currency's minor units (cents for EUR, yen for JPY), never negative and at
/// most [`MAX_AMOUNT_MINOR`]. Read and written as text through [`super::money::Money`].
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

    pub fn minor(self) -> i64 {
        self.0
    }
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
    /// Synced from the guild's CRM (poll or webhook).
    Crm,
    /// Pushed through rally's intake API.
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Slash => "slash",
            Source::Button => "button",
            Source::Import => "import",
            Source::Cli => "cli",
            Source::Crm => "crm",
            Source::Api => "api",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "slash" => Source::Slash,
            "button" => Source::Button,
            "import" => Source::Import,
            "cli" => Source::Cli,
            "crm" => Source::Crm,
            "api" => Source::Api,
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
            Err(_) if looks_scientific(inner) => Err(DomainError::invalid(format!(
                "`{}` looks like an id a spreadsheet turned into scientific notation, which loses its last \
                 digits; format the column as text (or the cell as a number with 0 decimals) and export again",
                shorten(t, 40)
            ))),
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

/// Whether text reads like a number in scientific notation, `1.01E+17` or `1,01e17` (a comma where
/// the spreadsheet's locale writes decimals with one): what an 18-digit id becomes in a cell
/// formatted as a number, its last digits already rounded away.
fn looks_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, "0"));
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    digits(whole) && digits(fraction) && digits(exponent)
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
    fn ids_a_spreadsheet_put_in_scientific_notation_are_refused_with_the_reason() {
        for typed in ["1.01E+17", "1,01E+17", "1.01e17", "1E+17", " 1.0123456789E+17 ", "<@1.01E+17>"] {
            let err = Snowflake::parse(typed).unwrap_err().message;
            assert!(err.contains("looks like an id a spreadsheet turned into scientific notation"), "{typed}: {err}");
            assert!(
                err.ends_with("format the column as text (or the cell as a number with 0 decimals) and export again")
            );
        }
        assert_eq!(
            Snowflake::parse("1.01E+17").unwrap_err().message,
            "`1.01E+17` looks like an id a spreadsheet turned into scientific notation, which loses its last digits; \
             format the column as text (or the cell as a number with 0 decimals) and export again"
        );
        for not_scientific in ["E+17", "1.01E", "1.01E+", "e", "1.0.1E5", "1E-", "bob", "1e+-5", "E"] {
            let err = Snowflake::parse(not_scientific).unwrap_err().message;
            assert!(err.ends_with("is not a Discord id"), "{not_scientific}: {err}");
        }
    }

    #[test]
    fn an_unknown_kind_names_the_close_one_and_lists_them_all() {
        let kinds = default_kinds();
        assert_eq!(
            unknown_kind("calls", &kinds),
            "`calls` is not an activity kind here; did you mean `call`? \
             The kinds are: call, email, meeting, demo, proposal, won, lost"
        );
        assert_eq!(
            unknown_kind("dance", &kinds),
            "`dance` is not an activity kind here; try one of: call, email, meeting, demo, proposal, won, lost"
        );
        assert!(unknown_kind(&"x".repeat(100_000), &kinds).len() < 200);
    }

    #[test]
    fn an_unknown_metric_names_the_close_metric_or_kind() {
        let kinds = default_kinds();
        let others = ["points", "revenue", "deals-won"];
        assert_eq!(
            unknown_metric("reveune", &others, &kinds),
            "`reveune` is not a metric here; did you mean `revenue`? \
             Use points, revenue, deals-won or a kind: call, email, meeting, demo, proposal, won, lost"
        );
        assert_eq!(
            unknown_metric("demos", &others, &kinds),
            "`demos` is not a metric here; did you mean `demo`? \
             Use points, revenue, deals-won or a kind: call, email, meeting, demo, proposal, won, lost"
        );
        assert_eq!(
            unknown_metric("vibes", &["points", "revenue"], &kinds),
            "`vibes` is not a metric here; use points, revenue or a kind: call, email, meeting, demo, proposal, won, lost"
        );
    }

    #[test]
    fn kind_names_are_normalised_to_lowercase() {
        assert_eq!(KindName::parse(" Call ").unwrap().as_str(), "call");
        assert!(KindName::parse("cold call").is_err());
        assert!(KindName::parse("").is_err());
    }
}
