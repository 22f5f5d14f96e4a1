//! The store: schema, migrations and every SQL statement of rally, on a SQLite file (the default) or
//! a PostgreSQL database ([`Location`]). The only module that imports rusqlite or postgres. Imports
//! `domain` types only. Store modules write their SQL once, against [`sql::Db`]; the schema has a
//! migration list per backend (`migrations.rs`, `postgres/migrations.rs`), checked to agree.
//!
//! Writes go to one writer thread that commits whatever is queued together (group commit): many
//! concurrent `/log`s share one fsync, and each is acknowledged only after its commit is durable
//! (WAL, `synchronous=FULL`). Each write runs in its own savepoint, so a failing write never takes
//! its neighbours down. Reads use a small pool of read-only connections on blocking threads, so
//! async callers never block the runtime. A checkpointer thread copies the WAL into the database
//! file beside them, so no commit waits for that. On PostgreSQL the writer and the readers are the
//! same, with connections instead of files: each batch takes one advisory lock first, so batches
//! from every process on the database commit one at a time, as on SQLite.

mod activities;
pub mod bench;
mod cache;
pub mod celebrations;
mod comp;
pub mod competitions;
pub mod copy;
pub mod crm;
mod deals;
pub mod goals;
mod guilds;
pub mod hygiene;
mod import;
pub mod intake;
mod kpis;
mod migrations;
pub mod milestones;
mod nudges;
pub mod postgres;
mod review;
pub mod rewards;
pub mod schedules;
pub mod sql;
mod teams;
mod wallboard;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::domain::DomainError;
use sql::Db;

pub use activities::{ActivityRecord, Difference, Logged, NewActivity, Undone};
pub use deals::{CloseDeal, DealChanged, DealQuery, DealRecord, DealTotals, FunnelDeal, NewDeal, OpenDeal};
pub use import::{ImportRow, ImportRowOutcome, RemoveRowOutcome};
pub use kpis::{
    KindTotalsRow, MemberGoals, MemberReportRead, MemberReportRows, MemberRows, MemberSums, ReportRead, ReportRows,
    RollupMismatch, SubjectRows, TotalsScope,
};
pub use migrations::{MIGRATIONS, schema_version};
pub use review::{Decision, Flagged, ReviewItem, ReviewQueue, ReviewStatus};
pub use teams::{Member, Team};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Input broke a rule that only the database can check (an unknown kind, a taken name).
    #[error("{0}")]
    Rule(#[from] DomainError),
    #[error("database error: {0}")]
    Database(#[from] sql::Error),
    #[error("the database writer stopped; the write was not stored")]
    WriterGone,
    /// The process is stopping: a read queued as the runtime shut down was never made.
    #[error("rally is shutting down; the read was not made")]
    ShuttingDown,
    #[error("cannot open the database at {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    /// PostgreSQL could not be reached or refused the connection. `location` never holds the
    /// password.
    #[error("cannot connect to the database at {location}: {message}")]
    Connect { location: String, message: String },
    #[error("{0}")]
    Migration(String),
    /// A stored row no longer reads as what it should be.
    #[error("unreadable stored data: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.into())
    }
}

impl StoreError {
    /// Whether the database connection was lost underneath ([`sql::Error::connection_lost`]).
    pub fn connection_lost(&self) -> bool {
        matches!(self, StoreError::Database(e) if e.connection_lost())
    }

    pub fn rule(message: impl Into<String>) -> Self {
        StoreError::Rule(DomainError::invalid(message))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A write waiting for the writer thread: it runs inside a savepoint and returns whether it
/// succeeded plus what to do once the surrounding transaction is (or is not) committed.
type Job = Box<dyn FnOnce(&Db) -> (bool, Completion) + Send>;
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Most writes committed in one transaction; bounds the latency a write can add to its batch.
const MAX_BATCH: usize = 512;
/// Pooled read-only connections, and so reads running at once: a few per core is plenty, since
/// reads are short, and more would only add page caches and threads.
const READERS: usize = 4;
/// SQLite page cache per read connection, in KiB (negative `cache_size`): bounds the memory the
/// pool holds whatever the database size.
const READER_CACHE_KIB: i64 = 4096;
/// The writer's page cache, in KiB: a batch of /logs touches pages all over the member-keyed
/// indexes, and with SQLite's 2 MB default most of them were read back from the OS every batch.
const WRITER_CACHE_KIB: i64 = 16 * 1024;
/// The writer's page cache while a bulk import runs: a large import into a large database dirties
/// most of a guild's index and rollup pages, and with the everyday 16 MiB they are spilled and read
/// back again and again (the full-scale profile: 40 % of the import in page reads and writes).
pub const BULK_WRITER_CACHE_KIB: i64 = 256 * 1024;

struct Inner {
    location: Location,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Dropping the sender stops the checkpointer (after one last checkpoint).
    checkpoints: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    readers: Mutex<Vec<Db>>,
    /// One permit per pooled reader: reads wait here instead of opening connections beyond the
    /// pool (each with its own page cache and schema parse) when many requests arrive at once.
    read_slots: tokio::sync::Semaphore,
    /// Guild settings and kinds, read on every command (see `cache.rs`).
    cache: cache::GuildCache,
    wal: Arc<WalState>,
    /// Statements run on the read connections since the store opened ([`Store::read_statements`]).
    read_statements: Arc<AtomicU64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // PostgreSQL clients block on a runtime of their own when dropped: not on this thread,
        // which may be an async task's.
        if let Ok(mut readers) = self.readers.lock()
            && readers.iter().any(|r| r.dialect() == sql::Dialect::Postgres)
        {
            let readers = std::mem::take(&mut *readers);
            off_runtime(move || drop(readers));
        }
        // Closing the channel lets the writer finish its queue and exit; joining makes sure every
        // queued write is committed before the process moves on.
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
        if let Ok(mut checkpoints) = self.checkpoints.lock()
            && let Some((stop, handle)) = checkpoints.take()
        {
            drop(stop);
            let _ = handle.join();
        }
    }
}

/// A handle on one rally database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// How long a connection waits for another one's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the writer waits for readers to leave the WAL before rewinding it.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // FULL: a commit is on disk (WAL fsynced) before we acknowledge it, even on power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Savepoint journals and sorts stay in memory: every write runs in a savepoint.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Where a rally database lives: a SQLite file (the default) or a PostgreSQL database.
///
/// Parsed from `--db` / `RALLY_DB` by [`Location::parse`]. Shown (`Display`, `Debug`) without the
/// password a PostgreSQL URL may carry.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file, created on first use by commands that write.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string: a `postgres://` or `postgresql://` URL (libpq's form,
    /// e.g. `postgres://rally@db.internal/rally` or `postgresql://postgres@%2Frun%2Fpostgresql/rally`
    /// for a Unix socket). The database must exist; rally creates its tables.
    Postgres(String),
}

