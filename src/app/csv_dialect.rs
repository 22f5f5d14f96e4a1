//! CSV files as people's tools save them: a UTF-8 byte-order mark, `,` `;` tab or `|` between
//! columns, LF, CRLF or CR line endings, quoted fields that span lines, and headers in any case and
//! spacing, or named otherwise and mapped with `--columns`. Every line number given back is the
//! physical line an editor shows, whatever the line endings and however many lines the fields
//! before it span. The `csv` crate does the reading; this module chooses how it reads and maps
//! its byte positions back to lines.

use std::collections::HashMap;
use std::io::Read;

use super::{AppError, AppResult};
use crate::domain::activity::shorten;

/// The separators rally recognises, in the order a tie is reported.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How a delimiter is named in messages and on the command line.
pub fn delimiter_name(d: u8) -> &'static str {
    match d {
        b',' => "`,`",
        b';' => "`;`",
        b'\t' => "tab",
        b'|' => "`|`",
        _ => "?",
    }
}

/// Reads `--delimiter`: `,`, `;`, `|`, `tab` (or a tab character).
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "|" | "pipe" => Ok(b'|'),
        "\t" | "tab" | "\\t" => Ok(b'\t'),
        other => Err(format!("`{}` is not a delimiter rally reads; use `,`, `;`, `|` or tab", shorten(other, 10))),
    }
}

/// A whole CSV file in memory, with where each physical line starts.
pub struct CsvFile {
    data: Vec<u8>,
    /// Byte offset of each physical line's first byte (line 1 at 0).
    line_starts: Vec<usize>,
    pub delimiter: u8,
    /// Whether the delimiter was found in the header rather than given.
    pub detected: bool,
}

impl CsvFile {
    /// Reads `input` whole, strips a UTF-8 byte-order mark, and settles the delimiter: the one
    /// given, or the one the header line holds most of. A header that holds two equally often is
    /// ambiguous and refused, asking for `--delimiter`.
    pub fn load(mut input: impl Read, delimiter: Option<u8>) -> AppResult<Self> {
        let mut data = Vec::new();
        input.read_to_end(&mut data).map_err(|e| AppError::User(format!("cannot read the file: {e}")))?;
        if data.starts_with(&[0xFF, 0xFE]) || data.starts_with(&[0xFE, 0xFF]) {
            return Err(AppError::User(
                "this file is UTF-16 text; save it as UTF-8 (in Excel: CSV UTF-8) and import it again".into(),
            ));
        }
        if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
            data.drain(..3);
        }
        let line_starts = line_starts(&data);
        let (delimiter, detected) = match delimiter {
            Some(d) => (d, false),
            None => (detect(header_line(&data))?, true),
        };
        Ok(CsvFile { data, line_starts, delimiter, detected })
    }

    /// A reader over the file with its delimiter; records may have fewer or more fields than
    /// the header (reported per row).
    pub fn reader(&self) -> csv::Reader<&[u8]> {
        csv::ReaderBuilder::new().delimiter(self.delimiter).flexible(true).from_reader(self.data.as_slice())
    }

    /// The physical line (1-based) of the record that starts at byte `at`. The `csv` crate may
    /// place a record's start on the line ending before it (the `\n` of a CRLF), so line endings
    /// are stepped over first.
    pub fn line_of(&self, at: u64) -> u64 {
        let mut at = usize::try_from(at).unwrap_or(usize::MAX).min(self.data.len());
        while at < self.data.len() && matches!(self.data[at], b'\r' | b'\n') {
            at += 1;
        }
        self.line_starts.partition_point(|&start| start <= at) as u64
    }

    /// How many of each candidate delimiter the header line holds outside quotes.
    pub fn header_counts(&self) -> [(u8, usize); 4] {
        counts(header_line(&self.data))
    }
}

/// Offsets where physical lines start: after every `\n`, every `\r\n`, and every lone `\r`.
fn line_starts(data: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    for (i, &b) in data.iter().enumerate() {
        let ends_line = b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n'));
        if ends_line {
            starts.push(i + 1);
        }
    }
    starts
}

