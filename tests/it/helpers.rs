//! `spawn_app()`: a fresh rally on a temp database, and small builders for requests.

use chrono::{DateTime, Utc};
use rally::app::App;
use rally::app::log::LogRequest;
use rally::domain::activity::{KindName, Name, Note, Quantity, Snowflake, Source};

/// An interaction in `guild` by `user` (named `rep{user}`) in channel 7, as the CLI builds one: no
/// roles, no bot permissions, no locale. Tests change what they need with struct update syntax.
pub fn invocation(
    guild: u64,
    user: u64,
    interaction: u64,
    permissions: u64,
    action: rally::handlers::Action,
) -> rally::handlers::Invocation {
    rally::handlers::Invocation {
        id: interaction,
        guild: id(guild),
        channel: Some(7),
        user: id(user),
        user_name: format!("rep{user}"),
        roles: Vec::new(),
        permissions,
        app_permissions: None,
        resolved_users: Vec::new(),
        locale: None,
        action,
    }
}

/// A rally on a database of its own, dropped with it: a SQLite file in a temporary directory, or,
/// when `RALLY_TEST_BACKEND=postgres`, a scratch database on the PostgreSQL `RALLY_TEST_POSTGRES`
/// names (`.ci/run` runs the whole suite once per backend).
pub struct TestApp {
    pub app: App,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database, dropped after `app` (fields drop in order).
    pub postgres: Option<rally::store::postgres::testing::ScratchDatabase>,
}

