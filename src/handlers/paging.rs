//! Pages of long boards and tables (`/leaderboard`, `/kpi team`, `/compete show`, `/deal list`):
//! a `page` option, and ◀ ▶ buttons whose custom id carries the command itself, so that a press
//! re-runs it (with the numbers as they are now) on another page. Stateless: any instance, after
//! any restart, answers a press on any old message.
//!
//! The one who ran the command turns its pages in place; anyone else pressing gets the page as a
//! message of their own, with their own row, so a public board never flips under its readers.

use super::{Button, ButtonStyle, CommandCall, Ctx, OptionValue, Response};
use crate::app::{AppError, AppResult};

/// Discord's limit on a component's custom id.
const CUSTOM_ID_MAX: usize = 100;
/// The custom-id prefix of page buttons.
pub const PREFIX: &str = "pg";

/// One page of `total` rows: `number` counts from 1; `rows` are the indices it shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub number: usize,
    pub pages: usize,
    pub rows: std::ops::Range<usize>,
}

impl Page {
    /// The page the call asks for (its `page` option, default 1) of `total` rows, `per_page` each.
    /// A page past the end is refused with how many there are, except from a button: a press on
    /// an old message whose board has since shrunk shows the last page.
    pub fn of(call: &CommandCall, total: usize, per_page: usize) -> AppResult<Page> {
        let per_page = per_page.max(1);
        let pages = total.div_ceil(per_page).max(1);
        let asked = call.integer("page").unwrap_or(1);
        if asked < 1 {
            return Err(AppError::User("pages count from 1".into()));
        }
        let number = match usize::try_from(asked) {
            Ok(n) if n <= pages => n,
            _ if pressed(call) => pages,
            _ => {
                return Err(AppError::User(format!(
                    "there {} only {pages} page{} here",
                    if pages == 1 { "is" } else { "are" },
                    if pages == 1 { "" } else { "s" }
                )));
            }
        };
        let start = (number - 1) * per_page;
        Ok(Page { number, pages, rows: start..(start + per_page).min(total) })
    }

    /// "Page 2 of 4", or nothing when everything fits on one.
    pub fn label(&self) -> Option<String> {
        (self.pages > 1).then(|| format!("Page {} of {}", self.number, self.pages))
    }

    /// ◀ and ▶ for the pages before and after this one (none on a single page). `owner` is who
    /// may turn the message itself: the one who ran the command. Buttons are left off, with the
    /// `page` option still working, in the rare case the command does not fit in a custom id.
    pub fn buttons(&self, call: &CommandCall, owner: u64) -> Vec<Button> {
        if self.pages <= 1 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (target, label) in [(self.number.saturating_sub(1), "◀"), (self.number + 1, "▶")] {
            let usable = (1..=self.pages).contains(&target);
            // A disabled button still needs an id of its own: the row must not hold two alike.
            let page = if usable { target } else { 0 };
            let Some(custom_id) = encode(call, page, owner, label) else {
                return Vec::new();
            };
            out.push(Button {
                custom_id,
                label: label.into(),
                style: ButtonStyle::Secondary,
                disabled: !usable,
                url: None,
            });
        }
        out
    }
}

/// Whether the call came from a pressed page button (not typed).
pub fn pressed(call: &CommandCall) -> bool {
    call.boolean(PRESSED).unwrap_or(false)
}

/// An option the decoder adds so that [`Page::of`] knows the page came from a button.
const PRESSED: &str = "__pressed";