/// The header record's bytes: up to the first line ending outside quotes.
fn header_line(data: &[u8]) -> &[u8] {
    let mut quoted = false;
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted => return &data[..i],
            _ => {}
        }
    }
    data
}

fn counts(header: &[u8]) -> [(u8, usize); 4] {
    let mut quoted = false;
    let mut n = DELIMITERS.map(|d| (d, 0));
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(slot) = n.iter_mut().find(|(d, _)| *d == b) {
            slot.1 += 1;
        }
    }
    n
}

/// The delimiter the header line holds most of; `,` for a one-column header.
fn detect(header: &[u8]) -> AppResult<u8> {
    let n = counts(header);
    let most = n.iter().map(|(_, c)| *c).max().unwrap_or(0);
    if most == 0 {
        return Ok(b',');
    }
    let top: Vec<u8> = n.iter().filter(|(_, c)| *c == most).map(|(d, _)| *d).collect();
    if top.len() > 1 {
        let names: Vec<&str> = top.iter().map(|d| delimiter_name(*d)).collect();
        return Err(AppError::User(format!(
            "the header line holds as many {} as {}, so which one separates the columns is unclear; \
             say it with --delimiter (e.g. --delimiter ';')",
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        )));
    }
    Ok(top[0])
}

/// Header names compared the way people mean them: case, spaces, `_` and `-` do not matter
/// (`Occurred At`, `occurred-at` and `OCCURRED_AT` are one name).
pub fn normal_name(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, ' ' | '_' | '-' | '\u{a0}')).flat_map(char::to_lowercase).collect()
}

/// `--columns occurred_at="Due date",user_id=Owner`: which of the file's headers holds each of
/// rally's columns. Pairs are separated by commas; a header may be quoted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMap(pub Vec<(String, String)>);

impl ColumnMap {
    /// Reads the pairs, checking each name against `known` (rally's column names).
    pub fn parse(text: &str, known: &[&str]) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        let record = match reader.records().next() {
            Some(Ok(r)) => r,
            _ => return Err("write --columns as name=Header pairs, e.g. occurred_at=\"Due date\",user_id=Owner".into()),
        };
        for pair in record.iter() {
            let Some((name, header)) = pair.split_once('=') else {
                return Err(format!("`{}` is not a name=Header pair", shorten(pair, 40)));
            };
            let name = name.trim().to_ascii_lowercase();
            let header = header.trim().trim_matches('"').trim();
            if !known.contains(&name.as_str()) {
                return Err(format!("`{}` is not one of rally's columns ({})", shorten(&name, 40), known.join(", ")));
            }
            if header.is_empty() {
                return Err(format!("--columns gives no header for {name}"));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(format!("--columns maps {name} twice"));
            }
            pairs.push((name, header.to_string()));
        }
        Ok(ColumnMap(pairs))
    }
}

/// Which field of a record holds each of rally's columns.
#[derive(Debug)]
pub struct Columns {
    index: HashMap<&'static str, usize>,
}