/// The backend the suite runs on: `RALLY_TEST_BACKEND` (`sqlite`, the default, or `postgres`).
pub fn on_postgres() -> bool {
    std::env::var("RALLY_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

impl TestApp {
    /// The SQLite file, for tests that look inside it with SQLite itself; those do not apply on
    /// PostgreSQL, where this panics: check [`TestApp::is_sqlite`] first.
    pub fn db_path(&self) -> std::path::PathBuf {
        assert!(self.postgres.is_none(), "db_path() is a SQLite file; this test runs on PostgreSQL");
        self.dir.path().join("rally.db")
    }

    pub fn is_sqlite(&self) -> bool {
        self.postgres.is_none()
    }

    /// Where the database is, to open it again.
    pub fn location(&self) -> rally::app::Location {
        match &self.postgres {
            Some(db) => rally::app::Location::Postgres(db.url().to_owned()),
            None => rally::app::Location::Sqlite(self.dir.path().join("rally.db")),
        }
    }
}

/// A fresh, empty database for tests that run the `rally` binary on it (`rally run`, `rally serve`,
/// `rally demo`): a SQLite file in a temporary directory, or a scratch PostgreSQL database when
/// `RALLY_TEST_BACKEND=postgres`. Dropped (the directory removed, the database dropped) with it.
pub struct TestDb {
    dir: tempfile::TempDir,
    postgres: Option<rally::store::postgres::testing::ScratchDatabase>,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let postgres = on_postgres().then(|| {
            rally::store::postgres::testing::scratch_database()
                .expect("RALLY_TEST_BACKEND=postgres needs RALLY_TEST_POSTGRES (see the README's tests section)")
        });
        TestDb { dir, postgres }
    }

    /// The database as `--db` takes it.
    pub fn arg(&self) -> String {
        match &self.postgres {
            Some(db) => db.url().to_owned(),
            None => self.dir.path().join("rally.db").display().to_string(),
        }
    }

    pub fn location(&self) -> rally::app::Location {
        rally::app::Location::parse(&self.arg()).expect("a test location")
    }

    /// The app on it, as the binary would open it.
    pub fn app(&self) -> App {
        App::open_at(&self.location()).expect("open store")
    }

    /// A temporary directory of the test's own, for its other files (CSVs, exports).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs `sql` straight on the database, outside rally, and returns its rows: for a test that
    /// looks at rows rally has no call for. Placeholders are `?1`, `?2`, … on both backends;
    /// columns come back as [`Cell`]s. Blocking; on PostgreSQL it runs on a thread of its own, as
    /// the `postgres` client may not run inside an async task. Panics on any error.
    pub fn raw_query(&self, sql: &str, params: &[Cell]) -> Vec<Vec<Cell>> {
        self.raw(sql, params, true).0
    }

    /// [`TestDb::raw_query`] for a statement that returns no rows: how many rows it changed.
    pub fn raw_execute(&self, sql: &str, params: &[Cell]) -> u64 {
        self.raw(sql, params, false).1
    }

    /// `sql`'s rows when `query`, else how many rows it changed.
    fn raw(&self, sql: &str, params: &[Cell], query: bool) -> (Vec<Vec<Cell>>, u64) {
        let fail = |e: &dyn std::fmt::Display| -> ! { panic!("{sql}: {e}") };
        match &self.postgres {
            None => {
                // A normal connection, so that it may recover the WAL a killed rally left behind,
                // and waits while a running rally holds the write lock.
                let c = rusqlite::Connection::open(self.dir.path().join("rally.db")).expect("open the database");
                c.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
                let args = || rusqlite::params_from_iter(params.iter().map(Cell::to_sqlite));
                if !query {
                    return (Vec::new(), c.execute(sql, args()).unwrap_or_else(|e| fail(&e)) as u64);
                }
                let mut stmt = c.prepare(sql).unwrap_or_else(|e| fail(&e));
                let n = stmt.column_count();
                let rows = stmt
                    .query_map(args(), |r| {
                        (0..n).map(|i| Ok(Cell::from_sqlite(r.get_ref(i)?))).collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .unwrap_or_else(|e| fail(&e));
                (rows.collect::<rusqlite::Result<Vec<_>>>().unwrap_or_else(|e| fail(&e)), 0)
            }
            Some(db) => std::thread::scope(|s| {
                s.spawn(|| {
                    let mut client = db.connect();
                    let sql = dollar_placeholders(sql);
                    let values: Vec<Box<dyn postgres::types::ToSql + Sync>> =
                        params.iter().map(Cell::to_postgres).collect();
                    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
                    if !query {
                        return (Vec::new(), client.execute(&sql, &refs).unwrap_or_else(|e| fail(&e)));
                    }
                    let rows = client.query(&sql, &refs).unwrap_or_else(|e| fail(&e));
                    (rows.iter().map(|r| (0..r.len()).map(|i| Cell::from_postgres(r, i)).collect()).collect(), 0)
                })
                .join()
                .expect("the statement's thread")
            }),
        }
    }

    /// Whether rally has made a database here yet: the SQLite file, or rally's schema in the
    /// scratch PostgreSQL database (which itself always exists). Creates nothing.
    pub fn exists(&self) -> bool {
        App::open_existing_at(&self.location()).expect("look for the database").is_some()
    }
}

/// One column of a row [`TestDb::raw_query`] read, or one parameter of it: rally's columns are
/// integers (any width) and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(t) => Some(t),
            _ => None,
        }
    }

    fn to_sqlite(&self) -> rusqlite::types::Value {
        match self {
            Cell::Null => rusqlite::types::Value::Null,
            Cell::Int(i) => rusqlite::types::Value::Integer(*i),
            Cell::Text(t) => rusqlite::types::Value::Text(t.clone()),
        }
    }

    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Cell {
        match v {
            rusqlite::types::ValueRef::Integer(i) => Cell::Int(i),
            rusqlite::types::ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
            rusqlite::types::ValueRef::Null => Cell::Null,
            other => panic!("a column rally does not use: {other:?}"),
        }
    }

    fn to_postgres(&self) -> Box<dyn postgres::types::ToSql + Sync> {
        match self {
            Cell::Null => Box::new(None::<i64>),
            Cell::Int(i) => Box::new(*i),
            Cell::Text(t) => Box::new(t.clone()),
        }
    }

    fn from_postgres(row: &postgres::Row, i: usize) -> Cell {
        use postgres::types::Type;
        let ty = row.columns()[i].type_().clone();
        let cell = if ty == Type::INT8 {
            row.get::<_, Option<i64>>(i).map(Cell::Int)
        } else if ty == Type::INT4 {
            row.get::<_, Option<i32>>(i).map(|v| Cell::Int(v.into()))
        } else if ty == Type::INT2 {
            row.get::<_, Option<i16>>(i).map(|v| Cell::Int(v.into()))
        } else if ty == Type::TEXT || ty == Type::VARCHAR {
            row.get::<_, Option<String>>(i).map(Cell::Text)
        } else {
            panic!("a column rally does not use: {ty}")
        };
        cell.unwrap_or(Cell::Null)
    }
}

