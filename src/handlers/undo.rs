//! `/undo` and the Undo button: soft-delete an activity you logged in chat, within 24 hours.
//! Imported rows are not yours to undo here: `rally import --remove` takes them back.

use super::{CommandCall, Ctx, Response, private};
use crate::app::log::Undone;
use crate::app::{AppError, AppResult};

pub async fn handle(ctx: &Ctx<'_>, _call: &CommandCall) -> AppResult<Response> {
    let undone = ctx.app.undo(ctx.inv.guild, ctx.inv.user, None, ctx.now).await?;
    reply(ctx, &undone).await
}

/// The Undo button under a `/log` reply carries `undo:<activity id>`.
pub async fn button(ctx: &Ctx<'_>, custom_id: &str) -> AppResult<Response> {
    let id = custom_id
        .strip_prefix("undo:")
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(|| AppError::User("this button is not one rally knows; it may be from an older version".into()))?;
    let undone = ctx.app.undo(ctx.inv.guild, ctx.inv.user, Some(id), ctx.now).await?;
    reply(ctx, &undone).await
}

async fn reply(ctx: &Ctx<'_>, undone: &Undone) -> AppResult<Response> {
    let r = &undone.record;
    let tz = ctx.settings().await?.timezone;
    // A flagged entry still waiting for review never counted: there are no points to take back.
    let points = if undone.counted {
        format!("−{}", super::format::pts(r.points))
    } else {
        "it had not counted yet".to_string()
    };
    let mut text = format!(
        "↩️ Undone: **{} × {}** ({points}) from {}.",
        r.quantity,
        r.kind,
        r.occurred_at.with_timezone(&tz).format("%a %d %b %H:%M")
    );
    if let Some(deal) = &undone.reopened_deal {
        text.push_str(&format!(" The deal **{deal}** is open again."));
    }
    Ok(private(text))
}