impl Columns {
    /// Matches the file's header against rally's `columns`, through `map` first. A required column
    /// nothing matches is refused with the file's columns and, when the header seems to be split
    /// by another delimiter, that diagnosis.
    pub fn resolve(
        header: &csv::StringRecord,
        columns: &[&'static str],
        required: &[&'static str],
        map: &ColumnMap,
        file: &CsvFile,
    ) -> AppResult<Self> {
        let names: Vec<&str> = header.iter().map(str::trim).collect();
        let find = |wanted: &str| names.iter().position(|h| normal_name(h) == normal_name(wanted));
        let mut index = HashMap::new();
        for &column in columns {
            match map.0.iter().find(|(name, _)| name == column) {
                Some((_, header)) => match find(header) {
                    Some(i) => {
                        index.insert(column, i);
                    }
                    None => {
                        return Err(AppError::User(format!(
                            "--columns maps {column} to `{}`, but the file has no such column; its columns are: {}",
                            shorten(header, 60),
                            listing(&names)
                        )));
                    }
                },
                None => {
                    if let Some(i) = find(column) {
                        index.insert(column, i);
                    }
                }
            }
        }
        let missing: Vec<&str> = required.iter().copied().filter(|c| !index.contains_key(c)).collect();
        if missing.is_empty() {
            return Ok(Columns { index });
        }
        // One column that holds another delimiter: the file is split by something else.
        if names.len() == 1 {
            let counts = file.header_counts();
            if let Some((d, n)) = counts.iter().filter(|(d, n)| *n > 0 && *d != file.delimiter).max_by_key(|(_, n)| *n)
            {
                return Err(AppError::User(format!(
                    "this file looks {}-separated (its header holds {n} of them and no {}); import it with --delimiter '{}'{}",
                    delimiter_name(*d),
                    delimiter_name(file.delimiter),
                    if *d == b'\t' { "tab".to_string() } else { (*d as char).to_string() },
                    if file.detected { "" } else { " or without --delimiter" }
                )));
            }
        }
        let example = missing[0];
        Err(AppError::User(format!(
            "no column matches {}; the file's columns are: {}. Rename the header, or map it with --columns {example}=\"Your header\"",
            missing.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
            listing(&names)
        )))
    }

    /// The field of `column` in `record`, trimmed; empty when the column is absent.
    pub fn get<'r>(&self, record: &'r csv::StringRecord, column: &str) -> &'r str {
        self.index.get(column).and_then(|i| record.get(*i)).map(str::trim).unwrap_or("")
    }
}

fn listing(names: &[&str]) -> String {
    let shown: Vec<String> = names.iter().take(30).map(|n| format!("`{}`", shorten(n, 40))).collect();
    let more = names.len().saturating_sub(30);
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_is_the_one_the_header_holds_most_of_outside_quotes() {
        assert_eq!(detect(b"a,b,c").unwrap(), b',');
        assert_eq!(detect(b"a;b;c").unwrap(), b';');
        assert_eq!(detect(b"a\tb\tc").unwrap(), b'\t');
        assert_eq!(detect(b"a|b|c").unwrap(), b'|');
        assert_eq!(detect(b"\"a;x\",b,c").unwrap(), b',');
        assert_eq!(detect(b"occurred_at").unwrap(), b',');
        let err = detect(b"a,b;c").unwrap_err().to_string();
        assert!(err.contains("as many `,` as `;`"), "{err}");
    }

    #[test]
    fn physical_lines_are_counted_for_every_line_ending() {
        for (data, at, want) in [
            (&b"h\na\nb\n"[..], 4, 3),
            (&b"h\r\na\r\nb\r\n"[..], 3, 2),
            (&b"h\r\na\r\nb\r\n"[..], 5, 3),
            (&b"h\ra\rb\r"[..], 4, 3),
            (&b"h\n\"a\nb\"\nc\n"[..], 8, 4),
        ] {
            let file = CsvFile { line_starts: line_starts(data), data: data.to_vec(), delimiter: b',', detected: true };
            assert_eq!(file.line_of(at), want, "{:?} at {at}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn header_names_match_in_any_case_and_spacing() {
        assert_eq!(normal_name(" Occurred At "), normal_name("occurred_at"));
        assert_eq!(normal_name("USER-ID"), normal_name("user_id"));
        assert_ne!(normal_name("user"), normal_name("user_id"));
    }

    #[test]
    fn column_maps_are_read_and_checked() {
        let known = ["occurred_at", "user_id"];
        let map = ColumnMap::parse("occurred_at=\"Due date\",user_id=Owner", &known).unwrap();
        assert_eq!(map.0, [("occurred_at".into(), "Due date".into()), ("user_id".into(), "Owner".into())]);
        assert_eq!(ColumnMap::parse("Occurred_At=Due date", &known).unwrap().0[0].1, "Due date");
        assert!(ColumnMap::parse("when=Due", &known).unwrap_err().contains("not one of rally's columns"));
        assert!(ColumnMap::parse("occurred_at", &known).unwrap_err().contains("not a name=Header pair"));
        assert!(ColumnMap::parse("user_id=A,user_id=B", &known).unwrap_err().contains("twice"));
        assert!(ColumnMap::parse("user_id=", &known).unwrap_err().contains("no header"));
    }
}