impl Location {
    /// `postgres://...` or `postgresql://...` is PostgreSQL, and so is libpq's key=value form
    /// (`host=/run/postgresql dbname=rally user=rally`, told by its first keyword), which becomes the
    /// equivalent URL. `sqlite:PATH` or any other text is a SQLite file path. Errors: an empty
    /// text, `sqlite:` without a path, `sqlite://...` (whose slashes tools read differently), another
    /// scheme (`mysql://...`, `postgress://...`), or a key=value text libpq could not read.
    pub fn parse(text: &str) -> std::result::Result<Location, String> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Location::Postgres(text.to_owned()));
        }
        if let Some(key) = key_value_key(text) {
            if !LIBPQ_KEYWORDS.contains(&key) {
                return Err(format!(
                    "`{key}=` reads as libpq's key=value form, but `{key}` is not one of its keywords (host, port, \
                     dbname, user, password, sslmode, ...). For a SQLite file of that name, write sqlite: before it"
                ));
            }
            return libpq_key_values_as_url(text).map(Location::Postgres);
        }
        if text.starts_with("sqlite://") {
            return Err(
                "write a SQLite file as sqlite:PATH (sqlite:rally.db, sqlite:/var/lib/rally/rally.db), without the //"
                    .into(),
            );
        }
        if let Some((scheme, _)) = text.split_once("://")
            && !scheme.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            let guess = if scheme.to_ascii_lowercase().starts_with("p") { " Did you mean postgres://?" } else { "" };
            return Err(format!("`{scheme}://` is not a database rally knows: {DATABASE_FORMS}.{guess}"));
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        if path.is_empty() {
            return Err(format!("no database named: {DATABASE_FORMS}"));
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }

    /// The SQLite file, when it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Location::Sqlite(path)
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Location::Sqlite(path.to_path_buf())
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location({self})")
    }
}

/// `url` with any password replaced by `***`: in the user-info part (`user:secret@host`) and in a
/// `password=` query parameter.
fn redact_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// libpq's connection keywords (<https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS>):
/// a `--db` that starts with one of them and `=` is libpq's key=value form.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

/// What a database may be written as, for messages.
const DATABASE_FORMS: &str = "a database is a SQLite file (rally.db, sqlite:rally.db) or PostgreSQL (a postgres:// or \
     postgresql:// URL, or libpq's key=value pairs such as host=/run/postgresql dbname=rally)";

/// The key when `text` opens as libpq's key=value form does: a word of letters, digits and `_`
/// (not starting with a digit), then `=` (spaces around it allowed). A file name does not start
/// so, unless written `sqlite:NAME`.
fn key_value_key(text: &str) -> Option<&str> {
    let (key, _) = text.split_once('=')?;
    let key = key.trim_end();
    let mut chars = key.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(key)
}