/// `?1`, `?2`, … as PostgreSQL writes them: `$1`, `$2`, ….
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(if c == '?' && chars.peek().is_some_and(|d| d.is_ascii_digit()) { '$' } else { c });
    }
    out
}

pub fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    if on_postgres() {
        let db = rally::store::postgres::testing::scratch_database()
            .expect("RALLY_TEST_BACKEND=postgres needs RALLY_TEST_POSTGRES (see the README's tests section)");
        let app = App::open_at(&rally::app::Location::Postgres(db.url().to_owned())).expect("open store");
        return TestApp { app, dir, postgres: Some(db) };
    }
    let app = App::open(dir.path().join("rally.db")).expect("open store");
    TestApp { app, dir, postgres: None }
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test time").with_timezone(&Utc)
}

pub fn id(n: u64) -> Snowflake {
    Snowflake::new(n).expect("test id")
}

/// A `/log` request for `user` with defaults a test can override.
pub fn log_req(guild: u64, user: u64, kind: &str, quantity: i64, key: &str) -> LogRequest {
    LogRequest {
        guild: id(guild),
        user: id(user),
        user_name: Name::parse(&format!("rep{user}"), "name").unwrap(),
        kind: KindName::parse(kind).unwrap(),
        quantity: Quantity::new(quantity).unwrap(),
        amount: None,
        note: Note::default(),
        deal: None,
        when: None,
        source: Source::Slash,
        idem_key: key.to_string(),
    }
}

pub fn with_amount(mut req: LogRequest, amount: &str) -> LogRequest {
    req.amount = Some(rally::domain::money::Money::default().parse(amount).unwrap());
    req
}

pub fn when(mut req: LogRequest, t: &str) -> LogRequest {
    req.when = Some(at(t));
    req
}

pub async fn import(app: &App, guild: u64, csv: &str, now: &str) -> rally::app::import::ImportSummary {
    app.import_csv(id(guild), csv.as_bytes(), "test".into(), at(now)).await.expect("import runs")
}

pub const HEADER: &str = "occurred_at,user_id,user_name,team,kind,quantity,amount,note,external_id\n";

/// Everything a message shows (content, embed titles, descriptions, fields, footers) as one string.
pub fn message_text(m: &rally::handlers::Message) -> String {
    let mut s = m.content.clone().unwrap_or_default();
    for e in &m.embeds {
        s.push_str(&format!(
            "\n{}\n{}",
            e.title.clone().unwrap_or_default(),
            e.description.clone().unwrap_or_default()
        ));
        for f in &e.fields {
            s.push_str(&format!("\n{}: {}", f.name, f.value));
        }
        s.push_str(&format!("\n{}", e.footer.clone().unwrap_or_default()));
    }
    s
}

/// A value a user could type for a manifest option whose type alone decides it: the first choice,
/// the minimum of a number, `true`, or a mention. `None` for free text, which each test picks.
pub fn typed_plausible(opt: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    if let Some(first) = opt.get("choices").and_then(Value::as_array).and_then(|c| c.first()) {
        return Some(match &first["value"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    match opt["type"].as_u64() {
        Some(4 | 10) => Some(opt.get("min_value").map_or("1".to_string(), Value::to_string)),
        Some(5) => Some("true".into()),
        Some(6) => Some("<@42>".into()),
        Some(7) => Some("<#7>".into()),
        Some(8) => Some("<@&9>".into()),
        _ => None,
    }
}
