//! CSV import and export of activities. Export writes the import format, so a file exported from
//! one guild imports into another unchanged, and importing the same file twice changes nothing.
//! Removal reads a file the way import does and takes its rows back; importing it again brings
//! them back.

use std::collections::HashMap;
use std::io::{Read, Write};

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

use super::{App, AppError, AppResult};
use chrono_tz::Tz;

use super::csv_dialect::{ColumnMap, Columns, CsvFile, delimiter_name};
use crate::domain::activity::{
    ActivityKind, DealRef, KindName, Name, Note, Snowflake, Source, check_amount, shorten, unknown_kind,
};
use crate::domain::money::{Money, NumberFormat};
use crate::domain::period::{Period, PeriodSpec};
use crate::domain::settings::GuildSettings;
use crate::domain::when::TimeForm;
use crate::store::{ActivityRecord, Difference, ImportRow, ImportRowOutcome, RemoveRowOutcome};

/// The columns of the import and export format, in export order.
pub const COLUMNS: [&str; 11] = [
    "occurred_at",
    "user_id",
    "user_name",
    "team",
    "kind",
    "quantity",
    "amount",
    "note",
    "external_id",
    "deal",
    "currency",
];
const REQUIRED: [&str; 5] = ["occurred_at", "user_id", "user_name", "kind", "quantity"];
const MAX_EXTERNAL_ID: usize = 200;
/// Rows per transaction. A page dirtied by many rows of a batch goes to the WAL once per commit,
/// so bigger batches write less per row; this size keeps a batch around a second at 10 M rows, well
/// inside the 10 s another process's writes (a running `rally serve`) wait for the database lock.
const BATCH_ROWS: usize = 50_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// What an import did with each row of the file, and how it read the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub imported: usize,
    pub duplicates: usize,
    pub rejected: Vec<RowError>,
    /// Rows whose key was imported before with other content: left as they were, and said.
    pub changed: Vec<RowError>,
    /// Rows imported as they are, with something worth a word (a win without an amount).
    pub warnings: Vec<RowError>,
    /// How the accepted rows gave their times.
    pub times: TimeCounts,
    pub read_as: ReadAs,
    /// Advice drawn from the rejections as a whole (a file in another number format).
    pub hints: Vec<String>,
    /// Every row of the file, whatever became of it (for scripts reading the JSON).
    pub total_rows: usize,
}

impl ImportSummary {
    /// Every row of the file, whatever became of it.
    pub fn rows(&self) -> usize {
        self.imported + self.duplicates + self.changed.len() + self.rejected.len()
    }
}

/// What `rally import --remove` did with each row of the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RemoveSummary {
    pub removed: usize,
    /// Rows whose key no live activity holds: never imported, or already removed.
    pub not_found: usize,
    pub rejected: Vec<RowError>,
}

impl RemoveSummary {
    /// Every row of the file, whatever became of it.
    pub fn rows(&self) -> usize {
        self.removed + self.not_found + self.rejected.len()
    }
}

/// How to read an import file, as given on the command line. The defaults read what most tools
/// write: the delimiter found in the header, columns by their names, amounts in the guild's format.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// `--delimiter`; `None` finds it in the header.
    pub delimiter: Option<u8>,
    /// `--columns`: the file's header for some of rally's columns.
    pub columns: ColumnMap,
    /// `--number-format`: how the file writes amounts when not as the guild does.
    pub number_format: Option<NumberFormat>,
}

/// How to write an export for the tool that opens it.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// The column separator; `None`: `;` where the guild writes a decimal comma, else `,`.
    pub delimiter: Option<u8>,
    /// A UTF-8 byte-order mark and CRLF line endings, as Excel opens a file by double-click.
    pub excel: bool,
}

/// How many rows gave their time each way (see [`TimeForm`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimeCounts {
    pub with_offset: usize,
    pub local: usize,
    pub date_only: usize,
}

impl TimeCounts {
    fn add(&mut self, form: TimeForm) {
        match form {
            TimeForm::Offset => self.with_offset += 1,
            TimeForm::Local => self.local += 1,
            TimeForm::Date => self.date_only += 1,
        }
    }
}

/// How the file was read, so that a person can see a detection went right.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadAs {
    /// `,`, `;`, `tab` or `|`, and whether it was found in the header.
    pub delimiter: String,
    pub delimiter_detected: bool,
    /// The number format amounts were read in, e.g. `1.234,56`.
    pub number_format: String,
    /// The currency the amounts are taken to be in (the guild's).
    pub currency: String,
    /// The timezone local times were read in (the guild's).
    pub timezone: String,
}