/// libpq's key=value form as the URL that means the same: every pair a query parameter of a URL
/// with no host (`postgresql://?host=%2Frun%2Fpostgresql&dbname=rally`), values percent-encoded.
/// Values may be bare or single-quoted, with `\'` and `\\` escapes, as libpq reads them. Errors
/// (without the password's value): a word without `=`, an unclosed quote.
fn libpq_key_values_as_url(text: &str) -> std::result::Result<String, String> {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    // What a query value cannot hold as it is; a socket's `/` reads as it was written.
    const VALUE: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'&').add(b'=').add(b'#').add(b'+').add(b'\'');
    let mut rest = text.trim_start();
    let mut params = Vec::new();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = rest[key_end..].trim_start();
        let Some(after) = rest.strip_prefix('=') else {
            return Err(format!(
                "`{key}` has no value: libpq's form is key=value pairs (host=/run/postgresql dbname=rally), or give a postgres:// URL"
            ));
        };
        rest = after.trim_start();
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let quoted = rest.starts_with('\'');
        if quoted {
            chars.next();
        }
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '\'' if quoted => {
                    end = Some(i + 1);
                    break;
                }
                c if !quoted && c.is_whitespace() => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = match end {
            Some(end) => end,
            None if quoted => return Err(format!("the value of `{key}` opens a quote (') that does not close")),
            None => rest.len(),
        };
        rest = rest[end..].trim_start();
        params.push(format!("{key}={}", utf8_percent_encode(&value, VALUE)));
    }
    Ok(format!("postgresql://?{}", params.join("&")))
}

/// The advisory lock every PostgreSQL write transaction takes first: writes from every rally
/// instance on one database run one batch at a time, as SQLite's single writer does, so the
/// checks a write makes before it writes (a daily cap, a name taken) hold when it commits.
const PG_WRITE_LOCK: i64 = 0x7261_6c6c_7901;

/// What each of rally's PostgreSQL sessions sets first ([`pg_connect`]).
const PG_SESSION: &str = "SET max_parallel_workers_per_gather = 0";

/// Connects to PostgreSQL at `url` (errors name the database without its password).
fn pg_connect(url: &str) -> Result<Db> {
    let location = redact_password(url);
    let failed = |message: String| StoreError::Connect { location: location.clone(), message };
    let (driver_url, tls) = postgres::tls::split(url).map_err(failed)?;
    let mut config: ::postgres::Config =
        driver_url.parse().map_err(|e: ::postgres::Error| failed(sql::Error::from(e).to_string()))?;
    config.application_name("rally");
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err(failed(
            "it names no server: write its host (postgres://rally@db.internal/rally), or its socket directory \
             percent-encoded (postgresql://rally@%2Frun%2Fpostgresql/rally) or as host=/run/postgresql; rally does \
             not read PGHOST or libpq's other PG* variables"
                .into(),
        ));
    }
    // libpq ignores sslmode on a Unix socket, which never leaves the machine, and so does rally:
    // a URL written for TCP with sslmode=require still works pointed at the local socket.
    let tls = match tls {
        postgres::tls::Tls::Required(_) if only_unix_sockets(&config) => {
            config.ssl_mode(::postgres::config::SslMode::Disable);
            postgres::tls::Tls::Off
        }
        tls => tls,
    };
    let client = match tls {
        postgres::tls::Tls::Off => config.connect(::postgres::NoTls),
        postgres::tls::Tls::Required(roots) => config.connect(postgres::tls::connector(&roots).map_err(failed)?),
    }
    .map_err(|e| {
        let message = sql::Error::from(e).to_string();
        // rustls's words for a server certificate signed by a CA it was not given.
        if message.contains("invalid peer certificate") {
            failed(format!(
                "{message}; name the CA that signed the server's certificate with sslrootcert=/path/ca.pem in the URL"
            ))
        } else {
            failed(message)
        }
    })?;
    let db = Db::postgres(client);
    // No parallel query: rally's statements are short indexed reads, and starting the workers
    // costs more than they save. At the bench's full scale PostgreSQL chose a parallel plan for a
    // week's board once its sums were done in SQL, and took 8 to 11.5 ms instead of 2.7 ms. A SET
    // (not a startup option, which a connection pooler may refuse) for the session.
    db.execute_batch(PG_SESSION).map_err(|e| failed(e.to_string()))?;
    Ok(db)
}

/// Whether every host `config` names is a Unix socket (a directory), and it names at least one.
fn only_unix_sockets(config: &::postgres::Config) -> bool {
    let hosts = config.get_hosts();
    !hosts.is_empty()
        && config.get_hostaddrs().is_empty()
        && hosts.iter().all(|h| matches!(h, ::postgres::config::Host::Unix(_)))
}

/// Whether the PostgreSQL database holds rally's tables.
fn postgres_has_schema(db: &Db) -> Result<bool> {
    Ok(db.query_row("SELECT to_regclass('rally_schema') IS NOT NULL", [], |r| r.get(0))?)
}

/// Brings the PostgreSQL schema up to date (several instances starting at once migrate once).
fn postgres_migrate(db: &Db) -> Result<()> {
    match db.with_postgres_client(postgres::migrate) {
        Some(result) => result.map_err(|e| StoreError::Migration(e.to_string())),
        None => Ok(()),
    }
}

