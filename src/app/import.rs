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
use crate::domain::activity::{ActivityKind, DealRef, KindName, Name, Note, Snowflake, Source, check_amount, shorten};
use crate::domain::money::Money;
use crate::domain::period::{Period, PeriodSpec};
use crate::domain::settings::GuildSettings;
use crate::store::{ActivityRecord, ImportRow, ImportRowOutcome, RemoveRowOutcome};

/// The columns of the import and export format, in export order.
pub const COLUMNS: [&str; 10] =
    ["occurred_at", "user_id", "user_name", "team", "kind", "quantity", "amount", "note", "external_id", "deal"];
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

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub imported: usize,
    pub duplicates: usize,
    pub rejected: Vec<RowError>,
}

impl ImportSummary {
    pub fn rows(&self) -> usize {
        self.imported + self.duplicates + self.rejected.len()
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

/// One parsed CSV row, keyed by column name.
struct Fields<'a> {
    header: &'a HashMap<String, usize>,
    record: &'a csv::StringRecord,
}

impl Fields<'_> {
    fn get(&self, column: &str) -> &str {
        self.header.get(column).and_then(|i| self.record.get(*i)).map(str::trim).unwrap_or("")
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Validates one row into an activity, or says what is wrong with it.
fn parse_row(
    f: &Fields<'_>,
    guild: i64,
    kinds: &[ActivityKind],
    seen: &mut HashMap<u64, u32>,
    money: Money,
    now: DateTime<Utc>,
) -> Result<ImportRow, String> {
    let raw_at = f.get("occurred_at");
    let occurred_at = DateTime::parse_from_rfc3339(raw_at)
        .map_err(|_| {
            format!(
                "occurred_at `{}` is not an RFC 3339 time with offset (e.g. 2026-10-14T09:30:00+02:00)",
                shorten(raw_at, 40)
            )
        })?
        .with_timezone(&Utc);
    if occurred_at > now {
        return Err(format!("occurred_at {raw_at} is in the future"));
    }
    if occurred_at.year() < 2000 {
        return Err(format!("occurred_at {raw_at} is before the year 2000"));
    }
    let user = Snowflake::parse(f.get("user_id")).map_err(|e| format!("user_id: {e}"))?;
    let user_name = Name::parse(f.get("user_name"), "user_name").map_err(|e| e.to_string())?;
    let team = match f.get("team") {
        "" => None,
        t => Some(Name::parse(t, "team").map_err(|e| e.to_string())?),
    };
    let kind_name = KindName::parse(f.get("kind")).map_err(|e| e.to_string())?;
    let Some(kind) = kinds.iter().find(|k| k.name == kind_name) else {
        return Err(format!("unknown kind `{kind_name}`"));
    };
    let quantity = match f.get("quantity") {
        "" => crate::domain::activity::Quantity::ONE,
        q => crate::domain::activity::Quantity::parse(q).map_err(|e| e.to_string())?,
    };
    let amount = match f.get("amount") {
        "" => None,
        a => Some(money.parse(a).map_err(|e| format!("amount: {e}"))?),
    };
    check_amount(&kind.name, kind.has_amount, amount).map_err(|e| e.to_string())?;
    let note = Note::parse(f.get("note")).map_err(|e| e.to_string())?;
    let deal = match f.get("deal") {
        "" => None,
        d => Some(DealRef::parse(d).map_err(|e| e.to_string())?),
    };
    let idem_key = match f.get("external_id") {
        "" => {
            // No external id: the row's content is its identity, and the n-th identical row of a
            // file stays distinct from the first, so the same file imported twice changes nothing.
            let content = f.record.iter().map(str::trim).collect::<Vec<_>>().join("\u{1f}");
            let h = fnv(&content);
            let n = seen.entry(h).or_insert(0);
            *n += 1;
            format!("row:{h:016x}:{n}")
        }
        id if id.chars().count() > MAX_EXTERNAL_ID || id.chars().any(char::is_control) => {
            return Err(format!("external_id must be at most {MAX_EXTERNAL_ID} printable characters"));
        }
        id => id.to_string(),
    };
    Ok(ImportRow {
        guild,
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
        actor: 0,
    })
}

/// The rows of an import file, validated one at a time. Import and removal both read files
/// through here, so a file names the same keys to both.
struct CsvRows<'k, R> {
    reader: csv::Reader<R>,
    header: HashMap<String, usize>,
    record: csv::StringRecord,
    /// Identical rows without an external id seen so far, for their keys.
    seen: HashMap<u64, u32>,
    guild: i64,
    kinds: &'k [ActivityKind],
    /// How amounts in the file are written.
    money: Money,
    now: DateTime<Utc>,
    /// Set after a fault that leaves the rest of the input unreadable.
    stopped: bool,
}

impl<'k, R: Read> CsvRows<'k, R> {
    /// Reads the header: a file without the required columns is refused whole.
    fn open(input: R, guild: i64, kinds: &'k [ActivityKind], money: Money, now: DateTime<Utc>) -> AppResult<Self> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
        let header: HashMap<String, usize> = reader
            .headers()
            .map_err(|e| AppError::User(format!("cannot read the CSV header: {e}")))?
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_ascii_lowercase(), i))
            .collect();
        let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| !header.contains_key(*c)).collect();
        if !missing.is_empty() {
            return Err(AppError::User(format!(
                "the CSV header lacks column(s) {}; expected {}",
                missing.join(", "),
                COLUMNS.join(",")
            )));
        }
        Ok(CsvRows {
            reader,
            header,
            record: csv::StringRecord::new(),
            seen: HashMap::new(),
            guild,
            kinds,
            money,
            now,
            stopped: false,
        })
    }

    /// The next row's line and the activity it holds, or why it was rejected; `None` at the end.
    fn next_row(&mut self) -> Option<(u64, Result<ImportRow, String>)> {
        if self.stopped {
            return None;
        }
        let line = self.reader.position().line() + 1;
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map_or(line, |p| p.line());
                let fields = Fields { header: &self.header, record: &self.record };
                Some((line, parse_row(&fields, self.guild, self.kinds, &mut self.seen, self.money, self.now)))
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                // A bad row is skipped; any other fault leaves the rest unreadable.
                self.stopped = !matches!(e.kind(), csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. });
                Some((line, Err(csv_error(&e))))
            }
        }
    }
}

