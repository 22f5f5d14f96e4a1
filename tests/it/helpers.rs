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

pub struct TestApp {
    pub app: App,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("rally.db")
    }
}

pub fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::open(dir.path().join("rally.db")).expect("open store");
    TestApp { app, dir }
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