fn read_as(file: &CsvFile, money: Money, tz: Tz) -> ReadAs {
    ReadAs {
        delimiter: delimiter_name(file.delimiter).trim_matches('`').to_string(),
        delimiter_detected: file.detected,
        number_format: money.format.pattern().to_string(),
        currency: money.currency.code().to_string(),
        timezone: tz.name().to_string(),
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A valid row, with how its time was written and what deserves a word though it was accepted.
struct ParsedRow {
    row: ImportRow,
    form: TimeForm,
    warning: Option<String>,
}

/// Why a row was refused, and for a refused amount the other formats that read it.
struct Rejection {
    reason: String,
    amount_reads_in: Vec<NumberFormat>,
}

impl From<String> for Rejection {
    fn from(reason: String) -> Self {
        Rejection { reason, amount_reads_in: Vec::new() }
    }
}

/// What every row of one file is read against.
struct RowRules {
    guild: i64,
    kinds: std::sync::Arc<Vec<ActivityKind>>,
    money: Money,
    tz: Tz,
    now: DateTime<Utc>,
}

/// Validates one row into an activity, or says what is wrong with it.
fn parse_row(
    record: &csv::StringRecord,
    columns: &Columns,
    rules: &RowRules,
    seen: &mut HashMap<(bool, u64), u32>,
) -> Result<ParsedRow, Rejection> {
    let get = |column: &str| columns.get(record, column);
    let raw_at = get("occurred_at");
    let (occurred_at, form) =
        crate::domain::when::parse_timestamp(raw_at, rules.tz).map_err(|e| format!("occurred_at: {e}"))?;
    if occurred_at > rules.now {
        return Err(format!("occurred_at {} is in the future", shorten(raw_at, 40)).into());
    }
    if occurred_at.year() < 2000 {
        return Err(format!("occurred_at {} is before the year 2000", shorten(raw_at, 40)).into());
    }
    let user = Snowflake::parse(get("user_id")).map_err(|e| format!("user_id: {e}"))?;
    let user_name = Name::parse(get("user_name"), "user_name").map_err(|e| e.to_string())?;
    let team = match get("team") {
        "" => None,
        t => Some(Name::parse(t, "team").map_err(|e| e.to_string())?),
    };
    let kind_name = KindName::parse(get("kind")).map_err(|e| e.to_string())?;
    let Some(kind) = rules.kinds.iter().find(|k| k.name == kind_name) else {
        return Err(unknown_kind(kind_name.as_str(), &rules.kinds).into());
    };
    let quantity = match get("quantity") {
        "" => crate::domain::activity::Quantity::ONE,
        q => crate::domain::activity::Quantity::parse(q).map_err(|e| e.to_string())?,
    };
    let ours = rules.money.currency;
    match get("currency") {
        "" => {}
        c if c.eq_ignore_ascii_case(ours.code()) || c == ours.symbol() => {}
        c if crate::domain::money::Currency::parse(c).is_ok() => {
            return Err(format!(
                "currency: the row is in {}, but this server counts money in {ours}; amounts are never converted",
                c.to_ascii_uppercase()
            )
            .into());
        }
        c => {
            return Err(format!(
                "currency: `{}` is not an ISO 4217 code; write {ours} (or leave it empty)",
                shorten(c, 10)
            )
            .into());
        }
    }
    let amount = match get("amount") {
        "" => None,
        a => Some(rules.money.parse(a).map_err(|e| {
            Rejection {
                reason: format!("amount: {e}"),
                amount_reads_in: NumberFormat::ALL
                    .into_iter()
                    .filter(|f| *f != rules.money.format && Money::new(rules.money.currency, *f).parse(a).is_ok())
                    .collect(),
            }
        })?),
    };
    check_amount(&kind.name, kind.has_amount, amount).map_err(|e| e.to_string())?;
    let warning = (kind.has_amount && amount.is_none_or(|a| a.minor() == 0))
        .then(|| format!("a `{}` row without an amount counts as a deal won with no revenue", kind.name));
    // A field that spans lines in a Windows (or old Mac) file keeps its breaks, as `\n`.
    let note = Note::parse(&get("note").replace("\r\n", "\n").replace('\r', "\n")).map_err(|e| e.to_string())?;
    let deal = match get("deal") {
        "" => None,
        d => Some(DealRef::parse(d).map_err(|e| e.to_string())?),
    };
    let (idem_key, alt_key) = match get("external_id") {
        "" => {
            // No external id: the row is what it says, read (who, when, what, how many, how much,
            // the note and deal; the n-th identical row of a file stays distinct from the first),
            // so the same rows imported twice count once however they are spelled (another number
            // format, an offset instead of a local time). A corrected row is another row: only an
            // external id can say that two rows are one activity.
            let content = format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
                user.get(),
                occurred_at.timestamp_millis(),
                kind_name,
                quantity.get(),
                amount.map_or(String::new(), |a| a.minor().to_string()),
                note.as_str(),
                deal.as_ref().map_or("", |d| d.as_str())
            );
            let mut nth = |key: (bool, u64)| {
                let n = seen.entry(key).or_insert(0);
                *n += 1;
                *n
            };
            let h = fnv(&content);
            let n = nth((true, h));
            // rally 0.1 keyed such rows by their text: rows it imported are found by that key too.
            let text = record.iter().map(str::trim).collect::<Vec<_>>().join("\u{1f}");
            let t = fnv(&text);
            let m = nth((false, t));
            (format!("rowc:{h:016x}:{n}"), Some(format!("row:{t:016x}:{m}")))
        }
        id if id.chars().count() > MAX_EXTERNAL_ID || id.chars().any(char::is_control) => {
            return Err(format!("external_id must be at most {MAX_EXTERNAL_ID} printable characters").into());
        }
        id => (id.to_string(), None),
    };
    let row = ImportRow {
        guild: rules.guild,
        user: user.as_i64(),
        user_name: user_name.as_str().to_string(),
        team,
        kind: kind_name,
        quantity,
        amount,
        occurred_at,
        note,
        deal,
        source: Source::Import,
        idem_key,
        alt_key,
        actor: 0,
    };
    Ok(ParsedRow { row, form, warning })
}

/// The rows of an import file, validated one at a time. Import and removal both read files
/// through here, so a file names the same keys to both.
struct CsvRows<'f> {
    file: &'f CsvFile,
    reader: csv::Reader<&'f [u8]>,
    columns: Columns,
    record: csv::StringRecord,
    /// Rows without an external id seen so far, by (current key?, hash), for their keys.
    seen: HashMap<(bool, u64), u32>,
    rules: RowRules,
    /// Refused amounts, and how many of them each other number format reads.
    amount_refusals: usize,
    amount_reads_in: HashMap<NumberFormat, usize>,
    /// Set after a fault that leaves the rest of the input unreadable.
    stopped: bool,
}

