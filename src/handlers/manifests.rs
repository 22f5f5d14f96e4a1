//! The application-command manifests in `commands/`, embedded at build time. They are the single
//! source of truth for names, options and default permissions, registered with one bulk overwrite.

/// (command name, manifest JSON) for every file in `commands/`.
pub const MANIFESTS: &[(&str, &str)] = &[
    ("celebrate", include_str!("../../commands/celebrate.json")),
    ("comp", include_str!("../../commands/comp.json")),
    ("compete", include_str!("../../commands/compete.json")),
    ("crm", include_str!("../../commands/crm.json")),
    ("deal", include_str!("../../commands/deal.json")),
    ("export", include_str!("../../commands/export.json")),
    ("forecast", include_str!("../../commands/forecast.json")),
    ("funnel", include_str!("../../commands/funnel.json")),
    ("goal", include_str!("../../commands/goal.json")),
    ("help", include_str!("../../commands/help.json")),
    ("hygiene", include_str!("../../commands/hygiene.json")),
    ("kpi", include_str!("../../commands/kpi.json")),
    ("leaderboard", include_str!("../../commands/leaderboard.json")),
    ("log", include_str!("../../commands/log.json")),
    ("me", include_str!("../../commands/me.json")),
    ("mentor", include_str!("../../commands/mentor.json")),
    ("nudges", include_str!("../../commands/nudges.json")),
    ("review", include_str!("../../commands/review.json")),
    ("reward", include_str!("../../commands/reward.json")),
    ("schedule", include_str!("../../commands/schedule.json")),
    ("settings", include_str!("../../commands/settings.json")),
    ("team", include_str!("../../commands/team.json")),
    ("undo", include_str!("../../commands/undo.json")),
    ("wallboard", include_str!("../../commands/wallboard.json")),
];

/// The manifests parsed once: a parser runs per command line (`rally exec`, the demo), and JSON
/// parsing each time would dominate it.
fn parsed() -> &'static [(&'static str, serde_json::Value)] {
    static PARSED: std::sync::OnceLock<Vec<(&'static str, serde_json::Value)>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        MANIFESTS.iter().filter_map(|(name, json)| serde_json::from_str(json).ok().map(|v| (*name, v))).collect()
    })
}

/// Every manifest parsed, as the array a bulk overwrite sends.
pub fn all() -> Vec<serde_json::Value> {
    parsed().iter().map(|(_, v)| v.clone()).collect()
}

/// One manifest by command name.
pub fn get(name: &str) -> Option<&'static serde_json::Value> {
    parsed().iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// The Markdown command reference in the README, rendered from the manifests so the two cannot
/// drift apart; a test compares it with the README and can rewrite that section.
pub fn reference_markdown() -> String {
    render_reference(&all())
}

fn render_reference(manifests: &[serde_json::Value]) -> String {
    let mut out = String::from(
        "<!-- Generated from commands/*.json; regenerate with: RALLY_UPDATE_README=1 cargo test readme -->\n",
    );
    // Members read the reference first; manager commands come after them.
    let (members, managers): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        manifests.iter().partition(|m| m.get("default_member_permissions").is_none_or(serde_json::Value::is_null));
    for manifest in members.into_iter().chain(managers) {
        let name = text(manifest, "name");
        let managers_only = manifest.get("default_member_permissions").is_some_and(|p| !p.is_null());
        out.push_str(&format!("\n### /{name}{}\n\n", if managers_only { " (managers)" } else { "" }));
        out.push_str(&format!("{}\n", escape(text(manifest, "description"))));
        render_entries(&mut out, &format!("/{name}"), options(manifest));
    }
    out
}

/// Renders one level of options: plain options as a table, subcommands (and the subcommands of
/// a group) as their own `/command sub` entries.
fn render_entries(out: &mut String, path: &str, opts: &[serde_json::Value]) {
    let plain: Vec<&serde_json::Value> = opts.iter().filter(|o| !is_subcommand(o)).collect();
    if !plain.is_empty() {
        out.push_str("\n| Option | Type | Required | Description | Values |\n|---|---|---|---|---|\n");
        for opt in plain {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                text(opt, "name"),
                type_in_words(opt),
                if opt["required"] == true { "yes" } else { "no" },
                escape(text(opt, "description")),
                escape(&values_note(opt)),
            ));
        }
    }
    for sub in opts.iter().filter(|o| is_subcommand(o)) {
        let sub_path = format!("{path} {}", text(sub, "name"));
        if sub["type"] == 1 {
            out.push_str(&format!("\n#### {sub_path}\n\n{}\n", escape(text(sub, "description"))));
        }
        render_entries(out, &sub_path, options(sub));
    }
}

fn options(v: &serde_json::Value) -> &[serde_json::Value] {
    v.get("options").and_then(serde_json::Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(serde_json::Value::as_str).unwrap_or_default()
}

/// SUB_COMMAND (1) and SUB_COMMAND_GROUP (2) are entries of their own, not options.
fn is_subcommand(opt: &serde_json::Value) -> bool {
    matches!(opt["type"].as_u64(), Some(1 | 2))
}

fn type_in_words(opt: &serde_json::Value) -> &'static str {
    match opt["type"].as_u64() {
        Some(3) => "text",
        Some(4) => "whole number",
        Some(5) => "true/false",
        Some(6) => "user",
        Some(7) => "channel",
        Some(8) => "role",
        Some(9) => "user or role",
        Some(10) => "number",
        Some(11) => "file",
        _ => "?",
    }
}

/// What the option accepts: its choices, or its range, length and whether Discord suggests values.
fn values_note(opt: &serde_json::Value) -> String {
    let mut notes = Vec::new();
    if let Some(choices) = opt.get("choices").and_then(serde_json::Value::as_array) {
        let listed: Vec<String> = choices
            .iter()
            .map(|c| {
                let value = match &c["value"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let name = text(c, "name");
                if name == value { format!("`{value}`") } else { format!("`{value}` ({name})") }
            })
            .collect();
        notes.push(format!("one of {}", listed.join(", ")));
    }
    match (opt.get("min_value"), opt.get("max_value")) {
        (Some(min), Some(max)) => notes.push(format!("{min} to {max}")),
        (Some(min), None) => notes.push(format!("at least {min}")),
        (None, Some(max)) => notes.push(format!("at most {max}")),
        (None, None) => {}
    }
    match (opt.get("min_length"), opt.get("max_length")) {
        (Some(min), Some(max)) => notes.push(format!("{min} to {max} characters")),
        (Some(min), None) => notes.push(format!("at least {min} characters")),
        (None, Some(max)) => notes.push(format!("up to {max} characters")),
        (None, None) => {}
    }
    if let Some(kinds) = opt.get("channel_types").and_then(serde_json::Value::as_array) {
        let words: Vec<&str> = kinds
            .iter()
            .map(|k| match k.as_u64() {
                Some(0) => "text",
                Some(2) => "voice",
                Some(4) => "category",
                Some(5) => "announcement",
                Some(10..=12) => "thread",
                Some(13) => "stage",
                Some(15) => "forum",
                Some(16) => "media",
                _ => "other",
            })
            .collect();
        notes.push(format!("{} channels", words.join(" or ")));
    }
    if opt["autocomplete"] == true {
        notes.push("suggested as you type".into());
    }
    notes.join("; ")
}

/// Descriptions are free text; a `|` would end the table cell early.
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
