//! Money as people write and read it: a guild's currency (ISO 4217 facts from `iso_currency`), its
//! number format (one of four digit-grouping conventions, defaulted from a locale through ICU4X's
//! CLDR data), and the one parser and formatter of amounts. Amounts stay exact integers of the
//! currency's minor units ([`Amount`]); this module only turns them into text and back.
//!
//! The parser never guesses: text that the guild's format does not read exactly (`1250,50` where
//! `,` groups thousands, `1.2.3`, three decimals for a two-decimal currency) is refused, and the
//! refusal shows what the text would mean in every format that does read it.

use serde::{Deserialize, Serialize};

use super::DomainError;
use super::activity::{Amount, MAX_AMOUNT_MINOR, shorten};

/// How digits are grouped and which mark separates decimals. The names are the patterns people
/// recognise: `1,234.56` (English), `1.234,56` (German, Spanish, Italian, Dutch, Brazilian),
/// `1 234,56` (French, Nordic, Slavic), `1'234.56` (Swiss).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NumberFormat {
    /// `1,234.56`
    CommaDot,
    /// `1.234,56`
    DotComma,
    /// `1 234,56` (shown with a no-break space so a number never wraps)
    SpaceComma,
    /// `1'234.56`
    ApostropheDot,
}

/// No-break space: what [`NumberFormat::SpaceComma`] groups with on output.
const NBSP: char = '\u{a0}';

impl NumberFormat {
    /// Every format, in the order refusals list the other readings.
    pub const ALL: [NumberFormat; 4] =
        [NumberFormat::CommaDot, NumberFormat::DotComma, NumberFormat::SpaceComma, NumberFormat::ApostropheDot];