/// Runs `f` on a thread of its own and waits for it: the `postgres` crate blocks on a runtime of its
/// own in every call (and when a client is dropped), which tokio refuses inside an async task.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join()).unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path.as_ref(), OpenFlags::default(), false)
    }

    /// Opens the database at `location`, creating a SQLite file if needed, and brings its schema up
    /// to date. A PostgreSQL database must exist; its tables are created on first use.
    pub fn open_at(location: &Location) -> Result<Store> {
        match location {
            Location::Sqlite(path) => Store::open(path),
            Location::Postgres(url) => Store::open_postgres(url, true, false)?
                .ok_or_else(|| StoreError::Migration("the PostgreSQL database could not be prepared".into())),
        }
    }

    /// [`Store::open_at`] for the target of `rally db copy`, which may hold the bookkeeping of the
    /// copy it is finishing.
    pub(crate) fn open_at_for_copy(location: &Location) -> Result<Store> {
        match location {
            Location::Sqlite(path) => Store::open_with(path, OpenFlags::default(), true),
            Location::Postgres(url) => Store::open_postgres(url, true, true)?
                .ok_or_else(|| StoreError::Migration("the PostgreSQL database could not be prepared".into())),
        }
    }

    /// [`Store::open_existing`] for any location: `None` when there is no SQLite file there, or
    /// when the PostgreSQL database holds no rally schema yet.
    pub fn open_existing_at(location: &Location) -> Result<Option<Store>> {
        match location {
            Location::Sqlite(path) => Store::open_existing(path),
            Location::Postgres(url) => Store::open_postgres(url, false, false),
        }
    }

    fn open_postgres(url: &str, create: bool, copying: bool) -> Result<Option<Store>> {
        let writer = off_runtime(|| -> Result<Option<Db>> {
            let writer = pg_connect(url)?;
            if !create && !postgres_has_schema(&writer)? {
                return Ok(None);
            }
            postgres_migrate(&writer)?;
            if !copying {
                refuse_unfinished_copy(&writer, &Location::Postgres(url.to_owned()))?;
            }
            Ok(Some(writer))
        })?;
        let Some(writer) = writer else { return Ok(None) };
        let (tx, rx) = mpsc::channel::<Job>();
        let wal = Arc::new(WalState::default());
        let writer_wal = wal.clone();
        let reconnect_url = url.to_owned();
        let writer = std::thread::Builder::new()
            .name("rally-writer".into())
            .spawn(move || {
                let reconnect = move || pg_connect(&reconnect_url);
                writer_loop(writer, rx, &writer_wal, Some(&reconnect))
            })
            .map_err(|e| StoreError::Migration(format!("cannot start the writer thread: {e}")))?;
        Ok(Some(Store {
            inner: Arc::new(Inner {
                location: Location::Postgres(url.to_owned()),
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                checkpoints: Mutex::new(None),
                readers: Mutex::new(Vec::new()),
                read_slots: tokio::sync::Semaphore::new(READERS),
                cache: cache::GuildCache::default(),
                wal,
                read_statements: Arc::default(),
            }),
        }))
    }

    /// Opens the database at `path` only if it is already there (`None` if not), so a mistyped
    /// path given to a command that only reads is reported instead of answered from a new, empty
    /// file. An existing file of an older schema is still migrated.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Option<Store>> {
        let path = path.as_ref();
        if matches!(path.try_exists(), Ok(false)) {
            return Ok(None);
        }
        // Without CREATE, a file removed since the check above is an error rather than a new file.
        Store::open_with(path, OpenFlags::default().difference(OpenFlags::SQLITE_OPEN_CREATE), false).map(Some)
    }

    /// `copying`: the target of `rally db copy`, which may hold the copy's bookkeeping; any other
    /// use refuses a database that does ([`refuse_unfinished_copy`]).
    fn open_with(path: &Path, flags: OpenFlags, copying: bool) -> Result<Store> {
        // SQLite says only "unable to open database file" when the directory is missing.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && matches!(dir.try_exists(), Ok(false))
        {
            return Err(StoreError::rule(format!(
                "cannot open the database at {}: there is no directory {}",
                path.display(),
                dir.display()
            )));
        }
        let path = path.to_path_buf();
        let open_err = |source| StoreError::Open { path: path.clone(), source };
        let mut conn = Connection::open_with_flags(&path, flags).map_err(open_err)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        migrations::migrate(&mut conn)?;
        if !copying {
            let location = Location::Sqlite(path.clone());
            refuse_unfinished_copy(&Db::sqlite(conn), &location)?;
            conn = Connection::open_with_flags(&path, flags).map_err(open_err)?;
            configure(&conn).map_err(open_err)?;
        }
        // Checkpoints run on a thread of their own (below), never inside a commit: under reads,
        // an automatic checkpoint at every commit past 1000 WAL pages made each /log wait for
        // the main database file's fsync too.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(open_err)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB).map_err(open_err)?;
        // A rewound log is cut back to this size rather than keep its largest extent on disk.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).map_err(open_err)?;
        let checkpointer = Connection::open_with_flags(&path, flags).map_err(open_err)?;
        configure(&checkpointer).map_err(open_err)?;

        let wal = Arc::new(WalState::default());
        let writer_wal_shared = wal.clone();
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_wal = wal.clone();
        let writer = std::thread::Builder::new()
            .name("rally-writer".into())
            .spawn(move || writer_loop(Db::sqlite(conn), rx, &writer_wal, None))
            .map_err(|e| StoreError::Migration(format!("cannot start the writer thread: {e}")))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpoints = std::thread::Builder::new()
            .name("rally-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stopped, &wal))
            .map_err(|e| StoreError::Migration(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                location: Location::Sqlite(path),
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                checkpoints: Mutex::new(Some((stop, checkpoints))),
                readers: Mutex::new(Vec::new()),
                read_slots: tokio::sync::Semaphore::new(READERS),
                cache: cache::GuildCache::default(),
                wal: writer_wal_shared,
                read_statements: Arc::default(),
            }),
        })
    }

    /// Where the database is.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    /// Brings a database just bulk-loaded (the bench's loader) to the state autovacuum keeps a
    /// running one in: on PostgreSQL `VACUUM (ANALYZE)`, on a connection of its own (VACUUM runs
    /// outside any transaction, so not on the writer's). ANALYZE gives the planner statistics for
    /// the rows loaded moments ago (without them a year of a team was read by scanning the whole
    /// table); VACUUM marks the pages all-visible, so that reads through a covering index (a
    /// team's rollups) answer from the index instead of visiting each row in the table, as they
    /// do once autovacuum has passed. SQLite keeps no statistics on purpose (the reads that need an
    /// index name it) and has no visibility map, so there it does nothing. Errors: the database's.
    pub async fn refresh_statistics(&self) -> Result<()> {
        let Location::Postgres(url) = &self.inner.location else { return Ok(()) };
        let url = url.clone();
        tokio::task::spawn_blocking(move || -> Result<()> { Ok(pg_connect(&url)?.execute_batch("VACUUM (ANALYZE)")?) })
            .await
            .map_err(|e| StoreError::Migration(format!("VACUUM task failed: {e}")))?
    }

    /// Runs `f` on the writer thread inside its own savepoint and resolves once it is durable.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T> + Send + 'static,
    {
        self.submit(f)?.await.map_err(|_| StoreError::WriterGone)?
    }

    /// [`Store::write`] for a thread that is not an async task's (the database copy's): waits for
    /// the commit by blocking. Never call it from an async task.
    fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T> + Send + 'static,
    {
        self.submit(f)?.blocking_recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Queues `f` for the writer thread; the receiver gets its result once the batch it ran in is
    /// committed (or refused).
    fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let completion: Completion = Box::new(move |committed| {
                let _ = tx.send(match committed {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Migration(format!("commit failed: {e}"))),
                });
            });
            (ok, completion)
        });
        self.inner
            .jobs
            .lock()
            .map_err(|_| StoreError::WriterGone)?
            .as_ref()
            .ok_or(StoreError::WriterGone)?
            .send(job)
            .map_err(|_| StoreError::WriterGone)?;
        Ok(rx)
    }

    /// Runs `f` on a pooled read-only connection on a blocking thread.
    /// Bulk mode, for the duration of a large import: the writer gets a big page cache and the
    /// WAL may grow to 256 MiB before the writer rewinds it. Off restores the everyday sizes and
    /// gives the cache pages back.
    pub async fn set_bulk_mode(&self, on: bool) -> Result<()> {
        let (kib, frames) =
            if on { (BULK_WRITER_CACHE_KIB, BULK_WAL_RESTART_FRAMES) } else { (WRITER_CACHE_KIB, WAL_RESTART_FRAMES) };
        self.inner.wal.restart_frames.store(frames, Ordering::Release);
        self.write(move |c| match c.as_sqlite() {
            Some(c) => Ok(c.pragma_update(None, "cache_size", -kib)?),
            None => Ok(()),
        })
        .await
    }

    /// How many statements the store's reads have run since it opened (each one round trip on
    /// PostgreSQL; the writer's are not counted): `rally bench` and the tests read it before and
    /// after a reply to know how many the reply took.
    pub fn read_statements(&self) -> u64 {
        self.inner.read_statements.load(Ordering::Relaxed)
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Db) -> Result<T> + Send + 'static,
    {
        let _slot = self.inner.read_slots.acquire().await.map_err(|_| StoreError::WriterGone)?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f)).await.map_err(|e| {
            if e.is_cancelled() {
                StoreError::ShuttingDown
            } else {
                StoreError::Migration(format!("read task failed: {e}"))
            }
        })?
    }

    fn read_blocking<T>(&self, f: impl Fn(&Db) -> Result<T>) -> Result<T> {
        let pooled = self.inner.readers.lock().ok().and_then(|mut p| p.pop()).filter(|c| !c.is_broken());
        let conn = match pooled {
            Some(c) => c,
            None => self.new_reader()?,
        };
        let mut result = f(&conn);
        let mut conn = conn;
        // A connection the server closed since it was pooled (a restart, a failover, an admin):
        // the read runs once more on a new one. A read changes nothing, so running it twice is safe.
        if result.as_ref().is_err_and(|e| e.connection_lost()) || (result.is_err() && conn.is_broken()) {
            conn = self.new_reader()?;
            result = f(&conn);
        }
        if let Ok(mut pool) = self.inner.readers.lock()
            && pool.len() < READERS
            && !conn.is_broken()
            && !result.as_ref().is_err_and(|e| e.connection_lost())
        {
            pool.push(conn);
        }
        result
    }

    /// A new read connection: read-only on SQLite, with a small page cache.
    fn new_reader(&self) -> Result<Db> {
        match &self.inner.location {
            Location::Sqlite(path) => {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|source| StoreError::Open { path: path.clone(), source })?;
                configure(&c)?;
                c.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
                Ok(Db::sqlite(c).remember_reads().count_statements(self.inner.read_statements.clone()))
            }
            Location::Postgres(url) => {
                Ok(pg_connect(url)?.remember_reads().count_statements(self.inner.read_statements.clone()))
            }
        }
    }
}