impl App {
    /// Imports activities from CSV. Good rows are stored, bad rows are reported with their line
    /// number and reason and leave nothing behind; unknown teams and members are created.
    pub async fn import_csv<R: Read>(
        &self,
        guild: Snowflake,
        input: R,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<ImportSummary> {
        let g = guild.as_i64();
        let kinds = self.store.kinds(g).await?;
        let money = self.store.guild_settings(g).await?.money();
        let rows = CsvRows::open(input, g, &kinds, money, now)?;

        // A big writer cache for the import's duration, given back however it ends.
        self.store.set_bulk_mode(true).await?;
        let imported = self.import_records(rows, now).await;
        self.store.set_bulk_mode(false).await?;
        let mut summary = imported?;
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

    /// Takes back what an import file brought in: every live activity holding a key that one of
    /// the file's rows produces (its external_id, or the key derived from its content) is
    /// soft-deleted as `/undo` would, rollups and audit included, so importing the file again
    /// brings the rows back. Rows the importer would reject are reported the same way and remove
    /// nothing.
    pub async fn remove_csv<R: Read>(
        &self,
        guild: Snowflake,
        input: R,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<RemoveSummary> {
        let g = guild.as_i64();
        let kinds = self.store.kinds(g).await?;
        let money = self.store.guild_settings(g).await?.money();
        let mut rows = CsvRows::open(input, g, &kinds, money, now)?;
        let mut summary = RemoveSummary::default();
        let mut batch: Vec<ImportRow> = Vec::new();
        let mut lines: Vec<u64> = Vec::new();
        loop {
            let next = rows.next_row();
            let end = next.is_none();
            match next {
                Some((line, Ok(row))) => {
                    batch.push(row);
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
        }
        Ok(summary)
    }

    /// Parses and stores the records after the header, batch by batch.
    async fn import_records<R: Read>(&self, mut rows: CsvRows<'_, R>, now: DateTime<Utc>) -> AppResult<ImportSummary> {
        let mut summary = ImportSummary::default();
        // The batch being written while the next one is parsed (the writer has a thread of its own).
        let mut pending: Option<Pending> = None;
        let mut batch: Vec<ImportRow> = Vec::with_capacity(BATCH_ROWS);
        let mut lines: Vec<u64> = Vec::with_capacity(BATCH_ROWS);
        while let Some((line, parsed)) = rows.next_row() {
            match parsed {
                Ok(row) => {
                    batch.push(row);
                    lines.push(line);
                }
                Err(reason) => summary.rejected.push(RowError { line, reason }),
            }
            if batch.len() >= BATCH_ROWS {
                self.flush(&mut pending, &mut batch, &mut lines, &mut summary, now).await?;
            }
        }
        self.flush(&mut pending, &mut batch, &mut lines, &mut summary, now).await?;
        finish(pending.take(), &mut summary).await?;
        Ok(summary)
    }

    /// Waits for the batch in flight, then hands over `batch` (if any) without waiting for it.
    async fn flush(
        &self,
        pending: &mut Option<Pending>,
        batch: &mut Vec<ImportRow>,
        lines: &mut Vec<u64>,
        summary: &mut ImportSummary,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        finish(pending.take(), summary).await?;
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

    /// Writes a period's activities as CSV in the import format.
    pub async fn export_csv<W: Write>(
        &self,
        guild: Snowflake,
        spec: &PeriodSpec,
        now: DateTime<Utc>,
        out: W,
    ) -> AppResult<usize> {
        let settings = self.store.guild_settings(guild.as_i64()).await?;
        let (_, rows) = self.activities(guild, spec, now).await?;
        let mut w = csv::Writer::from_writer(out);
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
async fn finish(pending: Option<Pending>, summary: &mut ImportSummary) -> AppResult<()> {
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
            ImportRowOutcome::Rejected(reason) => summary.rejected.push(RowError { line, reason }),
        }
    }
    Ok(())
}

fn export_fields(r: &ActivityRecord, settings: &GuildSettings) -> [String; 10] {
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
    ]
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".into(),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("the row has {len} fields; the header has {expected_len}")
        }
        _ => format!("cannot read the CSV: {e}"),
    }
}