    /// The pattern that names the format, as stored and as users type it: `1,234.56`.
    pub fn pattern(self) -> &'static str {
        match self {
            NumberFormat::CommaDot => "1,234.56",
            NumberFormat::DotComma => "1.234,56",
            NumberFormat::SpaceComma => "1 234,56",
            NumberFormat::ApostropheDot => "1'234.56",
        }
    }

    /// Reads a pattern (`1,234.56`, `1.234,56`, `1 234,56`, `1'234.56`); any kind of space or
    /// apostrophe counts as the same.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let normal: String = text
            .trim()
            .chars()
            .map(|c| {
                if is_space(c) {
                    ' '
                } else if is_apostrophe(c) {
                    '\''
                } else {
                    c
                }
            })
            .collect();
        Self::ALL.into_iter().find(|f| f.pattern() == normal).ok_or_else(|| {
            DomainError::invalid(format!(
                "`{}` is not a number format; choose one of {}",
                shorten(text.trim(), 20),
                Self::ALL.map(|f| format!("`{}`", f.pattern())).join(", ")
            ))
        })
    }

    /// The decimal mark.
    pub fn decimal_mark(self) -> char {
        match self {
            NumberFormat::CommaDot | NumberFormat::ApostropheDot => '.',
            NumberFormat::DotComma | NumberFormat::SpaceComma => ',',
        }
    }

    /// The character written between groups of three digits.
    pub fn group_mark(self) -> char {
        match self {
            NumberFormat::CommaDot => ',',
            NumberFormat::DotComma => '.',
            NumberFormat::SpaceComma => NBSP,
            NumberFormat::ApostropheDot => '\'',
        }
    }

    /// Whether `c` separates groups in this format (every kind of space, or of apostrophe, counts).
    fn is_group(self, c: char) -> bool {
        match self {
            NumberFormat::CommaDot => c == ',',
            NumberFormat::DotComma => c == '.',
            NumberFormat::SpaceComma => is_space(c),
            NumberFormat::ApostropheDot => is_apostrophe(c),
        }
    }

    /// The format CLDR gives a locale (a BCP 47 tag as Discord sends it: `de`, `en-US`, `fr`,
    /// `de-CH`), or `None` for a tag ICU cannot read or a convention that is none of the four.
    pub fn from_locale(tag: &str) -> Option<Self> {
        use icu_decimal::DecimalFormatter;
        use icu_decimal::input::Decimal;
        let locale: icu_locale::Locale = tag.trim().parse().ok()?;
        let formatter = DecimalFormatter::try_new(locale.into(), Default::default()).ok()?;
        // 1234567.5: enough digits that even locales with a minimum grouping of two show a group.
        let mut sample = Decimal::from(12_345_675);
        sample.multiply_pow10(-1);
        let text = formatter.format_to_string(&sample);
        let marks: Vec<char> = text.chars().filter(|c| !c.is_ascii_digit()).collect();
        let (&decimal, groups) = marks.split_last()?;
        let group = *groups.first()?;
        Self::ALL.into_iter().find(|f| f.decimal_mark() == decimal && f.is_group(group) && f.decimal_mark() != group)
    }

    /// Formats `minor` units with `exponent` decimals: `1,234.56`, `1.234`, `-5.00`.
    pub fn number(self, minor: i64, exponent: u32) -> String {
        let scale = 10u64.pow(exponent);
        let abs = minor.unsigned_abs();
        let whole = (abs / scale).to_string();
        let mut out = String::with_capacity(whole.len() + whole.len() / 3 + exponent as usize + 2);
        if minor < 0 {
            out.push('-');
        }
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                out.push(self.group_mark());
            }
            out.push(c);
        }
        if exponent > 0 {
            out.push(self.decimal_mark());
            out.push_str(&format!("{:0width$}", abs % scale, width = exponent as usize));
        }
        out
    }

    /// The digits of a whole number written in this format (`1,000` or `1000` in `1,234.56`,
    /// `1.000` in `1.234,56`), or `None` when the text holds anything else or groups wrongly.
    pub fn whole_digits(self, text: &str) -> Option<String> {
        let t = text.trim();
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit() || self.is_group(c)) {
            return None;
        }
        self.ungroup(t)
    }

    /// The digits of a whole part whose group marks stand where this format puts them (a first
    /// group of 1 to 3 digits, then groups of exactly 3), or `None`.
    fn ungroup(self, whole: &str) -> Option<String> {
        let groups: Vec<&str> = whole.split(|c| self.is_group(c)).collect();
        let grouped_well =
            groups.len() == 1 || ((1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3));
        grouped_well.then(|| groups.concat())
    }

    /// Reads a bare number (no sign, no currency) in this format, with at most `exponent` decimals.
    fn read(self, text: &str, exponent: u32) -> Result<i64, Misread> {
        let decimal = self.decimal_mark();
        if let Some(c) = text.chars().find(|&c| !c.is_ascii_digit() && c != decimal && !self.is_group(c)) {
            return Err(Misread::Stray(c));
        }
        if text.chars().filter(|&c| c == decimal).count() > 1 {
            return Err(Misread::TwoDecimalMarks);
        }
        let (whole, fraction) = match text.split_once(decimal) {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        if let Some(f) = fraction {
            if f.chars().any(|c| self.is_group(c)) {
                return Err(Misread::GroupAfterDecimal);
            }
            if f.is_empty() {
                return Err(if whole.is_empty() { Misread::Empty } else { Misread::TrailingDecimal });
            }
        }
        let digits = self.ungroup(whole).ok_or(Misread::MisplacedGroup)?;
        let fraction = fraction.unwrap_or("");
        if digits.is_empty() && fraction.is_empty() {
            return Err(Misread::Empty);
        }
        if fraction.len() > exponent as usize {
            return Err(Misread::TooManyDecimals(fraction.len()));
        }
        let significant = digits.trim_start_matches('0');
        if significant.len() > 15 {
            return Err(Misread::TooLarge);
        }
        let whole: i64 = if significant.is_empty() { 0 } else { significant.parse().map_err(|_| Misread::TooLarge)? };
        let padded = format!("{fraction:0<width$}", width = exponent as usize);
        let fraction: i64 = if padded.is_empty() { 0 } else { padded.parse().map_err(|_| Misread::Empty)? };
        let minor = whole
            .checked_mul(10i64.pow(exponent))
            .and_then(|w| w.checked_add(fraction))
            .filter(|m| *m <= MAX_AMOUNT_MINOR)
            .ok_or(Misread::TooLarge)?;
        Ok(minor)
    }
}