/// How often the checkpointer copies committed WAL pages into the database file, when anything
/// was written since its last run.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// WAL frames (pages) past which the writer restarts the log (see [`WalState`]): 16 MiB.
const WAL_RESTART_FRAMES: i64 = 4096;

/// WAL frames past which the writer restarts the log while a bulk import runs: 256 MiB. The
/// checkpointer keeps copying frames on the other core meanwhile, instead of the writer stopping
/// every few batches to wait for it.
const BULK_WAL_RESTART_FRAMES: i64 = 65_536;

/// Shared by the writer and the checkpointer.
struct WalState {
    /// Commits since the last checkpoint.
    dirty: AtomicBool,
    /// Set by the checkpointer when the log has grown past [`WAL_RESTART_FRAMES`]: a PASSIVE
    /// checkpoint never catches up with a writer that keeps appending, so the WAL could only be
    /// rewound from its start when no commit happened in between. The writer then runs a
    /// RESTART checkpoint between two batches (little is left to copy by then) and the log is
    /// rewound at its next commit.
    restart: AtomicBool,
    /// [`WAL_RESTART_FRAMES`], or [`BULK_WAL_RESTART_FRAMES`] during a bulk import.
    restart_frames: AtomicI64,
}

impl Default for WalState {
    fn default() -> Self {
        WalState {
            dirty: AtomicBool::new(false),
            restart: AtomicBool::new(false),
            restart_frames: AtomicI64::new(WAL_RESTART_FRAMES),
        }
    }
}

