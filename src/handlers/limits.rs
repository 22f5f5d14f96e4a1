//! Discord's limits on what a reply may contain (FACTS.md). `dispatch` checks every reply against
//! them, so a reply Discord would reject is caught and logged here instead of failing silently there.

use super::{Message, Response};

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Checks a reply against what Discord accepts for an interaction response.
pub fn check(response: &Response) -> Result<(), String> {
    let mut problems = Vec::new();
    match response {
        Response::Message(m) => message_problems(m, &mut problems),
        Response::Choices(choices) => {
            if choices.len() > 25 {
                problems.push(format!("{} autocomplete choices; Discord allows 25", choices.len()));
            }
            for c in choices {
                if !(1..=100).contains(&chars(&c.name)) {
                    problems.push(format!("choice name `{}` must be 1-100 characters", c.name));
                }
                if chars(&c.value) > 100 {
                    problems.push(format!("choice value `{}` is longer than 100 characters", c.value));
                }
            }
        }
        Response::Modal(modal) => modal_problems(modal, &mut problems),
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// A modal's limits: a title of 1-45 characters, a custom_id of 1-100, 1-5 text inputs, each with
/// a custom_id of 1-100, a label of 1-45, a placeholder of at most 100 and a most length of 1-4000.
fn modal_problems(m: &super::Modal, problems: &mut Vec<String>) {
    if !(1..=45).contains(&chars(&m.title)) {
        problems.push(format!("modal title `{}` must be 1-45 characters", m.title));
    }
    if !(1..=100).contains(&chars(&m.custom_id)) {
        problems.push("a modal's custom_id must be 1-100 characters".into());
    }
    if !(1..=5).contains(&m.inputs.len()) {
        problems.push(format!("{} text inputs in a modal; Discord allows 1 to 5", m.inputs.len()));
    }
    for i in &m.inputs {
        if !(1..=100).contains(&chars(&i.custom_id)) {
            problems.push("a text input's custom_id must be 1-100 characters".into());
        }
        if !(1..=45).contains(&chars(&i.label)) {
            problems.push(format!("text input label `{}` must be 1-45 characters", i.label));
        }
        if i.placeholder.as_deref().is_some_and(|p| chars(p) > 100) {
            problems.push("a text input's placeholder is longer than 100 characters".into());
        }
        if !(1..=4000).contains(&i.max_length) {
            problems.push("a text input's max_length must be 1-4000".into());
        }
    }
}

/// The same check for a message the bot sends on its own (scheduled posts, DMs, announcements).
pub fn check_message(m: &Message) -> Result<(), String> {
    let mut problems = Vec::new();
    message_problems(m, &mut problems);
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

fn message_problems(m: &Message, problems: &mut Vec<String>) {
    let mut over = |what: &str, len: usize, max: usize| {
        if len > max {
            problems.push(format!("{what} has {len} characters; Discord allows {max}"));
        }
    };
    let content = m.content.as_deref().unwrap_or_default();
    over("content", chars(content), 2000);
    let mut total = 0;
    for (i, e) in m.embeds.iter().enumerate() {
        let title = chars(e.title.as_deref().unwrap_or_default());
        let description = chars(e.description.as_deref().unwrap_or_default());
        let footer = chars(e.footer.as_deref().unwrap_or_default());
        over(&format!("embed {i} title"), title, 256);
        over(&format!("embed {i} description"), description, 4096);
        over(&format!("embed {i} footer"), footer, 2048);
        total += title + description + footer;
        for f in &e.fields {
            over(&format!("embed {i} field name `{}`", f.name), chars(&f.name), 256);
            over(&format!("embed {i} field `{}` value", f.name), chars(&f.value), 1024);
            total += chars(&f.name) + chars(&f.value);
        }
    }
    over("all embeds together", total, 6000);
    for b in &m.buttons {
        over(&format!("button label `{}`", b.label), chars(&b.label), 80);
        over(&format!("button custom_id `{}`", b.custom_id), chars(&b.custom_id), 100);
        if let Some(url) = &b.url {
            over(&format!("button url `{url}`"), chars(url), 512);
        }
    }
    for (i, e) in m.embeds.iter().enumerate() {
        if e.fields.len() > 25 {
            problems.push(format!("embed {i} has {} fields; Discord allows 25", e.fields.len()));
        }
        if e.fields.iter().any(|f| f.name.trim().is_empty() || f.value.trim().is_empty()) {
            problems.push(format!("embed {i} has a field with an empty name or value, which Discord rejects"));
        }
    }
    if m.embeds.len() > 10 {
        problems.push(format!("{} embeds; Discord allows 10", m.embeds.len()));
    }
    // Five action rows of five buttons each.
    let rows = m.button_rows().len();
    if rows > super::MAX_ACTION_ROWS {
        problems.push(format!(
            "{} buttons in rows of {} make {rows} action rows; Discord allows {}",
            m.buttons.len(),
            m.buttons_per_row(),
            super::MAX_ACTION_ROWS
        ));
    }
    if m.attachments.len() > 10 {
        problems.push(format!("{} attachments; Discord allows 10", m.attachments.len()));
    }
    if content.trim().is_empty() && m.embeds.is_empty() && m.attachments.is_empty() {
        problems.push("the message is empty, which Discord rejects".into());
    }
}
