//! The manifests in `commands/` against Discord's limits, Discord's own OpenAPI schema, the handlers
//! that answer them and the README reference generated from them.

use std::collections::BTreeSet;
use std::path::Path;

use rally::app::App;
use rally::domain::activity::Snowflake;
use rally::handlers::{Action, HANDLED, Invocation, MANAGE_GUILD, Message, Response, cmdline, dispatch, manifests};
use serde_json::{Value, json};

use crate::helpers::{TestDb, at};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const NOW: &str = "2026-11-27T15:00:00Z"; // a Friday

/// Files in src/handlers/ that serve every command rather than one manifest.
const HELPER_MODULES: &[&str] = &["mod", "format", "manifests", "cmdline", "limits", "paging"];

/// Commands only managers see by default: Manage Server, as Discord's permission bitfield string.
const MANAGER_COMMANDS: &[&str] =
    &["kpi", "team", "settings", "export", "mentor", "schedule", "crm", "review", "hygiene", "celebrate", "wallboard"];

fn parsed() -> Vec<(String, Value)> {
    manifests::MANIFESTS
        .iter()
        .map(|(name, json)| {
            let value = serde_json::from_str(json).unwrap_or_else(|e| panic!("commands/{name}.json is not JSON: {e}"));
            (name.to_string(), value)
        })
        .collect()
}