/// Copies the WAL into the database file (PASSIVE: concurrently with readers and the writer, never
/// waiting for them) whenever there were commits, until the store closes.
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>, wal: &WalState) {
    loop {
        let last = matches!(stop.recv_timeout(CHECKPOINT_EVERY), Err(mpsc::RecvTimeoutError::Disconnected));
        if wal.dirty.swap(false, Ordering::AcqRel) {
            match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
                Ok(frames) if frames > wal.restart_frames.load(Ordering::Acquire) => {
                    wal.restart.store(true, Ordering::Release)
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next one will retry"),
            }
        }
        if last {
            return;
        }
    }
}

/// Commits the queued writes in batches, each job in its own savepoint. `reconnect` (PostgreSQL)
/// replaces a connection the server closed; the batch that found it closed is refused.
fn writer_loop(mut conn: Db, rx: mpsc::Receiver<Job>, wal: &WalState, reconnect: Option<&dyn Fn() -> Result<Db>>) {
    let begin = match conn.dialect() {
        sql::Dialect::Sqlite => "BEGIN IMMEDIATE".to_owned(),
        sql::Dialect::Postgres => format!("BEGIN; SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})"),
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(batch.len());
        let mut began = conn.execute_batch(&begin);
        // The connection is gone (the server closed it while idle, or a batch before found it
        // closed): no job has run yet, so the batch begins again on a new connection.
        if began.as_ref().is_err_and(|e| e.connection_lost() || conn.is_broken())
            && let Some(reconnect) = reconnect
        {
            match reconnect() {
                Ok(c) => {
                    conn = c;
                    began = conn.execute_batch(&begin);
                }
                Err(e) => tracing::error!(error = %e, "the database connection was lost and cannot be made again"),
            }
        }
        if let Err(e) = began {
            let message = e.to_string();
            for job in batch {
                // The job never ran; its sender is dropped and the caller sees WriterGone.
                drop(job);
            }
            tracing::error!(error = %message, "cannot begin a write transaction");
            continue;
        }
        // Cached statements: no need to parse three statements per write on the one writer thread.
        let step = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ());
        for job in batch {
            if step("SAVEPOINT job").is_err() {
                drop(job);
                continue;
            }
            match catch_unwind(AssertUnwindSafe(|| job(&conn))) {
                Ok((ok, completion)) => {
                    // A job that swallowed a failed statement leaves a PostgreSQL transaction
                    // aborted, and COMMIT would then roll the whole batch back without an error:
                    // RELEASE fails in that state, so the job is rolled back and told it failed.
                    let released = if ok { step("RELEASE job").map_err(|e| e.to_string()) } else { Err(String::new()) };
                    let failed = match released {
                        Ok(()) => None,
                        Err(e) => {
                            let _ = step("ROLLBACK TO job");
                            let _ = step("RELEASE job");
                            (ok).then_some(e)
                        }
                    };
                    completions.push((completion, failed));
                }
                Err(_) => {
                    tracing::error!("a write panicked; it was rolled back");
                    let _ = step("ROLLBACK TO job");
                    let _ = step("RELEASE job");
                }
            }
        }
        let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        wal.dirty.store(true, Ordering::Release);
        if wal.restart.swap(false, Ordering::AcqRel) {
            // RESTART waits for readers to leave the log; a long read (a backup, an export) must
            // not hold the writer up, so it gets a few milliseconds and is otherwise tried again
            // after a later checkpoint.
            if let Some(conn) = conn.as_sqlite() {
                let _ = conn.busy_timeout(RESTART_WAIT);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL restart failed; the log keeps growing until the next one");
                }
                let _ = conn.busy_timeout(BUSY_TIMEOUT);
            }
        }
        for (completion, failed) in completions {
            completion(match failed {
                Some(e) => Err(e),
                None => committed.clone(),
            });
        }
    }
}

