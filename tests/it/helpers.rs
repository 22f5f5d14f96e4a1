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