impl<'f> CsvRows<'f> {
    /// Reads the header: a file without the required columns is refused whole.
    fn open(file: &'f CsvFile, map: &ColumnMap, rules: RowRules) -> AppResult<Self> {
        let mut reader = file.reader();
        let header = reader
            .headers()
            .map_err(|e| AppError::User(format!("cannot read the CSV header: {}", csv_error(&e))))?
            .clone();
        let columns = Columns::resolve(&header, &COLUMNS, &REQUIRED, map, file)?;
        Ok(CsvRows {
            file,
            reader,
            columns,
            record: csv::StringRecord::new(),
            seen: HashMap::new(),
            rules,
            amount_refusals: 0,
            amount_reads_in: HashMap::new(),
            stopped: false,
        })
    }

    /// The next row's physical line and what it holds, or why it was rejected; `None` at the end.
    fn next_row(&mut self) -> Option<(u64, Result<ParsedRow, String>)> {
        if self.stopped {
            return None;
        }
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.file.line_of(self.record.position().map_or(0, |p| p.byte()));
                let parsed = parse_row(&self.record, &self.columns, &self.rules, &mut self.seen);
                Some((
                    line,
                    parsed.map_err(|r| {
                        if r.reason.starts_with("amount:") {
                            self.amount_refusals += 1;
                            for f in r.amount_reads_in {
                                *self.amount_reads_in.entry(f).or_default() += 1;
                            }
                        }
                        r.reason
                    }),
                ))
            }
            Err(e) => {
                let line = self.file.line_of(e.position().map_or(0, |p| p.byte()));
                // A bad row is skipped; any other fault leaves the rest unreadable.
                self.stopped = !matches!(e.kind(), csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. });
                Some((line, Err(csv_error(&e))))
            }
        }
    }

    /// A hint when every refused amount reads in one other number format: the file likely uses it.
    fn number_format_hint(&self) -> Option<String> {
        let n = self.amount_refusals;
        let formats: Vec<NumberFormat> =
            NumberFormat::ALL.into_iter().filter(|f| n > 0 && self.amount_reads_in.get(f) == Some(&n)).collect();
        let (first, others) = formats.split_first()?;
        let also: String = others.iter().map(|f| format!(" or {f}")).collect();
        let also_flag: String = others.iter().map(|f| format!(" (or '{f}')")).collect();
        Some(format!(
            "{n} amount{} refused here read{} in the {first}{also} number format: if the file writes amounts that \
             way, import it again with --number-format '{first}'{also_flag}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" }
        ))
    }
}