fn options(v: &Value) -> &[Value] {
    v.get("options").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn is_subcommand(opt: &Value) -> bool {
    matches!(opt["type"].as_u64(), Some(1 | 2))
}

fn stems(dir: &Path, ext: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| p.file_stem().expect("file stem").to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_manifest_file_is_embedded_named_after_itself_handled_and_has_its_own_handler_file() {
    let files = stems(&Path::new(ROOT).join("commands"), "json");
    let embedded: BTreeSet<String> = manifests::MANIFESTS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(files, embedded, "commands/*.json and manifests::MANIFESTS must list the same commands");

    for (stem, manifest) in parsed() {
        assert_eq!(str_of(&manifest, "name"), stem, "commands/{stem}.json must be named `{stem}`");
        let on_disk =
            std::fs::read_to_string(Path::new(ROOT).join(format!("commands/{stem}.json"))).expect("manifest file");
        let embedded = manifests::MANIFESTS.iter().find(|(n, _)| *n == stem).map(|(_, j)| *j);
        assert_eq!(embedded, Some(on_disk.as_str()), "MANIFESTS must embed commands/{stem}.json under its own name");
    }

    let handled: BTreeSet<String> = HANDLED.iter().map(|n| n.to_string()).collect();
    assert_eq!(handled, embedded, "handlers::HANDLED and the manifests must name the same commands");

    let handler_files = stems(&Path::new(ROOT).join("src/handlers"), "rs");
    for name in &embedded {
        assert!(handler_files.contains(name), "commands/{name}.json needs src/handlers/{name}.rs");
    }
    let strays: Vec<&String> =
        handler_files.iter().filter(|f| !embedded.contains(*f) && !HELPER_MODULES.contains(&f.as_str())).collect();
    assert!(
        strays.is_empty(),
        "src/handlers/ holds one file per manifest; {strays:?} match no manifest (a shared helper belongs in HELPER_MODULES)"
    );
}

// ---------------------------------------------------------------------------------------------
// Discord's limits for commands

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Names must match `^[-_\p{L}\p{N}]{1,32}$`; the pattern is checked by jsonschema's regex engine,
/// which knows the Unicode classes.
fn name_is_valid(name: &str) -> bool {
    static PATTERN: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = PATTERN.get_or_init(|| {
        jsonschema::validator_for(&json!({"type": "string", "pattern": "^[-_\\p{L}\\p{N}]{1,32}$"}))
            .expect("the name pattern compiles")
    });
    validator.is_valid(&json!(name))
}

/// Every way `manifest` breaks Discord's rules for a chat-input command, as readable sentences.
fn command_problems(manifest: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let name = str_of(manifest, "name");
    let path = format!("/{name}");
    check_entry(&path, manifest, &mut problems);
    match manifest.get("default_member_permissions") {
        None | Some(Value::Null) => {}
        Some(Value::String(bits)) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {}
        Some(other) => {
            problems.push(format!("{path}: default_member_permissions must be a string of digits, not {other}"))
        }
    }
    let total = total_chars(manifest);
    if total > 8000 {
        problems.push(format!("{path}: {total} characters in total; Discord allows 8000 per command"));
    }
    check_options(&path, options(manifest), 0, &mut problems);
    problems
}

fn check_entry(path: &str, v: &Value, problems: &mut Vec<String>) {
    let name = str_of(v, "name");
    if !name_is_valid(name) {
        problems.push(format!("{path}: name `{name}` must be 1-32 letters, digits, - or _"));
    }
    if name.to_lowercase() != name {
        problems.push(format!("{path}: name `{name}` must be lowercase"));
    }
    let description = str_of(v, "description");
    if !(1..=100).contains(&chars(description)) {
        problems.push(format!("{path}: description must be 1-100 characters, has {}", chars(description)));
    }
}

fn check_options(path: &str, opts: &[Value], depth: usize, problems: &mut Vec<String>) {
    if opts.len() > 25 {
        problems.push(format!("{path}: {} options; Discord allows 25", opts.len()));
    }
    let subs = opts.iter().filter(|o| is_subcommand(o)).count();
    if subs > 0 && subs < opts.len() {
        problems.push(format!("{path}: subcommands cannot sit beside plain options"));
    }
    let mut seen = BTreeSet::new();
    let mut optional_seen = false;
    for opt in opts {
        let name = str_of(opt, "name");
        let here = format!("{path} {name}");
        check_entry(&here, opt, problems);
        if !seen.insert(name) {
            problems.push(format!("{path}: option `{name}` appears twice"));
        }
        match opt["type"].as_u64() {
            Some(1 | 2) => {
                // A group holds subcommands and a subcommand holds options; nothing nests deeper.
                let nested_too_deep = depth >= 1 && opt["type"] == 2 || depth >= 2;
                if nested_too_deep {
                    problems.push(format!("{here}: nested deeper than Discord allows"));
                }
                if opt["type"] == 2 && options(opt).iter().any(|o| o["type"] != 1) {
                    problems.push(format!("{here}: a subcommand group may hold only subcommands"));
                }
                check_options(&here, options(opt), depth + 1, problems);
            }
            _ => {
                if opt["required"] == true {
                    if optional_seen {
                        problems.push(format!("{here}: required options must come before optional ones"));
                    }
                } else {
                    optional_seen = true;
                }
                check_choices(&here, opt, problems);
            }
        }
    }
}

fn check_choices(path: &str, opt: &Value, problems: &mut Vec<String>) {
    let Some(choices) = opt.get("choices").and_then(Value::as_array) else {
        return;
    };
    if opt["autocomplete"] == true {
        problems.push(format!("{path}: autocomplete cannot be combined with choices"));
    }
    if choices.len() > 25 {
        problems.push(format!("{path}: {} choices; Discord allows 25", choices.len()));
    }
    for choice in choices {
        let name = str_of(choice, "name");
        if !(1..=100).contains(&chars(name)) {
            problems.push(format!("{path}: choice name `{name}` must be 1-100 characters"));
        }
        if let Value::String(value) = &choice["value"]
            && chars(value) > 100
        {
            problems.push(format!("{path}: choice value `{value}` is longer than 100 characters"));
        }
    }
}

/// What Discord counts towards a command's 8000 characters: every name, description and choice
/// value, all the way down.
fn total_chars(v: &Value) -> usize {
    let own = chars(str_of(v, "name")) + chars(str_of(v, "description"));
    let choices: usize = v
        .get("choices")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let value = match &c["value"] {
                        Value::String(s) => chars(s),
                        other => chars(&other.to_string()),
                    };
                    chars(str_of(c, "name")) + value
                })
                .sum()
        })
        .unwrap_or(0);
    own + choices + options(v).iter().map(total_chars).sum::<usize>()
}

#[test]
fn every_manifest_respects_discords_limits_for_commands() {
    let all = parsed();
    assert!(all.len() <= 100, "{} commands; Discord allows 100 global commands", all.len());
    let problems: Vec<String> = all.iter().flat_map(|(_, m)| command_problems(m)).collect();
    assert!(problems.is_empty(), "manifests break Discord's limits:\n{}", problems.join("\n"));
}

