//! `rally db copy`: a whole rally database into another, SQLite or PostgreSQL either way, resumable;
//! and the totals `rally db check` prints, which agree on both sides of a finished copy.
//!
//! What a copy does, in order (every refusal comes before anything is written):
//! 1. FROM must be a rally database of a schema this build knows; TO is a SQLite file (created if
//!    missing) or an existing PostgreSQL database, which must hold no rally rows, unless they are an
//!    interrupted copy of the same FROM; FROM and TO must be different databases.
//! 2. Both are brought to this build's schema version (FROM as every rally command would).
//! 3. The tables, their columns, primary keys and foreign keys are read from FROM's catalog (the two
//!    backends' schemas agree, a test in `postgres/migrations.rs` checks it), and copied parents
//!    first, each in primary-key order, in batches of [`CopyOptions::batch_rows`] rows: one
//!    transaction of TO's writer per batch, together with the batch's progress in `rally_copy`.
//!    Values cross as they are ([`sql::Value`]): nothing is parsed or reinterpreted.
//! 4. On PostgreSQL, every identity column's sequence is moved past the largest id copied, and
//!    `rally_copy` is dropped: TO is then an ordinary rally database.
//!
//! `rally_copy` (created by the copy, dropped when it finishes) holds FROM's identity, what FROM held
//! when the copy began (rows and last key per table) and how far each table got. It is not a
//! migration on purpose: it exists only between the start and the end of a copy, its presence is
//! what says "an unfinished copy" (an ordinary rally database never has it), and a migration would
//! give every database a schema version and a table for a one-off operation.
//!
//! FROM is read in one read transaction per run (a consistent snapshot on both backends), but rally
//! should be stopped on FROM first: writes made meanwhile are not in the snapshot, and are detected
//! at the end (rows added or removed on either backend, any write at all on SQLite), which then
//! leaves the copy unfinished rather than call a stale copy done.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};

use super::sql::{self, Db, Dialect, OptionalExtension, Value, params, params_from_iter};
use super::{Location, Result, Store, StoreError, configure, migrations, off_runtime, pg_connect, postgres_has_schema};

/// How a copy runs.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Rows per batch, and so per transaction of TO's writer (at least 1).
    pub batch_rows: usize,
    /// For tests: stop (with an error) after this many batches were committed in this run, as a
    /// `kill -9` between two batches would; the same copy run again finishes the job.
    #[doc(hidden)]
    pub stop_after_batches: Option<usize>,
    /// For tests: a pause after each committed batch, so that a test can kill the process mid-copy.
    #[doc(hidden)]
    pub pause_after_batch: Option<std::time::Duration>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions { batch_rows: 2000, stop_after_batches: None, pause_after_batch: None }
    }
}

/// Where a copy is, after each committed batch.
#[derive(Clone, Debug)]
pub struct CopyProgress {
    /// The table being copied.
    pub table: String,
    /// Rows in TO so far (this run's and an interrupted run's), and the rows FROM holds in all.
    pub rows_done: u64,
    pub rows_total: u64,
}

/// What a finished copy did.
#[derive(Clone, Debug, PartialEq)]
pub struct CopySummary {
    /// Tables copied (every table of the schema, empty ones included).
    pub tables: usize,
    /// Rows TO holds now, all copied from FROM.
    pub rows: u64,
    /// Of those, the rows this run copied (less than `rows` when it finished an interrupted copy).
    pub rows_this_run: u64,
    /// Whether this run finished an interrupted copy.
    pub resumed: bool,
    /// Whether TO held every row of FROM already, as a finished copy leaves it: this run wrote
    /// nothing (running a finished copy again is not an error).
    pub already_copied: bool,
    /// Wall-clock seconds this run took.
    pub seconds: f64,
}

/// One table as the copy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePlan {
    pub name: String,
    /// Every column, in the table's order.
    pub columns: Vec<String>,
    /// The primary key's columns, in the key's order (never empty: every rally table has one).
    pub key: Vec<String>,
    /// The tables its foreign keys reference (itself left out).
    pub parents: BTreeSet<String>,
}