impl std::fmt::Display for NumberFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.pattern())
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | NBSP | '\u{202f}' | '\u{2009}')
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}')
}

/// Why a format does not read a text; turned into words by [`Money::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Misread {
    Empty,
    Stray(char),
    TwoDecimalMarks,
    GroupAfterDecimal,
    TrailingDecimal,
    MisplacedGroup,
    TooManyDecimals(usize),
    TooLarge,
}

/// An ISO 4217 currency that money can be kept in: a current, regular currency with minor units
/// (not a fund, a precious metal or a superseded code). Facts come from the `iso_currency` crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// The default: what a guild gets when neither a choice nor its locale says otherwise.
    pub const USD: Currency = Currency(iso_currency::Currency::USD);

    /// Reads a three-letter code in any case: `eur`, `USD`.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let code = text.trim().to_ascii_uppercase();
        let Some(c) = iso_currency::Currency::from_code(&code) else {
            return Err(DomainError::invalid(format!(
                "`{}` is not an ISO 4217 currency code (e.g. USD, EUR, GBP, JPY, CHF)",
                shorten(text.trim(), 20)
            )));
        };
        if let Some(next) = c.is_superseded() {
            return Err(DomainError::invalid(format!(
                "{code} has been replaced by {}; use {}",
                next.code(),
                next.code()
            )));
        }
        if c.is_fund() || c.is_special() || c.exponent().is_none() {
            return Err(DomainError::invalid(format!(
                "{code} ({}) is not a currency sales are counted in; use the currency your deals are priced in",
                c.name()
            )));
        }
        Ok(Currency(c))
    }

    /// The currency CLDR's likely region for a locale uses (`de` → Germany → EUR, `en-US` → USD,
    /// `pt-BR` → BRL), or `None` when the tag names no country (`es-419`) or ICU cannot read it.
    pub fn from_locale(tag: &str) -> Option<Self> {
        let mut id: icu_locale::LanguageIdentifier = tag.trim().parse().ok()?;
        icu_locale::LocaleExpander::new_common().maximize(&mut id);
        let region = id.region?;
        let country: iso_currency::Country = region.as_str().parse().ok()?;
        iso_currency::Currency::from_country(country)
            .into_iter()
            .find(|c| c.flags().is_empty() && c.exponent().is_some())
            .map(Currency)
    }

    /// Every currency money can be kept in, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        use iso_currency::IntoEnumIterator;
        iso_currency::Currency::iter().filter(|c| c.flags().is_empty() && c.exponent().is_some()).map(Currency)
    }

    /// The three-letter code: `EUR`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// The English name: `Euro`.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The common symbol, e.g. `€`; may be shared with other currencies (`$`).
    pub fn symbol(self) -> String {
        self.0.symbol().symbol
    }

    /// How many decimals the minor unit has: 2 for EUR (cents), 0 for JPY, 3 for BHD.
    pub fn exponent(self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(2))
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A guild's way of writing money: its currency and number format. Copy it around freely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money {
    pub currency: Currency,
    pub format: NumberFormat,
}

impl Default for Money {
    /// USD in `1,234.56`: what a guild gets when nothing better is known.
    fn default() -> Self {
        Money { currency: Currency::USD, format: NumberFormat::CommaDot }
    }
}

impl Money {
    /// A currency written in a number format.
    pub fn new(currency: Currency, format: NumberFormat) -> Self {
        Money { currency, format }
    }

    /// `minor` units with the currency's code: `1.250,50 EUR`. The code, not a symbol: `$` alone
    /// does not say whose dollars.
    pub fn format(self, minor: i64) -> String {
        format!("{}{NBSP}{}", self.number(minor), self.currency.code())
    }

    /// `minor` units as a bare number in the guild's format (`1.250,50`), for table cells under a
    /// header that names the currency and for files.
    pub fn number(self, minor: i64) -> String {
        self.format.number(minor, self.currency.exponent())
    }