#[test]
fn the_limit_check_catches_a_manifest_that_breaks_discords_rules() {
    let long = "x".repeat(101);
    let too_many: Vec<Value> = (0..26).map(|i| json!({"name": format!("c{i}"), "value": format!("c{i}")})).collect();
    let bad = json!({
        "name": "Bad Name",
        "description": "",
        "default_member_permissions": 32,
        "options": [
            {"type": 3, "name": "later", "description": "optional first"},
            {"type": 3, "name": "needed", "description": "required second", "required": true},
            {"type": 3, "name": "both", "description": long, "autocomplete": true, "choices": too_many},
            {"type": 3, "name": "long", "description": "d", "choices": [{"name": "", "value": long}]},
        ]
    });
    let problems = command_problems(&bad).join("\n");
    for expected in [
        "name `Bad Name` must be 1-32 letters, digits, - or _",
        "name `Bad Name` must be lowercase",
        "/Bad Name: description must be 1-100 characters, has 0",
        "default_member_permissions must be a string of digits, not 32",
        "needed: required options must come before optional ones",
        "both: description must be 1-100 characters, has 101",
        "both: autocomplete cannot be combined with choices",
        "both: 26 choices; Discord allows 25",
        "long: choice name `` must be 1-100 characters",
        "long: choice value `xxx",
    ] {
        assert!(problems.contains(expected), "missing `{expected}` in:\n{problems}");
    }
    let huge = json!({"name": "huge", "description": "d", "options": (0..25).map(|i| json!({
        "type": 3, "name": format!("o{i}"), "description": "x".repeat(100),
        "choices": (0..25).map(|j| json!({"name": "n".repeat(100), "value": format!("{j}")})).collect::<Vec<_>>()
    })).collect::<Vec<_>>()});
    assert!(command_problems(&huge).join("\n").contains("characters in total; Discord allows 8000 per command"));
    assert!(name_is_valid("zähler_2") && name_is_valid("week-start") && !name_is_valid(&"a".repeat(33)));
}

// ---------------------------------------------------------------------------------------------
// Discord's OpenAPI description

/// Discord's OpenAPI description, when it is beside the crate (see `openapi_for_tests`).
fn openapi() -> Option<Value> {
    let path = rally::loopback::openapi_for_tests()?;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display())))
}

/// The request body schema of the bulk overwrite, with the document's `components` at its root so
/// its `#/components/schemas/...` references resolve without any network.
fn bulk_overwrite_schema(doc: &Value) -> Value {
    let body = doc
        .pointer("/paths/~1applications~1{application_id}~1commands/put/requestBody/content/application~1json/schema")
        .unwrap_or_else(|| {
            panic!("the OpenAPI description has no JSON request body for PUT /applications/{{application_id}}/commands")
        });
    let mut schema = body.clone();
    let components = doc.get("components").cloned().expect("the OpenAPI description has `components`");
    schema["components"] = components;
    // The description types the bitfield as an integer, but Discord documents (and serenity sends)
    // a string of digits, and accepts both.
    let permissions = "/components/schemas/ApplicationCommandUpdateRequest/properties/default_member_permissions";
    if let Some(prop) = schema.pointer_mut(permissions) {
        let original = prop.take();
        *prop = json!({"anyOf": [original, {"type": "string", "pattern": "^[0-9]{1,20}$"}]});
    }
    schema
}

#[test]
fn every_manifest_validates_against_discords_openapi_schema_for_the_bulk_overwrite() {
    let Some(doc) = openapi() else { return };
    let schema = bulk_overwrite_schema(&doc);
    let validator = jsonschema::draft202012::new(&schema).expect("the bulk overwrite schema compiles");
    let body = Value::Array(parsed().into_iter().map(|(_, m)| m).collect());
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| {
            let index = e.instance_path().to_string();
            let command = index
                .trim_start_matches('/')
                .split('/')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| body.get(i))
                .map(|m| str_of(m, "name").to_string())
                .unwrap_or_default();
            format!("/{command} at {index}: {e}")
        })
        .collect();
    assert!(errors.is_empty(), "Discord would reject the bulk overwrite:\n{}", errors.join("\n"));

    // The schema is strict enough to notice a broken command.
    let broken = json!([{"name": "x", "description": "d", "options": [{"type": 3, "name": "o"}]}]);
    assert!(!validator.is_valid(&broken), "an option without a description must be rejected");
}