/// Copies the rally database at `from` into `to` (see the module doc), calling `progress` after each
/// committed batch. Blocking: call it from a thread of its own (or `spawn_blocking`), never from an
/// async task.
///
/// Errors: [`StoreError::Rule`] for every refusal (FROM missing or not a rally database, a newer
/// schema on either side, the same database twice, TO holding rows of its own, FROM or TO changed
/// since an interrupted copy began, FROM written to during the copy), with nothing changed; other
/// variants when a database fails. Messages name tables and locations (without passwords), never
/// a row's values.
pub fn copy(
    from: &Location,
    to: &Location,
    options: &CopyOptions,
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<CopySummary> {
    let started = Instant::now();
    let batch_rows = options.batch_rows.max(1);
    let identity = identity(from);

    // 1. Refusals, on connections of their own, before anything is written anywhere.
    let source = open_source(from)?;
    let source_version = migrations::schema_version(&source)?;
    if source_version == 0 {
        return Err(StoreError::rule(format!("{from} is not a rally database (it has no rally schema)")));
    }
    refuse_newer(from, source_version)?;
    let target = open_target_for_check(to)?;
    if let Some(target) = &target {
        same_database(from, &source, to, target)?;
        let version = migrations::schema_version(target)?;
        refuse_newer(to, version)?;
        if version > 0 {
            if let Some((tables, rows)) = check_target_is_ours(to, target, &identity, &source)? {
                return Ok(CopySummary {
                    tables,
                    rows,
                    rows_this_run: 0,
                    resumed: false,
                    already_copied: true,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
        } else if has_tables(target)? {
            let into = match to {
                Location::Sqlite(_) => "a new file",
                Location::Postgres(_) => "an empty database",
            };
            return Err(StoreError::rule(format!("{to} holds tables but no rally schema; copy into {into}")));
        }
    }
    drop(target);

    // 2. Both at this build's schema.
    if source_version < latest() {
        drop(source);
        let store = Store::open_existing_at(from)?
            .ok_or_else(|| StoreError::rule(format!("{from} disappeared while the copy began")))?;
        drop(store);
    } else {
        drop(source);
    }
    let to_store = Store::open_at_for_copy(to)?;
    let to_version = to_store.read_blocking(migrations::schema_version)?;
    if to_version != latest() {
        return Err(StoreError::rule(format!(
            "{to} is at schema version {to_version} after migrating, not {}; nothing was copied",
            latest()
        )));
    }

    // 3. The plan, FROM's snapshot, and where an interrupted copy stopped.
    let source = open_source(from)?;
    let data_version_before = data_version(&source)?;
    let plan = plan(&source)?;
    let target_plan = to_store.read_blocking(plan_tables)?;
    compare_plans(&plan, &target_plan)?;
    let begin = match source.dialect() {
        Dialect::Sqlite => "BEGIN",
        Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    };
    source.execute_batch(begin)?;
    let snapshot = fingerprint(&source, &plan)?;
    let rows_total: u64 = snapshot.values().map(|(n, _)| *n).sum();

    let state = to_store.read_blocking({
        let plan = plan.clone();
        move |db| read_state(db, &plan)
    })?;
    let resumed = state.is_some();
    let mut progress_by_table: BTreeMap<String, (u64, Option<Vec<Value>>)> = match state {
        Some(state) => {
            for t in &plan {
                let recorded = state.get(&t.name).map(|s| (s.total, s.from_last.clone()));
                if recorded.as_ref() != snapshot.get(&t.name) {
                    return Err(StoreError::rule(format!(
                        "{from} changed since the interrupted copy into {to} began (table {}): the copy \
                         cannot be finished; {} and copy again, with rally stopped on {from}",
                        t.name,
                        empty(to)
                    )));
                }
            }
            state.into_iter().map(|(t, s)| (t, (s.copied, s.last_key))).collect()
        }
        None => {
            let rows: Vec<(String, u64, Option<String>)> = plan
                .iter()
                .map(|t| {
                    let (n, last) = &snapshot[&t.name];
                    Ok((t.name.clone(), *n, last.as_deref().map(encode_key).transpose()?))
                })
                .collect::<Result<_>>()?;
            let identity = identity.clone();
            to_store.write_blocking(move |db| start_bookkeeping(db, &identity, &rows))?;
            plan.iter().map(|t| (t.name.clone(), (0, None))).collect()
        }
    };

    // 4. The rows.
    let mut rows_done: u64 = progress_by_table.values().map(|(n, _)| *n).sum();
    let rows_before = rows_done;
    let mut batches = 0usize;
    for table in &plan {
        let (copied, mut last) = progress_by_table.remove(&table.name).unwrap_or((0, None));
        let mut copied = copied;
        loop {
            if last.is_some() && last == snapshot[&table.name].1 {
                break;
            }
            let rows = read_batch(&source, table, last.as_deref(), batch_rows)?;
            let Some(last_row) = rows.last() else { break };
            let key = key_of(table, last_row)?;
            let key_text = encode_key(&key)?;
            let n = rows.len() as u64;
            let full = rows.len() >= batch_rows;
            let (name, columns) = (table.name.clone(), table.columns.clone());
            to_store.write_blocking(move |db| insert_batch(db, &name, &columns, &rows, &key_text))?;
            copied += n;
            rows_done += n;
            last = Some(key);
            batches += 1;
            progress(&CopyProgress { table: table.name.clone(), rows_done, rows_total });
            if options.stop_after_batches.is_some_and(|stop| batches >= stop) && rows_done < rows_total {
                return Err(StoreError::rule(format!(
                    "the copy stopped after {batches} batches, as asked ({rows_done} of {rows_total} rows); \
                     run the same command again to finish it"
                )));
            }
            if let Some(pause) = options.pause_after_batch {
                std::thread::sleep(pause);
            }
            if !full {
                break;
            }
        }
        if copied != snapshot[&table.name].0 {
            return Err(StoreError::rule(format!(
                "table {} has {copied} rows in {to} but {} in {from}; the copy is left unfinished",
                table.name, snapshot[&table.name].0
            )));
        }
    }

    // 5. FROM must not have moved on meanwhile: outside the snapshot, it must still read the same.
    source.execute_batch("COMMIT")?;
    let now = fingerprint(&source, &plan)?;
    let changed: Vec<&str> =
        plan.iter().filter(|t| now.get(&t.name) != snapshot.get(&t.name)).map(|t| t.name.as_str()).collect();
    let written = data_version(&source)? != data_version_before;
    if !changed.is_empty() || written {
        let which = if changed.is_empty() {
            String::new()
        } else {
            format!(" (rows added or removed in {})", changed.join(", "))
        };
        return Err(StoreError::rule(format!(
            "{from} was written to during the copy{which}: is rally still running on it? {to} holds {from} as \
             it was when the copy began, and is left unfinished; stop every rally on {from}, {} and copy again",
            empty(to)
        )));
    }
    drop(source);

    // 6. Identities past the ids copied, and the bookkeeping gone: an ordinary rally database.
    let tables = plan.clone();
    to_store.write_blocking(move |db| finish(db, &tables))?;
    drop(to_store);
    Ok(CopySummary {
        tables: plan.len(),
        rows: rows_done,
        rows_this_run: rows_done - rows_before,
        resumed,
        already_copied: false,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The schema version this build migrates to.
/// How to empty TO before copying again, in the words of its backend.
fn empty(to: &Location) -> String {
    match to {
        Location::Sqlite(_) => format!("delete {to}"),
        Location::Postgres(_) => format!("empty {to} (drop and create the database)"),
    }
}

fn latest() -> usize {
    migrations::MIGRATIONS.len()
}

fn refuse_newer(location: &Location, version: usize) -> Result<()> {
    if version > latest() {
        return Err(StoreError::rule(format!(
            "{location} has schema version {version}, newer than this rally ({}); copy it with a rally at \
             least as new",
            latest()
        )));
    }
    Ok(())
}

/// FROM as `rally_copy` records it: the canonical path of a SQLite file, or the URL without its
/// password.
fn identity(from: &Location) -> String {
    match from {
        Location::Sqlite(path) => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            format!("sqlite:{}", path.display())
        }
        Location::Postgres(_) => from.to_string(),
    }
}

/// A read-only connection to FROM, which must exist; no file is created, nothing is migrated.
fn open_source(from: &Location) -> Result<Db> {
    match from {
        Location::Sqlite(path) => {
            if !matches!(path.try_exists(), Ok(true)) {
                return Err(StoreError::rule(format!("there is no database at {from}; check FROM")));
            }
            match open_sqlite_read_only(path) {
                Err(StoreError::Open { source: rusqlite::Error::SqliteFailure(e, _), .. })
                    if e.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    Err(StoreError::rule(format!(
                        "{from} is not a rally database (it is not a SQLite file); check FROM"
                    )))
                }
                other => other,
            }
        }
        Location::Postgres(url) => {
            let db = off_runtime(|| pg_connect(url))?;
            if !postgres_has_schema(&db)? {
                return Err(StoreError::rule(format!("{from} is not a rally database (it has no rally schema)")));
            }
            Ok(db)
        }
    }
}

fn open_sqlite_read_only(path: &Path) -> Result<Db> {
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(open_err)?;
    configure(&conn).map_err(open_err)?;
    Ok(Db::sqlite(conn))
}

/// A connection to TO for the checks before the copy, `None` when TO is a SQLite file not created yet
/// (whose directory must exist). A PostgreSQL database must exist.
fn open_target_for_check(to: &Location) -> Result<Option<Db>> {
    match to {
        Location::Sqlite(path) => {
            if matches!(path.try_exists(), Ok(true)) {
                return open_sqlite_read_only(path).map(Some);
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                return Err(StoreError::rule(format!(
                    "cannot copy into {to}: there is no directory {}",
                    dir.display()
                )));
            }
            Ok(None)
        }
        Location::Postgres(url) => off_runtime(|| pg_connect(url)).map(Some),
    }
}

/// Refuses FROM and TO when they are one database: the same file (by its device and inode, so also
/// through another path or a link), or the same PostgreSQL database (by an advisory lock FROM takes
/// and TO then cannot: such locks are per database, whatever URL reached it).
fn same_database(from: &Location, source: &Db, to: &Location, target: &Db) -> Result<()> {
    let same = match (from, to) {
        (Location::Sqlite(a), Location::Sqlite(b)) => same_file(a, b),
        (Location::Postgres(_), Location::Postgres(_)) => {
            let key: i64 = source.query_row("SELECT CAST(floor(random() * 9.0e18) AS BIGINT)", [], |r| r.get(0))?;
            let held: bool = source.query_row("SELECT pg_try_advisory_lock(?1)", [key], |r| r.get(0))?;
            let free: bool = target.query_row("SELECT pg_try_advisory_lock(?1)", [key], |r| r.get(0))?;
            if free {
                target.query_row("SELECT pg_advisory_unlock(?1)", [key], |_| Ok(()))?;
            }
            if held {
                source.query_row("SELECT pg_advisory_unlock(?1)", [key], |_| Ok(()))?;
            }
            held && !free
        }
        _ => false,
    };
    if same {
        return Err(StoreError::rule(format!("FROM ({from}) and TO ({to}) are the same database; nothing to copy")));
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// FROM as the unfinished copy into `db` recorded it (see [`identity`]), or `None` when `db` holds
/// no copy's bookkeeping.
pub(crate) fn unfinished_copy_source(db: &Db) -> Result<Option<String>> {
    if !has_bookkeeping(db)? {
        return Ok(None);
    }
    let source = db.query_row("SELECT source FROM rally_copy LIMIT 1", [], |r| r.get::<_, String>(0)).optional()?;
    Ok(Some(source.unwrap_or_else(|| "another database".into())))
}

/// Whether the catalog of `db` has the bookkeeping table.
fn has_bookkeeping(db: &Db) -> Result<bool> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'rally_copy'",
        Dialect::Postgres => "SELECT CASE WHEN to_regclass('rally_copy') IS NULL THEN 0 ELSE 1 END",
    };
    Ok(db.query_row(sql, [], |r| r.get::<_, i64>(0))? > 0)
}

/// Whether `db` (a database without a rally schema) holds any table at all.
fn has_tables(db: &Db) -> Result<bool> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'",
        Dialect::Postgres => {
            "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm')"
        }
    };
    Ok(db.query_row(sql, [], |r| r.get::<_, i64>(0))? > 0)
}

/// A TO that has a rally schema must hold no rows, be an interrupted copy of this FROM, or hold
/// exactly FROM's rows (a finished copy run again: `Some((tables, rows))`, and nothing to do).
/// Errors: a TO holding other rows (counted as the copy's summary counts, `61,361`), or an
/// unfinished copy of another database.
fn check_target_is_ours(to: &Location, target: &Db, identity: &str, source: &Db) -> Result<Option<(usize, u64)>> {
    if has_bookkeeping(target)? {
        let mut stmt = target.prepare("SELECT DISTINCT source FROM rally_copy")?;
        let sources = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<sql::Result<Vec<_>>>()?;
        if sources.iter().any(|s| s != identity) {
            return Err(StoreError::rule(format!(
                "{to} holds an unfinished copy of another database ({}), not of this FROM; nothing was changed",
                sources.join(", ")
            )));
        }
        return Ok(None);
    }
    let target_plan = plan_tables(target)?;
    let found = fingerprint(target, &target_plan)?;
    let holding: Vec<&String> = found.iter().filter(|(_, (n, _))| *n > 0).map(|(t, _)| t).collect();
    if holding.is_empty() {
        return Ok(None);
    }
    let rows: u64 = found.values().map(|(n, _)| n).sum();
    // The same count and last key in every table, then every row compared: a finished copy.
    let plan = plan_tables(source)?;
    if fingerprint(source, &plan)? == found && same_rows(source, target, &plan)? {
        return Ok(Some((plan.len(), rows)));
    }
    let tables = holding.len();
    Err(StoreError::rule(format!(
        "{to} already holds rally data ({} rows in {tables} of its {} tables: {}{}); rally db copy writes only \
         into an empty database (or finishes its own interrupted copy), and changed nothing",
        indicatif::HumanCount(rows),
        target_plan.len(),
        holding.iter().take(3).map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
        if tables > 3 { ", ..." } else { "" }
    )))
}

/// Whether `a` and `b` hold the same rows in every table of `plan`, read in key order a batch at a
/// time from each.
fn same_rows(a: &Db, b: &Db, plan: &[TablePlan]) -> Result<bool> {
    const BATCH: usize = 2000;
    for table in plan {
        let mut after: Option<Vec<Value>> = None;
        loop {
            let rows = read_batch(a, table, after.as_deref(), BATCH)?;
            if rows != read_batch(b, table, after.as_deref(), BATCH)? {
                return Ok(false);
            }
            match rows.last() {
                Some(last) if rows.len() == BATCH => after = Some(key_of(table, last)?),
                _ => break,
            }
        }
    }
    Ok(true)
}

/// SQLite's count of commits by other connections as this one sees it (unchanged means no write);
/// PostgreSQL has no such counter, and 0 stands for it.
fn data_version(db: &Db) -> Result<i64> {
    match db.dialect() {
        Dialect::Sqlite => Ok(db.query_row("PRAGMA data_version", [], |r| r.get(0))?),
        Dialect::Postgres => Ok(0),
    }
}

/// A SQL identifier, quoted (names come from the catalog; quoting keeps words like `before` plain).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The tables of the rally schema `db` holds, in dependency order (parents first, then by name).
pub fn plan(db: &Db) -> Result<Vec<TablePlan>> {
    order(plan_tables(db)?)
}

/// The tables of the rally schema `db` holds (without `rally_schema` and `rally_copy`), by name.
fn plan_tables(db: &Db) -> Result<Vec<TablePlan>> {
    let (tables_sql, columns_sql, parents_sql) = match db.dialect() {
        Dialect::Sqlite => (
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
             AND name <> 'rally_copy' ORDER BY name",
            "SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid",
            "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)",
        ),
        Dialect::Postgres => (
            "SELECT CAST(c.relname AS TEXT) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r'
             AND c.relname NOT IN ('rally_schema', 'rally_copy') ORDER BY 1",
            "SELECT CAST(a.attname AS TEXT), COALESCE((SELECT k.n FROM unnest(i.indkey) WITH ORDINALITY AS k (attnum, n) WHERE k.attnum = a.attnum), 0)
             FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
             WHERE a.attrelid = to_regclass(CAST(?1 AS TEXT)) AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            "SELECT DISTINCT CAST(r.relname AS TEXT) FROM pg_constraint f JOIN pg_class r ON r.oid = f.confrelid
             WHERE f.contype = 'f' AND f.conrelid = to_regclass(CAST(?1 AS TEXT))",
        ),
    };
    let names = db.prepare(tables_sql)?.query_map([], |r| r.get::<_, String>(0))?.collect::<sql::Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let columns: Vec<(String, i64)> =
            db.prepare(columns_sql)?.query_map([&name], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<sql::Result<_>>()?;
        let mut key: Vec<&(String, i64)> = columns.iter().filter(|(_, pk)| *pk > 0).collect();
        key.sort_by_key(|(_, pk)| *pk);
        let key: Vec<String> = key.into_iter().map(|(c, _)| c.clone()).collect();
        if key.is_empty() {
            return Err(StoreError::Corrupt(format!("table {name} has no primary key; rally db copy needs one")));
        }
        let parents: BTreeSet<String> = db
            .prepare(parents_sql)?
            .query_map([&name], |r| r.get::<_, String>(0))?
            .collect::<sql::Result<BTreeSet<_>>>()?
            .into_iter()
            .filter(|p| *p != name)
            .collect();
        out.push(TablePlan { name, columns: columns.into_iter().map(|(c, _)| c).collect(), key, parents });
    }
    Ok(out)
}

/// `tables` parents first (Kahn's order, ties by name); an error on a cycle.
fn order(mut tables: Vec<TablePlan>) -> Result<Vec<TablePlan>> {
    let names: BTreeSet<String> = tables.iter().map(|t| t.name.clone()).collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready = tables
            .iter()
            .position(|t| t.parents.iter().all(|p| placed.contains(p) || !names.contains(p)))
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the foreign keys of {} form a cycle; rally db copy cannot order them",
                    tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?;
        let table = tables.remove(ready);
        placed.insert(table.name.clone());
        out.push(table);
    }
    Ok(out)
}

/// FROM's and TO's schemas must have the same tables with the same columns.
fn compare_plans(from: &[TablePlan], to: &[TablePlan]) -> Result<()> {
    let to: BTreeMap<&str, &TablePlan> = to.iter().map(|t| (t.name.as_str(), t)).collect();
    let from_names: BTreeSet<&str> = from.iter().map(|t| t.name.as_str()).collect();
    for t in from {
        let Some(other) = to.get(t.name.as_str()) else {
            return Err(StoreError::rule(format!("TO has no table {}; its schema differs from FROM's", t.name)));
        };
        let (a, b): (BTreeSet<&String>, BTreeSet<&String>) =
            (t.columns.iter().collect(), other.columns.iter().collect());
        if a != b || t.key != other.key {
            return Err(StoreError::rule(format!("table {} has other columns in TO than in FROM", t.name)));
        }
    }
    if let Some(extra) = to.keys().find(|n| !from_names.contains(*n)) {
        return Err(StoreError::rule(format!("TO has a table {extra} that FROM has not; their schemas differ")));
    }
    Ok(())
}

/// Per table: its rows and its last primary key, as `db` sees them now.
type Fingerprint = BTreeMap<String, (u64, Option<Vec<Value>>)>;

fn fingerprint(db: &Db, plan: &[TablePlan]) -> Result<Fingerprint> {
    let mut out = BTreeMap::new();
    for t in plan {
        let n: i64 = db.query_row(&format!("SELECT COUNT(*) FROM {}", ident(&t.name)), [], |r| r.get(0))?;
        let keys = t.key.iter().map(|k| ident(k)).collect::<Vec<_>>();
        let desc = keys.iter().map(|k| format!("{k} DESC")).collect::<Vec<_>>().join(", ");
        let last = db
            .query_row(
                &format!("SELECT {} FROM {} ORDER BY {desc} LIMIT 1", keys.join(", "), ident(&t.name)),
                [],
                |r| (0..keys.len()).map(|i| r.get::<_, Value>(i)).collect::<sql::Result<Vec<_>>>(),
            )
            .optional()?;
        out.insert(t.name.clone(), (n as u64, last));
    }
    Ok(out)
}

/// Up to `limit` rows of `table` after `after` (its primary key; `None`: from the first), in key
/// order, every column.
fn read_batch(db: &Db, table: &TablePlan, after: Option<&[Value]>, limit: usize) -> Result<Vec<Vec<Value>>> {
    let columns = table.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    let keys = table.key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
    let filter = match after {
        Some(_) => {
            let marks = (1..=table.key.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
            format!(" WHERE ({keys}) > ({marks})")
        }
        None => String::new(),
    };
    let sql = format!("SELECT {columns} FROM {}{filter} ORDER BY {keys} LIMIT {limit}", ident(&table.name));
    let width = table.columns.len();
    let mut stmt = db.prepare_cached(&sql)?;
    let read = |r: &sql::Row<'_>| (0..width).map(|i| r.get::<_, Value>(i)).collect::<sql::Result<Vec<_>>>();
    let rows = match after {
        Some(key) => stmt.query_map(params_from_iter(key.iter()), read)?.collect::<sql::Result<Vec<_>>>()?,
        None => stmt.query_map([], read)?.collect::<sql::Result<Vec<_>>>()?,
    };
    Ok(rows)
}

/// The primary key of `row` (a row of `table`, every column in order).
fn key_of(table: &TablePlan, row: &[Value]) -> Result<Vec<Value>> {
    table
        .key
        .iter()
        .map(|k| {
            let i = table.columns.iter().position(|c| c == k);
            i.and_then(|i| row.get(i)).cloned().ok_or_else(|| {
                StoreError::Corrupt(format!("table {}: the key column {k} is not among its columns", table.name))
            })
        })
        .collect()
}

/// A primary key as `rally_copy` keeps it: a JSON array of integers and strings.
fn encode_key(key: &[Value]) -> Result<String> {
    let values = key
        .iter()
        .map(|v| match v {
            Value::Integer(i) => Ok(serde_json::Value::from(*i)),
            Value::Text(t) => Ok(serde_json::Value::from(t.as_str())),
            Value::Null => Ok(serde_json::Value::Null),
            _ => Err(StoreError::Corrupt(
                "a primary key holds a real or a blob; rally db copy keeps only integer and text keys".into(),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(serde_json::Value::Array(values).to_string())
}

fn decode_key(text: &str) -> Result<Vec<Value>> {
    let bad = || StoreError::Corrupt(format!("rally_copy holds a key that does not read back: {text}"));
    let serde_json::Value::Array(values) = serde_json::from_str(text).map_err(|_| bad())? else {
        return Err(bad());
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Null => Ok(Value::Null),
            serde_json::Value::String(s) => Ok(Value::Text(s)),
            serde_json::Value::Number(n) => n.as_i64().map(Value::Integer).ok_or_else(bad),
            _ => Err(bad()),
        })
        .collect()
}

/// One table's line of `rally_copy`.
struct TableState {
    /// FROM's rows and last key when the copy began.
    total: u64,
    from_last: Option<Vec<Value>>,
    /// Rows copied so far, and the last key copied.
    copied: u64,
    last_key: Option<Vec<Value>>,
}

/// Where an interrupted copy into `db` stopped (`None`: no copy was begun). Errors when TO's tables
/// no longer hold what `rally_copy` says was copied into them.
fn read_state(db: &Db, plan: &[TablePlan]) -> Result<Option<BTreeMap<String, TableState>>> {
    if !has_bookkeeping(db)? {
        return Ok(None);
    }
    let mut stmt = db.prepare("SELECT table_name, total, from_last, copied, last_key FROM rally_copy")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<sql::Result<Vec<_>>>()?;
    let mut state = BTreeMap::new();
    for (table, total, from_last, copied, last_key) in rows {
        let from_last = from_last.as_deref().map(decode_key).transpose()?;
        let last_key = last_key.as_deref().map(decode_key).transpose()?;
        state.insert(table, TableState { total: total as u64, from_last, copied: copied as u64, last_key });
    }
    let planned: BTreeSet<&str> = plan.iter().map(|t| t.name.as_str()).collect();
    if state.keys().map(String::as_str).collect::<BTreeSet<_>>() != planned {
        return Err(StoreError::rule(
            "the interrupted copy's bookkeeping names other tables than the schema has; empty TO and copy again",
        ));
    }
    for t in plan {
        let n: i64 = db.query_row(&format!("SELECT COUNT(*) FROM {}", ident(&t.name)), [], |r| r.get(0))?;
        if n as u64 != state[&t.name].copied {
            return Err(StoreError::rule(format!(
                "TO changed since the interrupted copy (table {} holds {n} rows, the copy wrote {}): was rally \
                 started on it? Empty it and copy again",
                t.name, state[&t.name].copied
            )));
        }
    }
    Ok(Some(state))
}

/// Creates `rally_copy` with a line per table (name, FROM's rows, FROM's last key), in one
/// transaction.
fn start_bookkeeping(db: &Db, identity: &str, tables: &[(String, u64, Option<String>)]) -> Result<()> {
    db.execute_batch(
        "CREATE TABLE rally_copy (
            table_name TEXT PRIMARY KEY,
            source     TEXT NOT NULL,
            total      BIGINT NOT NULL,
            from_last  TEXT,
            copied     BIGINT NOT NULL DEFAULT 0,
            last_key   TEXT
        )",
    )?;
    for (table, total, last) in tables {
        db.execute(
            "INSERT INTO rally_copy (table_name, source, total, from_last) VALUES (?1, ?2, ?3, ?4)",
            params![table, identity, *total as i64, last],
        )?;
    }
    Ok(())
}

/// Most parameters in one INSERT: well inside SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 8000;

/// Inserts `rows` into `table` and records the batch in `rally_copy`: one job of TO's writer, so the
/// rows and their bookkeeping commit together or not at all.
fn insert_batch(db: &Db, table: &str, columns: &[String], rows: &[Vec<Value>], last_key: &str) -> Result<()> {
    let width = columns.len().max(1);
    let per_statement = (MAX_PARAMS / width).max(1);
    let names = columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    let one_row = format!("({})", vec!["?"; width].join(", "));
    for chunk in rows.chunks(per_statement) {
        let sql =
            format!("INSERT INTO {} ({names}) VALUES {}", ident(table), vec![one_row.as_str(); chunk.len()].join(", "));
        let mut stmt = if chunk.len() == per_statement { db.prepare_cached(&sql) } else { db.prepare(&sql) }
            .map_err(|e| without_values(table, e))?;
        stmt.execute(params_from_iter(chunk.iter().flatten())).map_err(|e| without_values(table, e))?;
    }
    let updated = db.execute(
        "UPDATE rally_copy SET copied = copied + ?1, last_key = ?2 WHERE table_name = ?3",
        params![rows.len() as i64, last_key, table],
    )?;
    if updated != 1 {
        return Err(StoreError::Corrupt(format!("rally_copy has no line for table {table}")));
    }
    Ok(())
}

/// An error of writing into `table`, without the values PostgreSQL's detail quotes ("Key (hash)=(...)
/// already exists"): rows may hold secrets (CRM tokens, webhook hashes), which are never printed.
fn without_values(table: &str, e: sql::Error) -> StoreError {
    let message = match &e {
        sql::Error::Postgres(pg) => match pg.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        },
        _ => e.to_string(),
    };
    StoreError::Migration(format!("copying table {table} failed: {message}"))
}

/// The last step: PostgreSQL's identities past the largest ids copied (an explicit id does not move
/// them), then `rally_copy` dropped.
fn finish(db: &Db, plan: &[TablePlan]) -> Result<()> {
    if db.dialect() == Dialect::Postgres {
        for t in plan {
            for column in &t.columns {
                let sequence: Option<String> =
                    db.query_row("SELECT pg_get_serial_sequence(?1, ?2)", params![t.name, column], |r| r.get(0))?;
                let Some(sequence) = sequence else { continue };
                db.query_row(
                    &format!(
                        "SELECT setval(CAST(CAST(?1 AS TEXT) AS regclass), GREATEST(COALESCE(MAX({c}), 0) + 1, 1), false) FROM {t}",
                        c = ident(column),
                        t = ident(&t.name)
                    ),
                    [&sequence],
                    |_| Ok(()),
                )?;
            }
        }
    }
    db.execute_batch("DROP TABLE rally_copy")?;
    // Statistics for what was just copied, before the first rally reads it.
    super::refresh_statistics(db)
}

/// The totals `rally db check` prints: equal on both sides of a finished copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbTotals {
    /// Every table's rows, by table name.
    pub rows: Vec<(String, i64)>,
    /// Sums that matter, by what they sum: live activities and their points and amounts (minor
    /// units), deal values (minor units), the rollups' points and amounts.
    pub sums: Vec<(String, i64)>,
}

/// Each sum of [`DbTotals::sums`]: its label and the query that yields it (one integer).
const SUMS: &[(&str, &str)] = &[
    ("activities live", "SELECT COUNT(*) FROM activities WHERE deleted_at IS NULL"),
    ("activities live points", "SELECT COALESCE(SUM(points), 0) FROM activities WHERE deleted_at IS NULL"),
    ("activities live amount", "SELECT COALESCE(SUM(amount), 0) FROM activities WHERE deleted_at IS NULL"),
    ("deals value", "SELECT COALESCE(SUM(value), 0) FROM deals"),
    ("deals won value", "SELECT COALESCE(SUM(value), 0) FROM deals WHERE outcome = 'won'"),
    ("day_rollups points", "SELECT COALESCE(SUM(points), 0) FROM day_rollups"),
    ("day_rollups amount", "SELECT COALESCE(SUM(amount), 0) FROM day_rollups"),
    ("month_rollups points", "SELECT COALESCE(SUM(points), 0) FROM month_rollups"),
    ("day_points revenue", "SELECT COALESCE(SUM(revenue), 0) FROM day_points"),
    ("month_points revenue", "SELECT COALESCE(SUM(revenue), 0) FROM month_points"),
    ("team_month_rollups points", "SELECT COALESCE(SUM(points), 0) FROM team_month_rollups"),
];

fn totals(db: &Db) -> Result<DbTotals> {
    let mut rows = Vec::new();
    for t in plan_tables(db)? {
        let n: i64 = db.query_row(&format!("SELECT COUNT(*) FROM {}", ident(&t.name)), [], |r| r.get(0))?;
        rows.push((t.name, n));
    }
    let mut sums = Vec::new();
    for (label, sql) in SUMS {
        sums.push(((*label).to_owned(), db.query_row(sql, [], |r| r.get(0))?));
    }
    Ok(DbTotals { rows, sums })
}

/// Every row of every table (without `rally_copy` and `rally_schema`), by table name, each table in
/// primary-key order: for tests comparing two databases value by value.
#[doc(hidden)]
pub fn dump(db: &Db) -> Result<BTreeMap<String, Vec<Vec<Value>>>> {
    let mut out = BTreeMap::new();
    for t in plan_tables(db)? {
        let mut columns = t.columns.clone();
        // The same column order on both backends, whatever order each table declares them in.
        columns.sort();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", "),
            ident(&t.name),
            t.key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ")
        );
        let width = columns.len();
        let rows = db
            .prepare(&sql)?
            .query_map([], |r| (0..width).map(|i| r.get::<_, Value>(i)).collect())?
            .collect::<sql::Result<Vec<Vec<Value>>>>()?;
        out.insert(t.name, rows);
    }
    Ok(out)
}

impl Store {
    /// Row counts per table and the sums that must agree between a database and its copy.
    pub async fn totals(&self) -> Result<DbTotals> {
        self.read(totals).await
    }

    /// Every row of every table ([`dump`]), for tests.
    #[doc(hidden)]
    pub async fn dump(&self) -> Result<BTreeMap<String, Vec<Vec<Value>>>> {
        self.read(dump).await
    }

    /// The tables in the order a copy takes them, parents first.
    pub async fn copy_plan(&self) -> Result<Vec<TablePlan>> {
        self.read(plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, parents: &[&str]) -> TablePlan {
        TablePlan {
            name: name.into(),
            columns: vec!["id".into()],
            key: vec!["id".into()],
            parents: parents.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn keys_read_back_as_they_were_written() {
        let key = vec![Value::Integer(i64::MAX), Value::Text("a \"quoted\" ü".into()), Value::Integer(-3), Value::Null];
        assert_eq!(decode_key(&encode_key(&key).unwrap()).unwrap(), key);
        assert!(encode_key(&[Value::Real(1.5)]).is_err());
        assert!(decode_key("not json").is_err());
        assert!(decode_key("[1.5]").is_err());
    }

    #[test]
    fn tables_come_parents_first_and_a_cycle_is_an_error() {
        let ordered =
            order(vec![table("c", &["b"]), table("b", &["a"]), table("a", &[]), table("x", &["gone"])]).unwrap();
        let names: Vec<&str> = ordered.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "x"]);
        assert!(order(vec![table("a", &["b"]), table("b", &["a"])]).is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("before"), "\"before\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