/// Milliseconds since the Unix epoch: how instants are stored.
pub(crate) fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Local dates are stored as days since 0001-01-01 (chrono's CE day number): compact and ordered.
pub(crate) fn day_number(d: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    d.num_days_from_ce() as i64
}

/// The month rollups' key: the day number of the first day of `d`'s month.
pub(crate) fn month_number(d: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    day_number(d) - d.day0() as i64
}

pub(crate) fn day_from_number(n: i64) -> chrono::NaiveDate {
    chrono::NaiveDate::from_num_days_from_ce_opt(n as i32).unwrap_or_default()
}

/// `ANALYZE` on PostgreSQL, nothing on SQLite, inside the caller's transaction (a copy's last step):
/// statistics for the rows just copied; see [`Store::refresh_statistics`].
pub(crate) fn refresh_statistics(db: &sql::Db) -> Result<()> {
    if db.dialect() == sql::Dialect::Postgres {
        db.execute_batch("ANALYZE")?;
    }
    Ok(())
}

/// Refuses the database at `location` while it holds the bookkeeping of a `rally db copy` that has
/// not finished (the table `rally_copy`, dropped when the copy ends): its tables are partly copied,
/// so a report would be silently short and a write would collide with rows still to come. Says
/// how to finish the copy. Errors: that refusal, or the database's.
fn refuse_unfinished_copy(db: &Db, location: &Location) -> Result<()> {
    let Some(from) = copy::unfinished_copy_source(db)? else { return Ok(()) };
    let command = format!("rally db copy {from} {location}");
    // Both are shown without their passwords: say what the *** stand for, or the line cannot be pasted.
    let masked = if command.contains("***") { ", with the password where *** stands" } else { "" };
    Err(StoreError::rule(format!(
        "{location} holds an unfinished copy from {from}: run `{command}` again{masked} to finish it (rally uses \
         the database only once the copy is done)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_key_value_form_is_postgresql_as_the_equivalent_url_without_showing_its_password() {
        let parsed =
            Location::parse(" host=/run/postgresql port = 5433 dbname='sales floor' user=rally password='it''s' ");
        // libpq's quoting: '...' with \' inside; the doubled quote above closes and reopens nothing.
        assert!(parsed.is_err(), "{parsed:?}");
        let Location::Postgres(url) = Location::parse(
            r"host=/run/postgresql port = 5433 dbname='sales floor' user=rally password='it\'s&=' sslmode=verify-full",
        )
        .unwrap() else {
            panic!("not PostgreSQL")
        };
        assert_eq!(
            url,
            "postgresql://?host=/run/postgresql&port=5433&dbname=sales%20floor&user=rally&password=it%27s%26%3D&sslmode=verify-full"
        );
        let (driver_url, tls) = postgres::tls::split(&url).unwrap();
        assert_eq!(tls, postgres::tls::Tls::Required(postgres::tls::Roots::System));
        let config: ::postgres::Config = driver_url.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"it's&="[..]));
        assert_eq!(config.get_dbname(), Some("sales floor"));
        assert_eq!(config.get_ports(), [5433]);
        assert!(only_unix_sockets(&config));
        let shown = Location::Postgres(url).to_string();
        assert!(shown.contains("password=***") && !shown.contains("it%27s"), "{shown}");
        // Errors name the key, never a value.
        let e = Location::parse("host=db.internal password='s3cret").unwrap_err();
        assert!(e.contains("`password`") && !e.contains("s3cret"), "{e}");
        let e = Location::parse("host=db.internal dbname").unwrap_err();
        assert!(e.contains("`dbname` has no value"), "{e}");
    }

    #[test]
    fn a_postgresql_url_without_a_server_says_how_to_name_one_before_connecting() {
        for url in ["postgresql:///rally?user=rally", "postgresql://rally:s3cret@/tmp/pg/rally"] {
            let Err(StoreError::Connect { location, message }) = pg_connect(url) else { panic!("{url} connected") };
            assert!(message.contains("names no server") && message.contains("%2Frun%2Fpostgresql"), "{message}");
            assert!(!location.contains("s3cret") && !message.contains("s3cret"), "{location}: {message}");
        }
    }

    #[test]
    fn a_file_is_sqlite_and_another_scheme_or_sqlite_with_slashes_is_refused() {
        for (text, path) in
            [("rally.db", "rally.db"), ("sqlite:rally.db", "rally.db"), ("sqlite:/var/lib/r.db", "/var/lib/r.db")]
        {
            assert_eq!(Location::parse(text).unwrap().sqlite_path(), Some(Path::new(path)), "{text}");
        }
        // `word=` could be a mistyped key=value (a bot quietly on a new file) or a file: asked, and
        // written as sqlite: it is a file. Neither value is repeated (it may be a password).
        for typo in ["dbnam=rally user=rally", "usr=rally password=s3cret", "team=west.db"] {
            let e = Location::parse(typo).unwrap_err();
            assert!(e.contains("not one of its keywords") && e.contains("sqlite:"), "{e}");
            assert!(!e.contains("rally user") && !e.contains("s3cret") && !e.contains("west"), "{e}");
        }
        assert_eq!(Location::parse("sqlite:team=west.db").unwrap().sqlite_path(), Some(Path::new("team=west.db")));
        assert_eq!(Location::parse("sqlite:host=x.db").unwrap().sqlite_path(), Some(Path::new("host=x.db")));
        assert_eq!(Location::parse("./a=b.db").unwrap().sqlite_path(), Some(Path::new("./a=b.db")));
        let e = Location::parse("mysql://root:pw@db/rally").unwrap_err();
        assert!(e.contains("`mysql://` is not a database rally knows") && !e.contains("pw"), "{e}");
        assert!(!e.contains("Did you mean"), "{e}");
        let e = Location::parse("postgress://u:pw@db/rally").unwrap_err();
        assert!(e.contains("`postgress://`") && e.contains("Did you mean postgres://?") && !e.contains("pw"), "{e}");
        let e = Location::parse("sqlite://u:pw@rally.db").unwrap_err();
        assert!(e.contains("sqlite:PATH") && !e.contains("pw"), "{e}");
        assert!(Location::parse("  ").is_err() && Location::parse("sqlite:").is_err());
    }

    #[test]
    fn key_value_pairs_and_sslmode_require_on_a_unix_socket_connect_as_libpq_would() {
        let Some(scratch) = postgres::testing::scratch_database() else { return };
        let config = scratch.config();
        let [::postgres::config::Host::Unix(dir)] = config.get_hosts() else {
            eprintln!("skipped: the test server is not on a Unix socket");
            return;
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        let pairs =
            format!("host='{}' port={port} user={user} dbname={} sslmode=require", dir.display(), scratch.name());
        let Location::Postgres(from_pairs) = Location::parse(&pairs).unwrap() else { panic!("not PostgreSQL") };
        let Location::Postgres(url) = Location::parse(scratch.url()).unwrap() else { panic!("not PostgreSQL") };
        let required = format!("{url}{}sslmode=require", if url.contains('?') { '&' } else { '?' });
        for url in [from_pairs, required.clone()] {
            let db = pg_connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
            let name: String = db.query_row("SELECT current_database()", [], |r| r.get(0)).unwrap();
            assert_eq!(name, scratch.name(), "{url}");
        }
        // And `rally db check` says how it connected.
        let store = Store::open_at(&Location::Postgres(required)).unwrap();
        let shown = tokio::runtime::Runtime::new().unwrap().block_on(store.connection_security()).unwrap();
        assert_eq!(shown.as_deref(), Some("not encrypted (a Unix socket, on this machine)"));
    }

    #[test]
    fn every_postgresql_session_of_rally_runs_without_parallel_workers() {
        let Some(scratch) = postgres::testing::scratch_database() else { return };
        // A plain test, outside any runtime: the `postgres` crate may block here.
        let db = pg_connect(scratch.url()).unwrap();
        let workers: String = db.query_row("SHOW max_parallel_workers_per_gather", [], |r| r.get(0)).unwrap();
        assert_eq!(workers, "0");
    }

    #[test]
    fn after_a_bulk_load_postgresql_is_vacuumed_and_analyzed_as_autovacuum_would_leave_it() {
        let Some(scratch) = postgres::testing::scratch_database() else { return };
        let location = Location::Postgres(scratch.url().to_owned());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = Store::open_at(&location).unwrap();
        // A table of the schema, with rows no vacuum has seen.
        let db = pg_connect(scratch.url()).unwrap();
        db.execute_batch(
            "INSERT INTO guilds (guild_id, created_at) VALUES (1, 0); \
             INSERT INTO members (guild_id, user_id, user_name, team_id, team_since, created_at) \
             SELECT 1, n, 'rep ' || n, 0, 0, 0 FROM generate_series(1, 5000) AS n",
        )
        .unwrap();
        let vacuums = |db: &Db| -> i64 {
            db.query_row("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'members'", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(vacuums(&db), 0);
        runtime.block_on(store.refresh_statistics()).unwrap();
        // Whether VACUUM could mark the pages all-visible yet depends on the server (not while the
        // rows' commit is not flushed, and the test servers commit asynchronously): that it ran is
        // what rally does.
        assert_eq!(vacuums(&db), 1, "VACUUM ran on the table");
        let stats: i64 = db
            .query_row("SELECT COUNT(*) FROM pg_stats WHERE tablename = 'members' AND attname = 'user_name'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stats, 1, "the planner has statistics for the rows loaded");
        drop(store);
        drop(runtime);
    }
}