#[test]
fn manager_commands_default_to_manage_server_and_the_others_are_open_to_everyone() {
    for (name, manifest) in parsed() {
        let permissions = manifest.get("default_member_permissions").filter(|p| !p.is_null());
        if MANAGER_COMMANDS.contains(&name.as_str()) {
            assert_eq!(permissions, Some(&json!(MANAGE_GUILD.to_string())), "/{name} is for managers");
        } else {
            assert_eq!(permissions, None, "/{name} is for everyone and must not carry default_member_permissions");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Every command and subcommand reaches a handler

/// One runnable entry of the manifests: `/command` or `/command sub`, with its options.
struct Entry {
    line: String,
    options: Vec<Value>,
}

fn entries() -> Vec<Entry> {
    let mut out = Vec::new();
    for (name, manifest) in parsed() {
        let subs: Vec<&Value> = options(&manifest).iter().filter(|o| is_subcommand(o)).collect();
        if subs.is_empty() {
            out.push(Entry { line: format!("/{name}"), options: options(&manifest).to_vec() });
        }
        for sub in subs {
            let line = format!("/{name} {}", str_of(sub, "name"));
            if sub["type"] == 2 {
                for inner in options(sub) {
                    out.push(Entry {
                        line: format!("{line} {}", str_of(inner, "name")),
                        options: options(inner).to_vec(),
                    });
                }
            } else {
                out.push(Entry { line, options: options(sub).to_vec() });
            }
        }
    }
    out
}

/// A value a user could really type for `opt`, written for the command line.
fn plausible(entry: &str, opt: &Value) -> String {
    let name = str_of(opt, "name");
    if let Some(value) = crate::helpers::typed_plausible(opt) {
        return value;
    }
    match (entry, name) {
        (_, "kind") => "call".into(),
        (_, "metric") => "points".into(),
        ("/goal set", "target") => "80".into(),
        ("/reward add", "at-least") => "5".into(),
        (_, "period") => "this-week".into(),
        (_, "team") => "Alpha".into(),
        (_, "timezone") => "Europe/Berlin".into(),
        (_, "code") => "USD".into(),
        (_, "days") => "mon-fri".into(),
        (_, "hours") => "09:00-18:00".into(),
        (_, "day") => "monday".into(),
        // Alpha exists already; a second team (or Alpha's new name) needs a free name.
        ("/team create" | "/team rename", "name") => "Bravo".into(),
        ("/settings kind" | "/settings kind-remove", "name") => "call".into(),
        (_, "name") => "Alpha".into(),
        // Rep 42's open deal from seeded_app, and a stage no open deal sits in.
        (_, "deal") => "Acme".into(),
        (_, "stage") => "qualified".into(),
        (_, "value") => "12,500.00".into(),
        (_, "at") => "weekdays 09:00".into(),
        // Not connected in the seeded guild: /crm link and map answer how to connect.
        ("/crm link", "crm-user") => "alice@example.com".into(),
        ("/crm map", "type") => "lunch".into(),
        _ => panic!("no plausible value for the option `{name}` of {entry}; add one to plausible()"),
    }
}

fn command_line(entry: &Entry, focused: Option<&str>) -> String {
    let mut line = entry.line.clone();
    for opt in &entry.options {
        let name = str_of(opt, "name");
        if Some(name) == focused {
            line.push_str(&format!(" {name}:\"\""));
        } else if opt["required"] == true {
            line.push_str(&format!(" {name}:\"{}\"", plausible(&entry.line, opt)));
        }
    }
    line
}

fn invocation(id: u64, line: &str, focused: Option<&str>) -> Result<Invocation, String> {
    invocation_by(id, 42, "rep42", line, focused)
}

fn invocation_by(id: u64, user: u64, user_name: &str, line: &str, focused: Option<&str>) -> Result<Invocation, String> {
    let call = cmdline::parse(line).map_err(|e| format!("{line}: the parser refuses it: {}", e.message))?;
    let action = match focused {
        Some(option) => Action::Autocomplete { call, focused: option.to_string() },
        None => Action::Command(call),
    };
    Ok(Invocation {
        id,
        guild: Snowflake::new(1).expect("guild id"),
        channel: Some(7),
        user: Snowflake::new(user).expect("user id"),
        user_name: user_name.to_string(),
        roles: Vec::new(),
        permissions: MANAGE_GUILD,
        app_permissions: None,
        resolved_users: vec![(42, "rep42".into())],
        locale: None,
        action,
    })
}

/// A guild where every command has something to act on: team Alpha with rep 42, who logged a call
/// and has an open deal, Acme.
async fn seeded_app(db: &TestDb) -> App {
    let app = db.app();
    // `/wallboard link` builds its URL from it (`--public-url`).
    app.set_public_url("https://rally.example.com").expect("a public URL");
    for (id, line) in [
        (1, "/team create name:Alpha"),
        (2, "/team add team:Alpha user:<@42>"),
        (3, "/log kind:call"),
        (4, "/deal open name:Acme value:1000"),
        (5, "/comp plan team:Alpha rate:8"),
        (6, "/schedule add what:leaderboard channel:<#7> at:\"weekdays 09:00\""),
        (7, "/compete create name:Dash metric:points between:teams scoring:total end:this-week channel:<#7>"),
        (8, "/reward add role:<@&78> metric:won period:month at-least:5"),
        (9, "/celebrate add when:streak channel:<#7>"),
    ] {
        let inv = invocation(id, line, None).expect("setup line parses");
        let reply = content(&dispatch(&app, &inv, at(NOW)).await);
        assert!(!reply.starts_with("⚠️"), "setup `{line}` failed: {reply}");
    }
    connect_crm(&app).await;
    app
}

/// A Pipedrive connection with one user and one unmapped type, every kind still logged in chat
/// (so that every other command answers as it would without a CRM).
async fn connect_crm(app: &App) {
    use rally::domain::crm::{CrmType, CrmUser, Provider, Secret};
    // The guild every invocation of this file runs in.
    let guild = 1;
    let connection = rally::store::crm::NewConnection {
        guild,
        provider: Provider::Pipedrive,
        api_url: "http://127.0.0.1:9".into(),
        api_token: Secret::new("test-token"),
        pipeline: None,
        webhook_user: None,
        webhook_hash: None,
        webhook_ids: Vec::new(),
    };
    app.store.crm_connect(connection, at(NOW)).await.expect("connect");
    let user = CrmUser { id: "1".into(), name: "Alice".into(), email: "alice@example.com".into(), active: true };
    app.store.crm_save_users(guild, vec![user]).await.expect("users");
    app.store.crm_save_types(guild, vec![CrmType { key: "lunch".into(), name: "Lunch".into() }]).await.expect("types");
    for kind in ["call", "email", "meeting", "won", "lost"] {
        let kind = rally::domain::activity::KindName::parse(kind).unwrap();
        app.store.crm_set_source(guild, Provider::Pipedrive, kind, false, 0, at(NOW)).await.expect("chat");
    }
}

fn content(response: &Response) -> String {
    match response {
        Response::Message(m) => m.content.clone().unwrap_or_default(),
        Response::Choices(_) | Response::Modal(_) => String::new(),
    }
}

/// Replies that mean the router or the parser never reached the code for this subcommand.
fn is_unhandled(reply: &str) -> bool {
    let lower = reply.to_lowercase();
    ["does not know the command", "use one of", "needs a subcommand", "⚠️ use ", "unknown"]
        .iter()
        .any(|marker| lower.contains(marker))
}

#[tokio::test]
async fn every_command_and_subcommand_reaches_its_handler_and_answers_within_discords_limits() {
    let mut problems = Vec::new();
    let mut ran = 0;
    for entry in entries() {
        let line = command_line(&entry, None);
        let db = TestDb::new();
        let app = seeded_app(&db).await;
        let inv = match invocation(100, &line, None) {
            Ok(inv) => inv,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let response = dispatch(&app, &inv, at(NOW)).await;
        ran += 1;
        let reply = content(&response);
        if !matches!(response, Response::Message(_)) {
            problems.push(format!("{line}: answered with autocomplete choices, not a message"));
        } else if is_unhandled(&reply) {
            problems.push(format!("{line}: not handled: {reply}"));
        } else if reply.starts_with("⚠️") {
            problems.push(format!("{line}: plausible options were refused: {reply}"));
        }
        if let Err(e) = rally::handlers::limits::check(&response) {
            problems.push(format!("{line}: {e}"));
        }
    }
    assert!(ran >= manifests::MANIFESTS.len(), "only {ran} command lines ran");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn every_autocomplete_option_offers_suggestions_within_discords_limits() {
    let db = TestDb::new();
    let app = seeded_app(&db).await;
    let mut problems = Vec::new();
    for entry in entries() {
        for opt in entry.options.iter().filter(|o| o["autocomplete"] == true) {
            let focused = str_of(opt, "name");
            let line = command_line(&entry, Some(focused));
            let inv = match invocation(200, &line, Some(focused)) {
                Ok(inv) => inv,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            let response = dispatch(&app, &inv, at(NOW)).await;
            match &response {
                Response::Choices(choices) if choices.is_empty() => {
                    problems.push(format!("{line} (typing `{focused}`): no suggestions"));
                }
                Response::Choices(_) => {}
                Response::Message(m) => problems.push(format!("{line} (typing `{focused}`): a message: {m:?}")),
                Response::Modal(m) => problems.push(format!("{line} (typing `{focused}`): a form: {m:?}")),
            }
            if let Err(e) = rally::handlers::limits::check(&response) {
                problems.push(format!("{line} (typing `{focused}`): {e}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The longest team name the manifests allow, made distinct by its number.
fn long_team(i: usize) -> String {
    if i == 0 {
        return "Alpha".into();
    }
    let head = format!("Team {i:02} Überlänge ");
    format!("{head}{}", "ß".repeat(100 - head.chars().count()))
}

/// A guild at the edge of what rally allows: 30 teams with 100-character names, 33 activity kinds
/// with 32-character names and 60 reps with 32-character names who logged a little of everything.
/// Replies that list teams, reps or kinds are where Discord's limits bite.
async fn crowded_app(db: &TestDb) -> App {
    let app = db.app();
    let mut id = 1_000;
    let mut run = |user: u64, name: String, line: String| {
        id += 1;
        (invocation_by(id, user, &name, &line, None).unwrap_or_else(|e| panic!("setup: {e}")), line)
    };
    let mut setup = Vec::new();
    for t in 0..30 {
        setup.push(run(42, "rep42".into(), format!("/team create name:\"{}\"", long_team(t))));
    }
    let kinds: Vec<String> = (0..26).map(|k| format!("kind-{k:02}-{}", "x".repeat(24))).collect();
    for kind in &kinds {
        setup.push(run(42, "rep42".into(), format!("/settings kind name:{kind} points:7")));
    }
    for rep in 0..60u64 {
        let user = if rep == 0 { 42 } else { 100 + rep };
        let name = format!("Ünïcødé Rep {rep:02} {}", "✨".repeat(17));
        setup.push(run(
            42,
            "rep42".into(),
            format!("/team add team:\"{}\" user:<@{user}>", long_team(rep as usize % 30)),
        ));
        for line in [
            "/log kind:call count:1000".to_string(),
            "/log kind:won amount:9999999.99 when:-1d".to_string(),
            "/log kind:lost when:-2d".to_string(),
            format!("/log kind:{} note:\"{}\"", kinds[rep as usize % kinds.len()], "n".repeat(500)),
        ] {
            setup.push(run(user, name.clone(), line));
        }
    }
    for (inv, line) in setup {
        let reply = content(&dispatch(&app, &inv, at(NOW)).await);
        assert!(!reply.starts_with("⚠️"), "setup `{line}` failed: {reply}");
    }
    connect_crm(&app).await;
    app
}

#[tokio::test]
async fn replies_in_a_crowded_guild_still_fit_discords_limits() {
    let db = TestDb::new();
    let app = crowded_app(&db).await;
    let mut lines: Vec<(String, Option<String>)> = Vec::new();
    for entry in entries() {
        lines.push((command_line(&entry, None), None));
        for opt in entry.options.iter().filter(|o| o["autocomplete"] == true) {
            let focused = str_of(opt, "name").to_string();
            lines.push((command_line(&entry, Some(&focused)), Some(focused)));
        }
    }
    for extra in [
        "/leaderboard scope:teams period:this-year",
        "/leaderboard metric:revenue",
        "/leaderboard team:Alpha",
        "/kpi team public:true period:this-year",
        "/kpi team team:Alpha",
        "/me period:this-year",
        "/export period:this-year",
        "/team list",
        "/settings show",
        "/help",
    ] {
        lines.push((extra.to_string(), None));
    }
    // Destructive lines run last so every report sees the whole crowd.
    lines.sort_by_key(|(line, _)| ["delete", "remove", "rename"].iter().any(|w| line.contains(w)));
    let mut problems = Vec::new();
    for (i, (line, focused)) in lines.iter().enumerate() {
        let inv = match invocation(5_000 + i as u64, line, focused.as_deref()) {
            Ok(inv) => inv,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let response = dispatch(&app, &inv, at(NOW)).await;
        let reply = content(&response);
        if reply.contains("Something went wrong") || is_unhandled(&reply) {
            problems.push(format!("{line}: {reply}"));
        }
        if let Err(e) = rally::handlers::limits::check(&response) {
            problems.push(format!("{line}: {e}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Discord's limits for replies

#[test]
fn the_reply_limit_check_catches_what_discord_would_reject() {
    use rally::handlers::{Choice, Embed, Field};
    let field = |n: usize| Field { name: format!("f{n}"), value: "v".repeat(1025), inline: false };
    let message = Message {
        content: Some("c".repeat(2001)),
        embeds: (0..11)
            .map(|_| Embed {
                title: Some("t".repeat(257)),
                description: Some("d".repeat(4097)),
                fields: (0..26).map(field).collect(),
                ..Embed::default()
            })
            .collect(),
        ..Message::default()
    };
    let problems = rally::handlers::limits::check(&Response::Message(message)).expect_err("too big");
    for expected in [
        "content has 2001 characters",
        "embed 0 title has 257",
        "embed 0 description has 4097",
        "field `f0` value has 1025",
        "all embeds together",
        "embed 0 has 26 fields",
        "11 embeds",
    ] {
        assert!(problems.contains(expected), "missing `{expected}` in {problems}");
    }
    assert!(
        rally::handlers::limits::check(&Response::Message(Message::default())).is_err(),
        "an empty message is rejected"
    );
    let choices = (0..26).map(|i| Choice { name: format!("{i}"), value: format!("{i}") }).collect();
    assert!(rally::handlers::limits::check(&Response::Choices(choices)).is_err());
    let fine = Message { content: Some("ok".into()), ..Message::default() };
    assert_eq!(rally::handlers::limits::check(&Response::Message(fine)), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// The README reference

const START: &str = "<!-- commands:start -->\n";
const END: &str = "<!-- commands:end -->";

#[test]
fn the_readme_command_reference_is_the_one_generated_from_the_manifests() {
    let path = Path::new(ROOT).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let start = readme.find(START).expect("README.md has a `<!-- commands:start -->` line") + START.len();
    let end = start + readme[start..].find(END).expect("README.md has `<!-- commands:end -->` after the start marker");
    let want = manifests::reference_markdown();
    if readme[start..end] == want {
        return;
    }
    if std::env::var("RALLY_UPDATE_README").is_ok_and(|v| v == "1") {
        let updated = format!("{}{want}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).expect("rewrite README.md");
        return;
    }
    panic!(
        "the command reference in README.md is out of date with commands/*.json; \
         regenerate it with `RALLY_UPDATE_README=1 cargo test readme`"
    );
}

#[test]
fn the_reference_lists_every_command_subcommand_and_option() {
    let reference = manifests::reference_markdown();
    for entry in entries() {
        let heading = entry.line.clone();
        assert!(reference.contains(&format!("### {heading}")), "{heading} is missing from the reference");
        for opt in &entry.options {
            assert!(reference.contains(&format!("| `{}` |", str_of(opt, "name"))), "{heading} option missing");
        }
    }
    assert!(reference.contains("### /kpi (managers)\n"));
    assert!(reference.contains("### /log\n"));
    assert!(reference.contains("| `count` | whole number | no | How many (default 1) | 1 to 1000 |"));
    assert!(reference.contains("one of `reps`, `teams`"));
}
