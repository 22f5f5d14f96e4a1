//! `/review` (managers): the entries the outlier rule flagged, oldest first, each with its reason
//! and a row of Approve / Remove buttons (`review:approve:<id>`, `review:remove:<id>`). A press
//! checks again that the presser is a manager; a second press on a decided entry changes nothing.

use super::{Button, ButtonStyle, CommandCall, Ctx, Embed, MAX_ACTION_ROWS, Message, Response, private};
use crate::app::review::{Decision, ReviewItem, ReviewStatus};
use crate::app::{AppError, AppResult};
use crate::domain::review::ReviewCounting;

/// Entries shown at once: one action row each, and Discord allows five rows.
pub const SHOWN: usize = MAX_ACTION_ROWS;

/// The prefix of this module's button ids.
pub const PREFIX: &str = "review:";

pub async fn handle(ctx: &Ctx<'_>, _call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let queue = ctx.app.review_queue(ctx.inv.guild, SHOWN).await?;
    if queue.items.is_empty() {
        return Ok(private("✅ Nothing to review: no flagged entries are waiting."));
    }
    let tz = ctx.settings().await?.timezone;
    let counting = ctx.app.review_counting(ctx.inv.guild).await?;
    let mut lines = Vec::new();
    let mut buttons = Vec::new();
    for (i, item) in queue.items.iter().enumerate() {
        let n = i + 1;
        lines.push(format!(
            "**{n}.** {} · **{} × {}** · {}\n{} · {}",
            item.record.user_name,
            item.record.quantity,
            item.record.kind,
            item.record.occurred_at.with_timezone(&tz).format("%a %d %b %H:%M"),
            item.flag.outlier.reason(&item.record.kind),
            if item.flag.counted { "counts meanwhile" } else { "not counted until approved" }
        ));
        buttons.push(Button {
            custom_id: format!("{PREFIX}approve:{}", item.record.id),
            label: format!("Approve {n}"),
            style: ButtonStyle::Primary,
            disabled: false,
            url: None,
        });
        buttons.push(Button {
            custom_id: format!("{PREFIX}remove:{}", item.record.id),
            label: format!("Remove {n}"),
            style: ButtonStyle::Danger,
            disabled: false,
            url: None,
        });
    }
    let shown = queue.items.len() as i64;
    let mut footer = match counting {
        ReviewCounting::WhilePending => "Flagged entries count until removed".to_string(),
        ReviewCounting::AfterApproval => "Flagged entries count only once approved".to_string(),
    };
    footer.push_str(" (/settings review) · Remove takes an entry back like an undo");
    if queue.open > shown {
        footer = format!("{} more after these: they move up as these are decided · {footer}", queue.open - shown);
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(format!(
                "🔎 {} flagged entr{} to review",
                queue.open,
                if queue.open == 1 { "y" } else { "ies" }
            )),
            description: Some(super::format::clip(&lines.join("\n"), 4000)),
            footer: Some(footer),
            color: Some(0xe67e22),
            ..Embed::default()
        }],
        buttons,
        row_width: Some(2),
        ephemeral: true,
        ..Message::default()
    }))
}

/// A press on `review:approve:<id>` or `review:remove:<id>`.
pub async fn button(ctx: &Ctx<'_>, custom_id: &str) -> AppResult<Response> {
    if !ctx.is_manager().await? {
        return Err(AppError::User(
            "only managers (Manage Server permission or the manager role set in /settings) decide flagged entries"
                .into(),
        ));
    }
    let parsed = custom_id.strip_prefix(PREFIX).and_then(|rest| rest.split_once(':')).and_then(|(verb, id)| {
        let approve = match verb {
            "approve" => true,
            "remove" => false,
            _ => return None,
        };
        Some((approve, id.parse::<i64>().ok()?))
    });
    let Some((approve, id)) = parsed else {
        return Err(AppError::User("this button is not one rally knows; it may be from an older version".into()));
    };
    let decision = ctx.app.decide_review(ctx.inv.guild, id, approve, ctx.actor(), ctx.now).await?;
    let tz = ctx.settings().await?.timezone;
    let what = |item: &ReviewItem| {
        format!(
            "**{} × {}** by {} ({})",
            item.record.quantity,
            item.record.kind,
            item.record.user_name,
            item.record.occurred_at.with_timezone(&tz).format("%a %d %b %H:%M")
        )
    };
    let text = match decision {
        Decision::Decided { item, reopened_deal, still_open } => {
            let mut text = if approve {
                format!("✅ Approved: {} counts.", what(&item))
            } else {
                format!(
                    "🗑️ Removed: {} no longer counts (−{}), as if undone.",
                    what(&item),
                    super::format::pts(item.record.points)
                )
            };
            if let Some(deal) = reopened_deal {
                text.push_str(&format!(" The deal **{deal}** is open again."));
            }
            match still_open {
                0 => text.push_str(" Nothing else waits for review."),
                n => text.push_str(&format!(" {n} more waiting.")),
            }
            text
        }
        Decision::AlreadyDecided(item) => {
            let by = item.flag.decided_by.as_deref().map(mention).unwrap_or_else(|| "someone".into());
            let when = item
                .flag
                .decided_at
                .map(|t| format!(" on {}", t.with_timezone(&tz).format("%a %d %b %H:%M")))
                .unwrap_or_default();
            match item.flag.status {
                ReviewStatus::Approved => {
                    format!("ℹ️ {} was already approved by {by}{when}; nothing changed.", what(&item))
                }
                ReviewStatus::Removed => {
                    format!("ℹ️ {} was already removed by {by}{when}; nothing changed.", what(&item))
                }
                ReviewStatus::Withdrawn => {
                    format!("ℹ️ {} was undone by the rep{when} before review; nothing to decide.", what(&item))
                }
                ReviewStatus::Open => format!("ℹ️ {} still waits for review; nothing changed.", what(&item)),
            }
        }
    };
    // The list the button was on is redrawn in place, with the decision on top: a manager works
    // down the queue without running /review again.
    let mut refreshed = match handle(ctx, &CommandCall::default()).await? {
        Response::Message(m) => m,
        other => return Ok(other),
    };
    refreshed.content = Some(text);
    refreshed.update = true;
    Ok(Response::Message(refreshed))
}

/// `user:42` (an audit actor) as a mention; other actors as they are.
fn mention(actor: &str) -> String {
    match actor.strip_prefix("user:") {
        Some(id) if id.parse::<u64>().is_ok() => format!("<@{id}>"),
        _ => actor.to_string(),
    }
}
