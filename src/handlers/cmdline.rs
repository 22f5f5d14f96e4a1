//! Parses a slash command written as text — `/team add team:Alpha user:<@42>` — into a
//! [`CommandCall`], checked against the command's manifest the way Discord checks what a user
//! types: known options only, required ones present, types, choices and ranges respected.
//! Used by `rally exec` and the demo.

use serde_json::Value;

use super::{CommandCall, OptionValue, manifests};
use crate::domain::DomainError;
use crate::domain::activity::{Snowflake, shorten};

/// Splits on whitespace, keeping "quoted text" (and name:"quoted text") together. A `'` opens a
/// quote only where a value begins: inside one it is an apostrophe (`amount:1'000.50`).
fn tokens(line: &str) -> Result<Vec<String>, DomainError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'') if !(cur.is_empty() || cur.ends_with(':')) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(DomainError::invalid("a quote is not closed"));
    }
    if started || !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn options_of(v: &Value) -> &[Value] {
    v.get("options").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// Parses `line` into a command call, or explains what is wrong with it.
pub fn parse(line: &str) -> Result<CommandCall, DomainError> {
    let words = tokens(line)?;
    let Some(first) = words.first() else {
        return Err(DomainError::invalid("write a command, e.g. /me period:this-week"));
    };
    let name = first.strip_prefix('/').unwrap_or(first).to_ascii_lowercase();
    let manifest = manifests::get(&name).ok_or_else(|| {
        let names: Vec<&str> = manifests::MANIFESTS.iter().map(|(n, _)| *n).collect();
        match crate::domain::suggest::closest(&name, names.iter().copied()) {
            Some(near) => DomainError::invalid(format!(
                "there is no command /{}; did you mean /{near}? The commands are /{}",
                shorten(&name, 32),
                names.join(", /")
            )),
            None => DomainError::invalid(format!(
                "there is no command /{}; try one of /{}",
                shorten(&name, 32),
                names.join(", /")
            )),
        }
    })?;
    let mut call = CommandCall { name: name.clone(), ..CommandCall::default() };
    let mut rest = &words[1..];
    let mut spec = manifest;
    let subs: Vec<&Value> = options_of(manifest).iter().filter(|o| o["type"] == 1).collect();
    if !subs.is_empty() {
        let names: Vec<&str> = subs.iter().filter_map(|s| s["name"].as_str()).collect();
        let sub = rest.first().map(|s| s.to_ascii_lowercase());
        let found = sub.as_deref().and_then(|s| subs.iter().find(|o| o["name"] == s));
        let Some(found) = found else {
            let near = sub.as_deref().and_then(|s| crate::domain::suggest::closest(s, names.iter().copied()));
            let hint = near.map_or(String::new(), |n| format!("did you mean `{n}`? "));
            return Err(DomainError::invalid(format!("/{name} needs a subcommand: {hint}{}", names.join(", "))));
        };
        call.sub = sub;
        spec = found;
        rest = &rest[1..];
    }
    let known = options_of(spec);
    let mut last_key: Option<String> = None;
    for (i, word) in rest.iter().enumerate() {
        let Some((key, value)) = word.split_once(':') else {
            // A bare word after an option is most often the rest of a value with a space in it.
            let quote = last_key.as_ref().map_or(String::new(), |k| {
                format!(" (a value with a space in it goes in quotes: {k}:\"… {}\")", shorten(word, 20))
            });
            return Err(DomainError::invalid(format!(
                "write options as name:value, not `{}`{quote}",
                shorten(word, 40)
            )));
        };
        let key = key.to_ascii_lowercase();
        last_key = Some(key.clone());
        let Some(opt) = known.iter().find(|o| o["name"] == key.as_str()) else {
            let names: Vec<&str> = known.iter().filter_map(|o| o["name"].as_str()).collect();
            return Err(DomainError::invalid(format!(
                "/{name} has no option `{}`{}",
                shorten(&key, 32),
                if names.is_empty() { String::new() } else { format!("; it takes {}", names.join(", ")) }
            )));
        };
        if call.options.iter().any(|(n, _)| *n == key) {
            return Err(DomainError::invalid(format!("the option `{key}` is given twice")));
        }
        let value = typed(opt, &key, value).map_err(|mut e| {
            // `format:1 234,56`: the value was cut at the space; say so rather than only refuse `1`.
            if let Some(next) = rest.get(i + 1).filter(|w| !w.contains(':')) {
                e.message.push_str(&format!(
                    " (if the value has a space in it, put it in quotes: {key}:\"{} {}\")",
                    shorten(value, 20),
                    shorten(next, 20)
                ));
            }
            e
        })?;
        call.options.push((key, value));
    }
    for opt in known {
        if opt["required"] == true
            && let Some(n) = opt["name"].as_str()
            && !call.options.iter().any(|(k, _)| k == n)
        {
            return Err(DomainError::invalid(format!("the option `{n}` is required")));
        }
    }
    Ok(call)
}

fn typed(opt: &Value, key: &str, raw: &str) -> Result<OptionValue, DomainError> {
    let bad = |what: &str| DomainError::invalid(format!("`{key}` must be {what}, not `{}`", shorten(raw, 40)));
    let value = match opt["type"].as_u64() {
        Some(4) => OptionValue::Integer(raw.trim().parse().map_err(|_| bad("a whole number"))?),
        Some(10) => OptionValue::Number(
            raw.trim().parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| bad("a number"))?,
        ),
        Some(5) => OptionValue::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            _ => return Err(bad("true or false")),
        }),
        Some(6) => OptionValue::User(Snowflake::parse(raw).map_err(|_| bad("a user (<@id> or the id)"))?.get()),
        Some(7) => OptionValue::Channel(
            Snowflake::parse(raw.trim().trim_start_matches("<#").trim_end_matches('>'))
                .map_err(|_| bad("a channel"))?
                .get(),
        ),
        Some(8) => OptionValue::Role(Snowflake::parse(raw).map_err(|_| bad("a role"))?.get()),
        _ => OptionValue::String(raw.to_string()),
    };
    // What Discord enforces client-side, enforced here too.
    match &value {
        OptionValue::Integer(n) => {
            if let Some(min) = opt["min_value"].as_i64().filter(|m| n < m) {
                return Err(DomainError::invalid(format!("`{key}` must be at least {min}")));
            }
            if let Some(max) = opt["max_value"].as_i64().filter(|m| n > m) {
                return Err(DomainError::invalid(format!("`{key}` must be at most {max}")));
            }
        }
        OptionValue::String(s) => {
            if let Some(max) = opt["max_length"].as_u64().filter(|m| s.chars().count() as u64 > *m) {
                return Err(DomainError::invalid(format!("`{key}` must be at most {max} characters")));
            }
            if let Some(choices) = opt["choices"].as_array() {
                let values: Vec<&str> = choices.iter().filter_map(|c| c["value"].as_str()).collect();
                if !values.contains(&s.as_str()) {
                    return Err(DomainError::invalid(format!("`{key}` must be one of {}", values.join(", "))));
                }
            }
        }
        _ => {}
    }
    Ok(value)
}