/// `pg:<page>:<owner>:<command>[.<sub>]:<name>=<value>;...` with `%`, `;`, `=` and `:` escaped in
/// values; `None` when that exceeds Discord's 100 characters. `side` keeps the two buttons' ids
/// apart when both are disabled.
fn encode(call: &CommandCall, page: usize, owner: u64, side: &str) -> Option<String> {
    let mut id = format!("{PREFIX}:{page}:{owner}:{}", call.name);
    if let Some(sub) = &call.sub {
        id.push('.');
        id.push_str(sub);
    }
    id.push(':');
    let options: Vec<String> = call
        .options
        .iter()
        .filter(|(name, _)| name != "page" && name != PRESSED)
        .map(|(name, value)| {
            let (tag, text) = match value {
                OptionValue::String(s) => ('s', escape(s)),
                OptionValue::Integer(i) => ('i', i.to_string()),
                OptionValue::Number(n) => ('n', n.to_string()),
                OptionValue::Boolean(b) => ('b', b.to_string()),
                OptionValue::User(u) => ('u', u.to_string()),
                OptionValue::Channel(c) => ('c', c.to_string()),
                OptionValue::Role(r) => ('r', r.to_string()),
            };
            format!("{}={tag}{text}", escape(name))
        })
        .collect();
    id.push_str(&options.join(";"));
    if page == 0 {
        id.push_str(if side == "◀" { ";<" } else { ";>" });
    }
    (id.chars().count() <= CUSTOM_ID_MAX).then_some(id)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            ';' => out.push_str("%3B"),
            '=' => out.push_str("%3D"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(char::from(u8::from_str_radix(code, 16).ok()?));
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// A pressed page button read back: the page, the owner and the command to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Press {
    pub page: usize,
    pub owner: u64,
    pub call: CommandCall,
}

/// The custom id of a button that shows page `page` of `call` (`None` past Discord's 100
/// characters); `owner` turns the message in place. What the ◀ ▶ buttons carry; the bench
/// presses one built here.
pub fn custom_id(call: &CommandCall, page: usize, owner: u64) -> Option<String> {
    encode(call, page.max(1), owner, "▶")
}

/// Whether a button's custom id is a page button's.
pub fn is_page_button(custom_id: &str) -> bool {
    custom_id.starts_with("pg:")
}

/// Reads a page button's custom id; `None` for anything rally did not write.
pub fn decode(custom_id: &str) -> Option<Press> {
    let mut parts = custom_id.splitn(5, ':');
    if parts.next()? != PREFIX {
        return None;
    }
    let page: usize = parts.next()?.parse().ok()?;
    let owner: u64 = parts.next()?.parse().ok()?;
    let command = parts.next()?;
    let options = parts.next()?;
    let (name, sub) = match command.split_once('.') {
        Some((n, s)) => (n.to_string(), Some(s.to_string())),
        None => (command.to_string(), None),
    };
    let mut call = CommandCall { name, sub, options: Vec::new() };
    for pair in options.split(';').filter(|p| !p.is_empty() && *p != "<" && *p != ">") {
        let (key, value) = pair.split_once('=')?;
        let mut chars = value.chars();
        let tag = chars.next()?;
        let text = chars.as_str();
        let value = match tag {
            's' => OptionValue::String(unescape(text)?),
            'i' => OptionValue::Integer(text.parse().ok()?),
            'n' => OptionValue::Number(text.parse().ok()?),
            'b' => OptionValue::Boolean(text.parse().ok()?),
            'u' => OptionValue::User(text.parse().ok()?),
            'c' => OptionValue::Channel(text.parse().ok()?),
            'r' => OptionValue::Role(text.parse().ok()?),
            _ => return None,
        };
        call.options.push((unescape(key)?, value));
    }
    Some(Press { page, owner, call })
}

/// A press on ◀ or ▶: the command runs again, on the page pressed, as the one who pressed it (their
/// rights, their own row). The owner's press turns the message in place; anyone else's gets the
/// page as a message only they see.
pub async fn press(ctx: &Ctx<'_>, custom_id: &str) -> AppResult<Response> {
    let Some(Press { page, owner, mut call }) = decode(custom_id) else {
        return Err(AppError::User("this button is not one rally knows; it may be from an older version".into()));
    };
    if page == 0 {
        return Err(AppError::User("there is no page that way".into()));
    }
    call.options.push(("page".into(), OptionValue::Integer(page as i64)));
    call.options.push((PRESSED.into(), OptionValue::Boolean(true)));
    let response = super::route(ctx, &call).await?;
    Ok(match response {
        Response::Message(mut m) => {
            if owner == ctx.inv.user.get() {
                m.update = true;
            } else {
                m.ephemeral = true;
            }
            Response::Message(m)
        }
        other => other,
    })
}

/// Whether this press will turn the message in place (so a slow answer is deferred as an update).
pub fn updates_in_place(custom_id: &str, user: u64) -> bool {
    decode(custom_id).is_some_and(|p| p.owner == user && p.page > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(options: Vec<(&str, OptionValue)>) -> CommandCall {
        CommandCall {
            name: "leaderboard".into(),
            sub: None,
            options: options.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
        }
    }

    #[test]
    fn a_button_id_reads_back_as_the_command_it_was_made_from() {
        let c = call(vec![
            ("metric", OptionValue::String("revenue".into())),
            ("team", OptionValue::String("A;b=c:d%e".into())),
            ("public", OptionValue::Boolean(true)),
            ("user", OptionValue::User(42)),
        ]);
        let page = Page { number: 2, pages: 3, rows: 15..30 };
        let buttons = page.buttons(&c, 7);
        assert_eq!(buttons.len(), 2);
        assert!(buttons.iter().all(|b| b.custom_id.len() <= CUSTOM_ID_MAX && !b.disabled));
        let back = decode(&buttons[1].custom_id).unwrap();
        assert_eq!(back, Press { page: 3, owner: 7, call: c.clone() });
        assert_eq!(decode(&buttons[0].custom_id).unwrap().page, 1);
    }

    #[test]
    fn the_first_page_has_a_disabled_back_button_with_an_id_of_its_own() {
        let c = call(vec![]);
        let b = Page { number: 1, pages: 2, rows: 0..15 }.buttons(&c, 7);
        assert!(b[0].disabled && !b[1].disabled && b[0].custom_id != b[1].custom_id);
        assert!(Page { number: 1, pages: 1, rows: 0..3 }.buttons(&c, 7).is_empty());
    }

    #[test]
    fn a_command_too_long_for_a_custom_id_gets_no_buttons() {
        let c = call(vec![("team", OptionValue::String("x".repeat(90)))]);
        assert!(Page { number: 1, pages: 2, rows: 0..15 }.buttons(&c, 7).is_empty());
    }

    #[test]
    fn pages_past_the_end_are_refused_from_the_option_and_clamped_from_a_button() {
        let asked = call(vec![("page", OptionValue::Integer(5))]);
        assert!(Page::of(&asked, 40, 15).is_err());
        let mut pressed = asked.clone();
        pressed.options.push((PRESSED.into(), OptionValue::Boolean(true)));
        assert_eq!(Page::of(&pressed, 40, 15).unwrap(), Page { number: 3, pages: 3, rows: 30..40 });
        assert_eq!(Page::of(&call(vec![]), 0, 15).unwrap(), Page { number: 1, pages: 1, rows: 0..0 });
        assert!(Page::of(&call(vec![("page", OptionValue::Integer(0))]), 10, 15).is_err());
    }

    #[test]
    fn ids_rally_did_not_write_are_not_read() {
        for bad in ["", "pg", "pg:x:1:leaderboard:", "undo:5", "pg:1:2:lb:metric=zfoo", "pg:1:2:lb:m=s%Z"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
