//! Discord limits that the OpenAPI description does not encode (it allows users' 4000-character messages, and
//! has no notion of total embed size, empty messages or per-command size) but Discord enforces on bots.

use std::collections::HashSet;

use serde_json::Value;

use super::schema::Issue;

pub(crate) const MAX_CONTENT: usize = 2000;
pub(crate) const MAX_EMBED_TOTAL: usize = 6000;
pub(crate) const MAX_COMMANDS: usize = 100;
pub(crate) const MAX_COMMAND_SIZE: usize = 8000;

fn chars(v: Option<&Value>) -> usize {
    v.and_then(Value::as_str).map_or(0, |s| s.chars().count())
}

fn non_empty_array(v: Option<&Value>) -> bool {
    v.and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// Checks a message body (create or edit). `prefix` is where the message sits in the request (`data` for
/// interaction callbacks).
pub(crate) fn message(body: &Value, prefix: &[&str]) -> Vec<Issue> {
    let at = |key: &str| -> Vec<String> { prefix.iter().map(|s| s.to_string()).chain([key.to_string()]).collect() };
    let mut issues = Vec::new();
    let content = chars(body.get("content"));
    if content > MAX_CONTENT {
        issues.push(Issue::new(
            at("content"),
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {MAX_CONTENT} or fewer in length (got {content})."),
        ));
    }
    if let Some(embeds) = body.get("embeds").and_then(Value::as_array) {
        let total: usize = embeds.iter().map(embed_size).sum();
        if total > MAX_EMBED_TOTAL {
            issues.push(Issue::new(
                at("embeds"),
                "MAX_EMBED_SIZE_EXCEEDED",
                format!("Embed size exceeds maximum size of {MAX_EMBED_TOTAL} (got {total})."),
            ));
        }
    }
    issues
}

/// Whether a message create has nothing to show, which Discord refuses with code 50006.
pub(crate) fn is_empty_message(body: &Value, files: usize) -> bool {
    files == 0
        && chars(body.get("content")) == 0
        && !non_empty_array(body.get("embeds"))
        && !non_empty_array(body.get("components"))
        && !non_empty_array(body.get("sticker_ids"))
        && !non_empty_array(body.get("attachments"))
        && body.get("poll").is_none_or(Value::is_null)
}

fn embed_size(embed: &Value) -> usize {
    let mut n = chars(embed.get("title")) + chars(embed.get("description"));
    n += chars(embed.pointer("/footer/text")) + chars(embed.pointer("/author/name"));
    if let Some(fields) = embed.get("fields").and_then(Value::as_array) {
        n += fields.iter().map(|f| chars(f.get("name")) + chars(f.get("value"))).sum::<usize>();
    }
    n
}

/// Checks a bulk overwrite: command count, unique names per type, and Discord's 8000-character size per command.
pub(crate) fn commands(body: &Value) -> Vec<Issue> {
    let Some(list) = body.as_array() else {
        return Vec::new();
    };
    let mut issues = Vec::new();
    if list.len() > MAX_COMMANDS {
        issues.push(Issue::new(
            vec![],
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {MAX_COMMANDS} or fewer in length (got {}).", list.len()),
        ));
    }
    let mut seen = HashSet::new();
    for (i, cmd) in list.iter().enumerate() {
        let kind = cmd.get("type").and_then(Value::as_u64).unwrap_or(1);
        let name = cmd.get("name").and_then(Value::as_str).unwrap_or("");
        if !seen.insert((kind, name.to_string())) {
            issues.push(Issue::new(
                vec![i.to_string(), "name".into()],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                format!("Application command names must be unique (`{name}` repeats)."),
            ));
        }
        let size = command_size(cmd);
        if size > MAX_COMMAND_SIZE {
            issues.push(Issue::new(
                vec![i.to_string()],
                "APPLICATION_COMMAND_TOO_LARGE",
                format!("Command exceeds maximum size ({MAX_COMMAND_SIZE}): {size} characters."),
            ));
        }
    }
    issues
}

/// Discord counts names, descriptions and choice names/values, options included, with localizations at their
/// longest; counting every localization is stricter than Discord, never looser.
fn command_size(cmd: &Value) -> usize {
    let mut n = chars(cmd.get("name")) + chars(cmd.get("description"));
    for key in ["name_localizations", "description_localizations"] {
        if let Some(map) = cmd.get(key).and_then(Value::as_object) {
            n += map.values().map(|v| chars(Some(v))).max().unwrap_or(0);
        }
    }
    if let Some(choices) = cmd.get("choices").and_then(Value::as_array) {
        for c in choices {
            n += chars(c.get("name"));
            n += match c.get("value") {
                Some(Value::String(s)) => s.chars().count(),
                Some(other) => other.to_string().len(),
                None => 0,
            };
        }
    }
    if let Some(options) = cmd.get("options").and_then(Value::as_array) {
        n += options.iter().map(command_size).sum::<usize>();
    }
    n
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_over_two_thousand_characters_is_refused_even_though_the_schema_allows_four_thousand() {
        let issues = message(&json!({"content": "é".repeat(2001)}), &[]);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, vec!["content"]);
        assert!(message(&json!({"content": "é".repeat(2000)}), &[]).is_empty());
    }

    #[test]
    fn embeds_over_six_thousand_characters_in_total_are_refused() {
        let embed = json!({"title": "t".repeat(256), "description": "d".repeat(4000)});
        let issues = message(&json!({"embeds": [embed.clone(), embed]}), &["data"]);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, vec!["data", "embeds"]);
    }

    #[test]
    fn a_message_without_content_embeds_components_or_files_is_empty() {
        assert!(is_empty_message(&json!({"content": ""}), 0));
        assert!(!is_empty_message(&json!({"content": ""}), 1));
        assert!(!is_empty_message(&json!({"embeds": [{"title": "x"}]}), 0));
    }

    #[test]
    fn duplicate_command_names_are_refused() {
        let issues = commands(&json!([{"name": "log", "description": "a"}, {"name": "log", "description": "b"}]));
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].code, "APPLICATION_COMMANDS_DUPLICATE_NAME");
    }
}