/// The `data.options` array Discord would send for `call`, typed by the command's manifest.
pub fn discord_options(call: &CommandCall) -> Value {
    let opts: Vec<Value> = call
        .options
        .iter()
        .map(|(name, value)| {
            let (kind, v) = match value {
                OptionValue::String(s) => (3, Value::from(s.clone())),
                OptionValue::Integer(i) => (4, Value::from(*i)),
                OptionValue::Boolean(b) => (5, Value::from(*b)),
                OptionValue::User(u) => (6, Value::from(u.to_string())),
                OptionValue::Channel(c) => (7, Value::from(c.to_string())),
                OptionValue::Role(r) => (8, Value::from(r.to_string())),
                OptionValue::Number(n) => (10, Value::from(*n)),
            };
            serde_json::json!({"name": name, "type": kind, "value": v})
        })
        .collect();
    match &call.sub {
        Some(sub) => serde_json::json!([{"name": sub, "type": 1, "options": opts}]),
        None => Value::Array(opts),
    }
}

/// What one entry of `rally exec --roles` stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecRole {
    /// The Manage Server permission, which makes the user a manager everywhere.
    Manager,
    /// A Discord role the user holds, e.g. the guild's manager role.
    Role(Snowflake),
}

/// Reads one entry of `rally exec --roles`: `manager` or `managers` in any case, or a role id
/// (`123`, `<@&123>`). A near miss (`manger`) is refused with the word to use rather than
/// taken: running a command as a manager by guess could change settings the caller did not mean to.
pub fn exec_role(text: &str) -> Result<ExecRole, DomainError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("manager") || t.eq_ignore_ascii_case("managers") {
        return Ok(ExecRole::Manager);
    }
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '<') {
        return Snowflake::parse(t).map(ExecRole::Role);
    }
    let shown = shorten(t, 40);
    let hint = "--roles takes `manager` (the Manage Server permission) or role ids, comma-separated";
    Err(DomainError::invalid(match crate::domain::suggest::closest(t, ["manager", "managers"]) {
        Some(_) => format!("`{shown}` is not a role; did you mean `manager`? {hint}"),
        None => format!("`{shown}` is not a role: {hint}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_parses_into_a_typed_call() {
        let call = parse("/team add team:\"Alpha Team\" user:<@42>").unwrap();
        assert_eq!(call.name, "team");
        assert_eq!(call.sub.as_deref(), Some("add"));
        assert_eq!(
            call.options,
            vec![("team".into(), OptionValue::String("Alpha Team".into())), ("user".into(), OptionValue::User(42))]
        );
        let call = parse("/log kind:call count:3 note:'left a voicemail'").unwrap();
        assert_eq!(call.integer("count"), Some(3));
        assert_eq!(call.string("note"), Some("left a voicemail"));
        let call = parse("/kpi team period:this-month public:true").unwrap();
        assert_eq!(call.boolean("public"), Some(true));
    }

    #[test]
    fn exec_roles_take_manager_in_any_case_or_role_ids_and_suggest_for_a_near_miss() {
        for manager in ["manager", "managers", "Managers", " MANAGER "] {
            assert_eq!(exec_role(manager), Ok(ExecRole::Manager), "{manager}");
        }
        assert_eq!(exec_role("<@&77>"), Ok(ExecRole::Role(Snowflake::parse("77").unwrap())));
        assert_eq!(exec_role("77"), Ok(ExecRole::Role(Snowflake::parse("77").unwrap())));
        assert_eq!(
            exec_role("Manger").unwrap_err().message,
            "`Manger` is not a role; did you mean `manager`? \
             --roles takes `manager` (the Manage Server permission) or role ids, comma-separated"
        );
        assert!(exec_role("mangers").unwrap_err().message.contains("did you mean `manager`?"));
        assert_eq!(
            exec_role("Sales").unwrap_err().message,
            "`Sales` is not a role: --roles takes `manager` (the Manage Server permission) or role ids, comma-separated"
        );
        assert!(exec_role("1.01E+17").unwrap_err().message.contains("scientific notation"));
    }

    #[test]
    fn a_call_becomes_the_options_discord_sends() {
        let call = parse("/team add team:Alpha user:<@42>").unwrap();
        assert_eq!(
            discord_options(&call),
            serde_json::json!([{"name": "add", "type": 1, "options": [
                {"name": "team", "type": 3, "value": "Alpha"},
                {"name": "user", "type": 6, "value": "42"}
            ]}])
        );
    }

    #[test]
    fn an_unknown_command_lists_the_known_ones() {
        let message = parse("/dance").unwrap_err().message;
        let names: Vec<String> = manifests::MANIFESTS.iter().map(|(n, _)| format!("/{n}")).collect();
        assert_eq!(message, format!("there is no command /dance; try one of {}", names.join(", ")));
    }

    #[test]
    fn an_apostrophe_inside_a_value_is_a_digit_separator_not_a_quote() {
        let call = parse("/log kind:won amount:1'000.50 note:\"it's done\"").unwrap();
        assert_eq!(call.string("amount"), Some("1'000.50"));
        assert_eq!(call.string("note"), Some("it's done"));
        let call = parse("/settings number-format format:\"1'234.56\"").unwrap();
        assert_eq!(call.string("format"), Some("1'234.56"));
    }

    #[test]
    fn mistakes_are_explained() {
        let cases = [
            ("", "write a command, e.g. /me period:this-week"),
            ("/team", "/team needs a subcommand: create, rename, delete, add, remove, list, channel"),
            ("/log count:3", "the option `kind` is required"),
            ("/log kind:call count:0", "`count` must be at least 1"),
            ("/log kind:call count:many", "`count` must be a whole number, not `many`"),
            (
                "/log kind:call colour:red",
                "/log has no option `colour`; it takes kind, count, amount, note, deal, when",
            ),
            ("/log kind:call kind:email", "the option `kind` is given twice"),
            ("/log kind:\"call", "a quote is not closed"),
            ("/log kind:'call", "a quote is not closed"),
            ("/leaderboard scope:galaxy", "`scope` must be one of reps, teams"),
            ("/kpi rep user:bob", "`user` must be a user (<@id> or the id), not `bob`"),
            ("/me this-week", "write options as name:value, not `this-week`"),
            ("/kpi teams", "/kpi needs a subcommand: did you mean `team`? team, rep"),
            (
                "/settings number-format format:1 234,56",
                "`format` must be one of 1,234.56, 1.234,56, 1 234,56, 1'234.56 (if the value has a space in it, put \
                 it in quotes: format:\"1 234,56\")",
            ),
            (
                "/deal open name:x value:100 GBP",
                "write options as name:value, not `GBP` (a value with a space in it goes in quotes: value:\"… GBP\")",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line).unwrap_err().message, want, "{line}");
        }
        let typo = parse("/lgo kind:call").unwrap_err().message;
        assert!(typo.starts_with("there is no command /lgo; did you mean /log? The commands are /"), "{typo}");
    }
}