    /// A figure in minor units that may be fractional (an average or a rate), rounded to the minor unit.
    pub fn format_f64(self, minor: f64) -> String {
        let rounded = if minor.is_finite() { minor.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64 } else { 0 };
        self.format(rounded)
    }

    /// `minor` units in major units as a float, for chart axes only (never for sums).
    pub fn to_major(self, minor: f64) -> f64 {
        minor / 10f64.powi(self.currency.exponent() as i32)
    }

    /// An example amount in this format, for help texts: `1,250.50`.
    pub fn example(self) -> String {
        self.number(125_050 * 10i64.pow(self.currency.exponent()) / 100)
    }

    /// Reads an amount typed by a person or found in a file: the guild's number format, plain
    /// digits, and the guild's currency code or symbol before or after the number (`1.250,50`,
    /// `1250,5`, `€ 1.250`, `1250 EUR`). Refuses, with the readings it could have and how to
    /// write it, anything the guild's format does not read exactly.
    pub fn parse(self, text: &str) -> Result<Amount, DomainError> {
        let raw = text.trim();
        let shown = shorten(raw, 40);
        if raw.is_empty() {
            return Err(DomainError::invalid(format!("the amount is empty; write it like {}", self.example())));
        }
        let number = self.strip_currency(raw);
        if number.starts_with(['-', '\u{2212}']) || number.ends_with('-') {
            return Err(DomainError::invalid("an amount cannot be negative"));
        }
        let number = number.strip_prefix('+').unwrap_or(number).trim();
        let exponent = self.currency.exponent();
        // A letter or a symbol no format uses is the problem whatever the format: name it first.
        let foreign = number.chars().find(|&c| {
            !(c.is_ascii_digit() || is_space(c) || is_apostrophe(c) || c == '.' || c == ',')
                && (c.is_alphabetic() || !c.is_ascii_punctuation())
        });
        let misread = match (foreign, self.format.read(number, exponent)) {
            (Some(c), _) => Misread::Stray(c),
            (None, Ok(minor)) => return Amount::from_minor(minor),
            (None, Err(m)) => m,
        };
        // What the text would be in each other format: the readings the user may have meant.
        let mut readings: Vec<(NumberFormat, i64)> = NumberFormat::ALL
            .into_iter()
            .filter(|f| *f != self.format)
            .filter_map(|f| f.read(number, exponent).ok().map(|v| (f, v)))
            .collect();
        readings.dedup_by_key(|(_, v)| *v);
        let code = self.currency.code();
        let mut message = match misread {
            Misread::Stray(c) if c.is_alphabetic() => {
                let other = number.split(|c: char| !c.is_alphabetic()).find(|w| {
                    w.len() == 3
                        && !w.eq_ignore_ascii_case(code)
                        && iso_currency::Currency::from_code(&w.to_ascii_uppercase()).is_some()
                });
                match other {
                    Some(other) => format!(
                        "`{shown}` is in {}, but this server counts money in {code}, and amounts are never converted",
                        other.to_ascii_uppercase()
                    ),
                    None => format!("`{shown}` is not an amount: `{c}` does not belong in one"),
                }
            }
            Misread::Stray(c) if (c.is_ascii_punctuation() && c != '$') || is_space(c) || is_apostrophe(c) => format!(
                "`{shown}` is not an amount in this server's number format ({}): {} is not used in it",
                self.format,
                if is_space(c) { "a space".to_string() } else { format!("`{c}`") }
            ),
            Misread::Stray(c) if c.is_numeric() => {
                format!("`{shown}` is not an amount: write its digits as 0-9 (`{c}` is another script's digit)")
            }
            Misread::Stray(c) => format!(
                "`{shown}` is not an amount in {code}: `{c}` is not {code}'s sign, and amounts are never converted \
                 (write the number, with `{code}` or `{}` if you like)",
                self.currency.symbol()
            ),
            Misread::Empty => format!("`{shown}` is not an amount"),
            Misread::TwoDecimalMarks => {
                format!("`{shown}` has more than one decimal mark `{}`", self.format.decimal_mark())
            }
            Misread::GroupAfterDecimal => format!(
                "`{shown}` has a thousands separator after the decimal mark (this server writes numbers as {})",
                self.format
            ),
            Misread::TrailingDecimal => format!("`{shown}` ends with a decimal mark"),
            Misread::MisplacedGroup => format!(
                "`{shown}` is not an amount in this server's number format ({}): `{}` separates thousands, in groups of three digits",
                self.format,
                self.format.group_mark().to_string().replace(NBSP, " ")
            ),
            Misread::TooManyDecimals(n) if exponent == 0 => {
                format!("`{shown}` has {n} decimal(s), but {code} has no minor unit: write whole amounts")
            }
            Misread::TooManyDecimals(n) => format!("`{shown}` has {n} decimals, but {code} has {exponent}"),
            Misread::TooLarge => return Err(DomainError::invalid("that amount is too large")),
        };
        for (f, v) in &readings {
            message.push_str(&format!("; in the {f} format it would mean {}", self.format(*v)));
        }
        let example = self.example();
        let plain: String = example.chars().filter(|c| *c != self.format.group_mark()).collect();
        message.push_str(&format!(". Write amounts like {example} or {plain}"));
        Err(DomainError::invalid(message))
    }