impl App {
    /// Imports activities from CSV as most tools write it (see [`ImportOptions::default`]).
    pub async fn import_csv<R: Read>(
        &self,
        guild: Snowflake,
        input: R,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<ImportSummary> {
        self.import_csv_with(guild, input, &ImportOptions::default(), actor, now).await
    }

    /// Imports activities from CSV. Good rows are stored, bad rows are reported with their
    /// physical line number and reason and leave nothing behind; unknown teams and members are
    /// created. A file whose header or delimiter is the problem is refused whole, saying so.
    pub async fn import_csv_with<R: Read>(
        &self,
        guild: Snowflake,
        input: R,
        options: &ImportOptions,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<ImportSummary> {
        let g = guild.as_i64();
        let file = CsvFile::load(input, options.delimiter)?;
        let rules = self.row_rules(g, options, now).await?;
        let read_as = read_as(&file, rules.money, rules.tz);
        let rows = CsvRows::open(&file, &options.columns, rules)?;

        // A big writer cache for the import's duration, given back however it ends.
        self.store.set_bulk_mode(true).await?;
        let imported = self.import_records(rows, now).await;
        self.store.set_bulk_mode(false).await?;
        // Even an import that failed part way stored what it read.
        self.figures_changed(g).await;
        let mut summary = imported?;
        summary.read_as = read_as;
        summary.total_rows = summary.rows();
        summary.rejected.sort_by_key(|r| r.line);
        self.store
            .audit_import(
                g,
                actor,
                "activity.import",
                json!({"imported": summary.imported, "duplicates": summary.duplicates, "rejected": summary.rejected.len()}),
                now,
            )
            .await?;
        Ok(summary)
    }

    /// What every row of a file is read against: the guild's kinds, money (in the file's number
    /// format when one is given) and timezone.
    async fn row_rules(&self, g: i64, options: &ImportOptions, now: DateTime<Utc>) -> AppResult<RowRules> {
        let kinds = self.store.kinds_shared(g).await?;
        let settings = self.store.guild_settings(g).await?;
        let mut money = settings.money();
        if let Some(f) = options.number_format {
            money.format = f;
        }
        Ok(RowRules { guild: g, kinds, money, tz: settings.timezone, now })
    }

    /// Takes back what an import file brought in, reading it as [`App::import_csv`] would.
    pub async fn remove_csv<R: Read>(
        &self,
        guild: Snowflake,
        input: R,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<RemoveSummary> {
        self.remove_csv_with(guild, input, &ImportOptions::default(), actor, now).await
    }

    /// Takes back what an import file brought in: every live activity holding a key that one of
    /// the file's rows produces (its external_id, or the key derived from its content) is
    /// soft-deleted as `/undo` would, rollups and audit included, so importing the file again
    /// brings the rows back. Rows the importer would reject are reported the same way and remove
    /// nothing.
    pub async fn remove_csv_with<R: Read>(
        &self,
        guild: Snowflake,
        input: R,
        options: &ImportOptions,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<RemoveSummary> {
        let g = guild.as_i64();
        let file = CsvFile::load(input, options.delimiter)?;
        let rules = self.row_rules(g, options, now).await?;
        let mut rows = CsvRows::open(&file, &options.columns, rules)?;
        let mut summary = RemoveSummary::default();
        let mut batch: Vec<ImportRow> = Vec::new();
        let mut lines: Vec<u64> = Vec::new();
        loop {
            let next = rows.next_row();
            let end = next.is_none();
            match next {
                Some((line, Ok(parsed))) => {
                    batch.push(parsed.row);
                    lines.push(line);
                }
                Some((line, Err(reason))) => summary.rejected.push(RowError { line, reason }),
                None => {}
            }
            if batch.len() >= BATCH_ROWS || (end && !batch.is_empty()) {
                let outcomes = self.store.remove_import_batch(std::mem::take(&mut batch), actor.clone(), now).await?;
                for (outcome, line) in outcomes.into_iter().zip(lines.drain(..)) {
                    match outcome {
                        RemoveRowOutcome::Removed => summary.removed += 1,
                        RemoveRowOutcome::NotFound => summary.not_found += 1,
                        RemoveRowOutcome::Rejected(reason) => summary.rejected.push(RowError { line, reason }),
                    }
                }
            }
            if end {
                break;
            }
        }
        summary.rejected.sort_by_key(|r| r.line);
        // A run that removed nothing changed nothing, so it leaves no trace (not even a new guild).
        if summary.removed > 0 {
            let counts =
                json!({"removed": summary.removed, "not_found": summary.not_found, "rejected": summary.rejected.len()});
            self.store.audit_import(g, actor, "activity.import.remove", counts, now).await?;
            self.figures_changed(g).await;
        }
        Ok(summary)
    }

    /// Parses and stores the records after the header, batch by batch.
    async fn import_records(&self, mut rows: CsvRows<'_>, now: DateTime<Utc>) -> AppResult<ImportSummary> {
        let mut summary = ImportSummary::default();
        let shown = (rows.rules.money, rows.rules.tz);
        // The batch being written while the next one is parsed (the writer has a thread of its own).
        let mut pending: Option<Pending> = None;
        let mut batch: Vec<ImportRow> = Vec::with_capacity(BATCH_ROWS);
        let mut lines: Vec<u64> = Vec::with_capacity(BATCH_ROWS);
        while let Some((line, parsed)) = rows.next_row() {
            match parsed {
                Ok(parsed) => {
                    summary.times.add(parsed.form);
                    if let Some(reason) = parsed.warning {
                        summary.warnings.push(RowError { line, reason });
                    }
                    batch.push(parsed.row);
                    lines.push(line);
                }
                Err(reason) => summary.rejected.push(RowError { line, reason }),
            }
            if batch.len() >= BATCH_ROWS {
                self.flush(&mut pending, &mut batch, &mut lines, &mut summary, shown, now).await?;
            }
        }
        self.flush(&mut pending, &mut batch, &mut lines, &mut summary, shown, now).await?;
        finish(pending.take(), &mut summary, shown).await?;
        summary.hints.extend(rows.number_format_hint());
        Ok(summary)
    }

    /// Waits for the batch in flight, then hands over `batch` (if any) without waiting for it.
    async fn flush(
        &self,
        pending: &mut Option<Pending>,
        batch: &mut Vec<ImportRow>,
        lines: &mut Vec<u64>,
        summary: &mut ImportSummary,
        shown: (Money, Tz),
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        finish(pending.take(), summary, shown).await?;
        if batch.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        let rows = std::mem::replace(batch, Vec::with_capacity(BATCH_ROWS));
        let task = tokio::spawn(async move { store.import_batch(rows, now).await });
        *pending = Some((task, std::mem::replace(lines, Vec::with_capacity(BATCH_ROWS))));
        Ok(())
    }

    /// The live activities of a period, oldest first.
    pub async fn activities(
        &self,
        guild: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<(Period, Vec<ActivityRecord>)> {
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let period = Period::resolve(spec, &settings, now)?;
        let rows = self.store.activities_between(guild.as_i64(), period.first_day, period.end_day).await?;
        Ok((period, rows))
    }

    /// Writes a period's activities as CSV in the import format, as [`ExportOptions::default`] says.
    pub async fn export_csv<W: Write>(
        &self,
        guild: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
        out: W,
    ) -> AppResult<usize> {
        self.export_csv_with(guild, spec, &ExportOptions::default(), now, out).await
    }

    /// Writes a period's activities as CSV in the import format: amounts in the guild's number
    /// format, separated by `;` where that format's decimal mark is a comma (as spreadsheets in
    /// those countries expect), else by `,`, unless `options` says otherwise.
    pub async fn export_csv_with<W: Write>(
        &self,
        guild: Snowflake,
        spec: &PeriodSpec,
        options: &ExportOptions,
        now: DateTime<Utc>,
        mut out: W,
    ) -> AppResult<usize> {
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let (_, rows) = self.activities(guild, spec, now).await?;
        let delimiter =
            options.delimiter.unwrap_or(if settings.money().format.decimal_mark() == ',' { b';' } else { b',' });
        let mut builder = csv::WriterBuilder::new();
        builder.delimiter(delimiter);
        if options.excel {
            // What Excel needs to open a UTF-8 file by double-click with its accents intact.
            out.write_all(&[0xEF, 0xBB, 0xBF]).map_err(|e| AppError::User(format!("cannot write the export: {e}")))?;
            builder.terminator(csv::Terminator::CRLF);
        }
        let mut w = builder.from_writer(out);
        let io = |e: csv::Error| AppError::User(format!("cannot write the export: {e}"));
        w.write_record(COLUMNS).map_err(io)?;
        for r in &rows {
            w.write_record(export_fields(r, &settings)).map_err(io)?;
        }
        w.flush().map_err(|e| AppError::User(format!("cannot write the export: {e}")))?;
        Ok(rows.len())
    }

    /// The same rows as a JSON array of objects with the import format's column names.
    pub async fn export_json(
        &self,
        guild: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
    ) -> AppResult<serde_json::Value> {
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let (_, rows) = self.activities(guild, spec, now).await?;
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let fields = export_fields(r, &settings);
                serde_json::Value::Object(COLUMNS.iter().zip(fields).map(|(k, v)| (k.to_string(), json!(v))).collect())
            })
            .collect();
        Ok(serde_json::Value::Array(items))
    }
}

/// A batch being written, with the CSV line of each row.
type Pending = (tokio::task::JoinHandle<crate::store::Result<Vec<ImportRowOutcome>>>, Vec<u64>);

/// Waits for a batch in flight and counts its outcomes.
async fn finish(pending: Option<Pending>, summary: &mut ImportSummary, shown: (Money, Tz)) -> AppResult<()> {
    let Some((task, lines)) = pending else {
        return Ok(());
    };
    let outcomes = task
        .await
        .map_err(|e| AppError::Internal(crate::store::StoreError::Migration(format!("import task: {e}"))))??;
    for (outcome, line) in outcomes.into_iter().zip(lines) {
        match outcome {
            ImportRowOutcome::Imported => summary.imported += 1,
            ImportRowOutcome::Duplicate => summary.duplicates += 1,
            ImportRowOutcome::Changed(d) => {
                summary.changed.push(RowError { line, reason: describe_changes(&d, shown.0, shown.1) })
            }
            ImportRowOutcome::Rejected(reason) => summary.rejected.push(RowError { line, reason }),
        }
    }
    Ok(())
}

/// `imported before with amount 12,500.00 USD; this file says 15,000.00 USD …`: what a corrected
/// row would change, and how to apply it.
fn describe_changes(differences: &[Difference], money: Money, tz: Tz) -> String {
    let amount = |a: &Option<i64>| a.map_or("none".to_string(), |v| money.format(v));
    let time = |t: &DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let parts: Vec<String> = differences
        .iter()
        .map(|d| match d {
            Difference::Kind(a, b) => format!("kind {a} → {b}"),
            Difference::Quantity(a, b) => format!("quantity {a} → {b}"),
            Difference::Amount(a, b) => format!("amount {} → {}", amount(a), amount(b)),
            Difference::OccurredAt(a, b) => format!("time {} → {}", time(a), time(b)),
            Difference::Note => "the note".to_string(),
            Difference::Deal(a, b) => {
                format!("deal {} → {}", a.as_deref().unwrap_or("none"), b.as_deref().unwrap_or("none"))
            }
        })
        .collect();
    format!(
        "imported before, and this file changes it ({}); nothing was changed. To apply the file's version, \
         run it through `rally import --remove`, then import it again",
        parts.join(", ")
    )
}

fn export_fields(r: &ActivityRecord, settings: &GuildSettings) -> [String; COLUMNS.len()] {
    [
        r.occurred_at.with_timezone(&settings.timezone).to_rfc3339_opts(SecondsFormat::AutoSi, true),
        r.user_id.to_string(),
        r.user_name.clone(),
        r.team.clone().unwrap_or_default(),
        r.kind.clone(),
        r.quantity.to_string(),
        r.amount.map(|a| settings.money().number(a)).unwrap_or_default(),
        r.note.clone(),
        r.idem_key.clone(),
        r.deal_ref.clone().unwrap_or_default(),
        // Said on every row with an amount, so a file never brings money into another currency.
        r.amount.map(|_| settings.money().currency.code().to_string()).unwrap_or_default(),
    ]
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the row is not valid UTF-8 text (the file may be saved as Windows-1252 or Latin-1; save it as CSV UTF-8)"
                .into()
        }
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("the row has {len} fields; the header has {expected_len}")
        }
        _ => format!("cannot read the CSV: {e}"),
    }
}