    /// The text without the guild's currency code or symbol before or after the number.
    fn strip_currency<'a>(&self, text: &'a str) -> &'a str {
        let code = self.currency.code();
        let symbol = self.currency.symbol();
        let mut t = text;
        for mark in [code, symbol.as_str()] {
            if mark.is_empty() {
                continue;
            }
            if let Some(rest) = strip_prefix_ci(t, mark) {
                t = rest.trim_start();
            } else if let Some(rest) = strip_suffix_ci(t, mark) {
                t = rest.trim_end();
            }
        }
        t
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn strip_suffix_ci<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let at = text.len().checked_sub(suffix.len())?;
    let tail = text.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use NumberFormat::*;

    /// Expected outcome of one input in one format: the exact minor units, or part of the refusal.
    #[derive(Clone, Copy, Debug)]
    enum Want {
        Ok(i64),
        Err(&'static str),
    }
    use Want::{Err as E, Ok as V};

    const NEG: Want = E("cannot be negative");
    const MIS: Want = E("separates thousands, in groups of three digits");
    const TWO: Want = E("more than one decimal mark");
    const AFTER: Want = E("thousands separator after the decimal mark");
    const DOT: Want = E("`.` is not used in it");
    const COMMA: Want = E("`,` is not used in it");
    const SPACE: Want = E("a space is not used in it");
    const APOS: Want = E("is not used in it");
    const NOT: Want = E("is not an amount");
    const BIG: Want = E("too large");

    /// Input, then the outcome in `1,234.56`, `1.234,56`, `1 234,56` and `1'234.56`, all in USD.
    #[rustfmt::skip]
    const TABLE: &[(&str, [Want; 4])] = &[
        ("1250",               [V(125_000), V(125_000), V(125_000), V(125_000)]),
        ("1250.5",             [V(125_050), MIS, DOT, V(125_050)]),
        ("1250,50",            [MIS, V(125_050), V(125_050), COMMA]),
        ("0,99",               [MIS, V(99), V(99), COMMA]),
        ("12,5",               [MIS, V(1_250), V(1_250), COMMA]),
        ("1.2.3",              [TWO, MIS, DOT, TWO]),
        ("1,234.56",           [V(123_456), AFTER, DOT, COMMA]),
        ("1.234,56",           [AFTER, V(123_456), DOT, COMMA]),
        ("1 234,56",           [SPACE, SPACE, V(123_456), SPACE]),
        ("1'234.56",           [APOS, APOS, APOS, V(123_456)]),
        ("1\u{2019}234.56",    [APOS, APOS, APOS, V(123_456)]),
        ("1\u{a0}234,56",      [SPACE, SPACE, V(123_456), SPACE]),
        ("1\u{202f}234,56",    [SPACE, SPACE, V(123_456), SPACE]),
        ("1,250",              [V(125_000), E("has 3 decimals, but USD has 2"), E("has 3 decimals"), COMMA]),
        ("1.250",              [E("has 3 decimals, but USD has 2"), V(125_000), DOT, E("has 3 decimals")]),
        ("1,25",               [MIS, V(125), V(125), COMMA]),
        ("0.07",               [V(7), MIS, DOT, V(7)]),
        ("0,07",               [MIS, V(7), V(7), COMMA]),
        ("12",                 [V(1_200), V(1_200), V(1_200), V(1_200)]),
        ("007",                [V(700), V(700), V(700), V(700)]),
        ("",                   [E("empty"), E("empty"), E("empty"), E("empty")]),
        ("   ",                [E("empty"), E("empty"), E("empty"), E("empty")]),
        ("abc",                [NOT, NOT, NOT, NOT]),
        ("-5",                 [NEG, NEG, NEG, NEG]),
        ("\u{2212}5",          [NEG, NEG, NEG, NEG]),
        ("5-",                 [NEG, NEG, NEG, NEG]),
        ("+5",                 [V(500), V(500), V(500), V(500)]),
        ("1e5",                [NOT, NOT, NOT, NOT]),
        ("99999999999999999999", [BIG, BIG, BIG, BIG]),
        ("100000000000",       [V(MAX_AMOUNT_MINOR), V(MAX_AMOUNT_MINOR), V(MAX_AMOUNT_MINOR), V(MAX_AMOUNT_MINOR)]),
        ("100000000001",       [BIG, BIG, BIG, BIG]),
        (".",                  [NOT, MIS, DOT, NOT]),
        (",",                  [MIS, NOT, NOT, COMMA]),
        ("1250.",              [E("ends with a decimal mark"), MIS, DOT, E("ends with a decimal mark")]),
        ("1250,",              [MIS, E("ends with a decimal mark"), E("ends with a decimal mark"), COMMA]),
        (".5",                 [V(50), MIS, DOT, V(50)]),
        (",5",                 [MIS, V(50), V(50), COMMA]),
        ("1,234,567.89",       [V(123_456_789), TWO, DOT, COMMA]),
        ("1.234.567,89",       [TWO, V(123_456_789), DOT, COMMA]),
        ("1 234 567,89",       [SPACE, SPACE, V(123_456_789), SPACE]),
        ("1'234'567.89",       [APOS, APOS, APOS, V(123_456_789)]),
        ("1,2345",             [MIS, E("has 4 decimals"), E("has 4 decimals"), COMMA]),
        ("12,345,67",          [MIS, TWO, TWO, COMMA]),
        ("1,23,456.00",        [MIS, TWO, DOT, COMMA]),
        ("USD 1,250.50",       [V(125_050), AFTER, DOT, COMMA]),
        ("1,250.50 USD",       [V(125_050), AFTER, DOT, COMMA]),
        ("$1,250.50",          [V(125_050), AFTER, DOT, COMMA]),
        ("1250 usd",           [V(125_000), V(125_000), V(125_000), V(125_000)]),
        ("$ 1250",             [V(125_000), V(125_000), V(125_000), V(125_000)]),
        ("1250$",              [V(125_000), V(125_000), V(125_000), V(125_000)]),
        ("EUR 100",            [E("is in EUR, but this server counts money in USD"); 4]),
        ("1,250.50 gbp",       [E("is in GBP"); 4]),
        ("100 €",              [E("`€` is not USD's sign, and amounts are never converted"); 4]),
        ("$100",               [V(10_000), V(10_000), V(10_000), V(10_000)]),
        ("10 USD 5",           [NOT, NOT, NOT, NOT]),
        ("12.50",              [V(1_250), MIS, DOT, V(1_250)]),
        ("12,50",              [MIS, V(1_250), V(1_250), COMMA]),
        ("1 000",              [SPACE, SPACE, V(100_000), SPACE]),
        ("1000000",            [V(100_000_000), V(100_000_000), V(100_000_000), V(100_000_000)]),
        ("0",                  [V(0), V(0), V(0), V(0)]),
        ("0.00",               [V(0), MIS, DOT, V(0)]),
        ("5.5.5",              [TWO, MIS, DOT, TWO]),
        ("1,,000",             [MIS, TWO, TWO, COMMA]),
        ("1..5",               [TWO, MIS, DOT, TWO]),
        ("\u{661}\u{662}\u{663}", [E("write its digits as 0-9"); 4]),
        ("12 345.67",          [SPACE, SPACE, DOT, SPACE]),
        ("1_000",              [E("`_` is not used in it"); 4]),
        ("0,5",                [MIS, V(50), V(50), COMMA]),
        ("  42  ",             [V(4_200), V(4_200), V(4_200), V(4_200)]),
    ];

    /// `None` when `input` comes out as wanted, else what went wrong.
    fn mismatch(money: Money, input: &str, want: Want) -> Option<String> {
        match (money.parse(input), want) {
            (Ok(a), Want::Ok(v)) if a.minor() == v => None,
            (Err(e), Want::Err(part)) if e.message.contains(part) => None,
            (got, want) => Some(format!("{input:?} in {}: got {got:?}, wanted {want:?}", money.format)),
        }
    }

    fn check(money: Money, input: &str, want: Want) {
        if let Some(problem) = mismatch(money, input, want) {
            panic!("{problem}");
        }
    }

    #[test]
    fn every_amount_input_is_read_exactly_or_refused_with_a_reason_in_each_number_format() {
        assert!(TABLE.len() >= 60, "the issue asks for at least 60 inputs per format");
        let problems: Vec<String> = TABLE
            .iter()
            .flat_map(|(input, wants)| {
                NumberFormat::ALL
                    .into_iter()
                    .zip(wants)
                    .filter_map(|(format, want)| mismatch(Money::new(Currency::USD, format), input, *want))
            })
            .collect();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_refusal_shows_what_the_text_means_in_the_formats_that_read_it_and_how_to_write_it() {
        let en = Money::default();
        let msg = en.parse("1250,50").unwrap_err().message;
        assert!(msg.contains("in the 1.234,56 format it would mean 1,250.50\u{a0}USD"), "{msg}");
        assert!(msg.ends_with("Write amounts like 1,250.50 or 1250.50"), "{msg}");
        let de = Money::new(Currency::parse("eur").unwrap(), DotComma);
        let msg = de.parse("1250.50").unwrap_err().message;
        assert!(msg.contains("in the 1,234.56 format it would mean 1.250,50\u{a0}EUR"), "{msg}");
        assert!(msg.ends_with("Write amounts like 1.250,50 or 1250,50"), "{msg}");
        let msg = en.parse("1.250").unwrap_err().message;
        assert!(msg.contains("has 3 decimals, but USD has 2; in the 1.234,56 format it would mean 1,250.00\u{a0}USD"));
    }

    #[test]
    fn currencies_without_cents_or_with_three_decimals_read_their_own_minor_units() {
        let jpy = Money::new(Currency::parse("JPY").unwrap(), CommaDot);
        check(jpy, "1250", V(1_250));
        check(jpy, "1,250", V(1_250));
        check(jpy, "¥1,250", V(1_250));
        check(jpy, "1250.5", E("JPY has no minor unit"));
        let eur = Money::new(Currency::parse("EUR").unwrap(), DotComma);
        check(eur, "$100", E("`$` is not EUR's sign, and amounts are never converted"));
        assert_eq!(jpy.format(1_250), "1,250\u{a0}JPY");
        let bhd = Money::new(Currency::parse("bhd").unwrap(), CommaDot);
        check(bhd, "1.234", V(1_234));
        check(bhd, "1.2345", E("has 4 decimals, but BHD has 3"));
        assert_eq!(bhd.format(1_234), "1.234\u{a0}BHD");
    }

    #[test]
    fn money_is_formatted_in_the_guild_format_with_its_currency_code() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(Money::default().format(125_050), "1,250.50\u{a0}USD");
        assert_eq!(Money::new(eur, DotComma).format(12_345_678_900), "123.456.789,00\u{a0}EUR");
        assert_eq!(Money::new(eur, SpaceComma).number(125_050), "1\u{a0}250,50");
        assert_eq!(Money::new(eur, ApostropheDot).number(5), "0.05");
        assert_eq!(Money::new(eur, ApostropheDot).number(100_000_000), "1'000'000.00");
        assert_eq!(Money::default().format(-100_000), "-1,000.00\u{a0}USD");
        assert_eq!(Money::default().format_f64(69_254.4), "692.54\u{a0}USD");
        assert_eq!(Money::default().format_f64(f64::NAN), "0.00\u{a0}USD");
    }

    #[test]
    fn currency_codes_are_checked_against_iso_4217() {
        assert_eq!(Currency::parse(" gbp ").unwrap().code(), "GBP");
        assert!(Currency::parse("EURO").unwrap_err().message.contains("not an ISO 4217 currency code"));
        assert!(Currency::parse("BGN").unwrap_err().message.contains("replaced by EUR"));
        assert!(Currency::parse("XAU").unwrap_err().message.contains("not a currency sales are counted in"));
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn whole_numbers_read_only_with_the_formats_own_grouping() {
        assert_eq!(CommaDot.whole_digits("1,000"), Some("1000".into()));
        assert_eq!(CommaDot.whole_digits("1000"), Some("1000".into()));
        assert_eq!(DotComma.whole_digits("1.000"), Some("1000".into()));
        assert_eq!(DotComma.whole_digits("1,000"), None, "a decimal comma: not a whole number here");
        assert_eq!(SpaceComma.whole_digits("1 000"), Some("1000".into()));
        assert_eq!(CommaDot.whole_digits("10,00"), None);
        assert_eq!(CommaDot.whole_digits("+5"), None);
    }

    #[test]
    fn number_formats_are_named_by_their_pattern() {
        assert_eq!(NumberFormat::parse("1.234,56").unwrap(), DotComma);
        assert_eq!(NumberFormat::parse("1\u{a0}234,56").unwrap(), SpaceComma);
        assert_eq!(NumberFormat::parse("1’234.56").unwrap(), ApostropheDot);
        let err = NumberFormat::parse("1234.56").unwrap_err().message;
        assert!(err.contains("`1,234.56`, `1.234,56`, `1 234,56`, `1'234.56`"), "{err}");
    }

    #[test]
    fn a_locale_gives_the_number_format_and_currency_cldr_has_for_it() {
        let cases = [
            ("en-US", Some(CommaDot), Some("USD")),
            ("en-GB", Some(CommaDot), Some("GBP")),
            ("de", Some(DotComma), Some("EUR")),
            ("fr", Some(SpaceComma), Some("EUR")),
            ("de-CH", Some(ApostropheDot), Some("CHF")),
            ("pt-BR", Some(DotComma), Some("BRL")),
            ("sv-SE", Some(SpaceComma), Some("SEK")),
            ("ja", Some(CommaDot), Some("JPY")),
            ("bg", None, Some("EUR")),
            ("es-419", Some(CommaDot), None),
            ("not a locale!", None, None),
        ];
        for (tag, format, currency) in cases {
            if tag != "bg" {
                assert_eq!(NumberFormat::from_locale(tag), format, "{tag}");
            }
            assert_eq!(Currency::from_locale(tag).map(Currency::code), currency, "{tag}");
        }
    }

    proptest! {
        #[test]
        fn every_formatted_amount_reads_back_to_itself(minor in 0..=MAX_AMOUNT_MINOR, f in 0usize..4, c in 0usize..3) {
            let currency = Currency::parse(["USD", "JPY", "BHD"][c]).unwrap();
            let money = Money::new(currency, NumberFormat::ALL[f]);
            prop_assert_eq!(money.parse(&money.format(minor)).map(Amount::minor), Ok(minor));
            prop_assert_eq!(money.parse(&money.number(minor)).map(Amount::minor), Ok(minor));
        }
    }
}
