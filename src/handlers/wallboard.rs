//! `/wallboard link|revoke` (managers): the live TV wallboard's link. The link holds a secret
//! token: it appears only in the manager's ephemeral reply, never in a log or a public message.

use super::{CommandCall, Ctx, Response, private};
use crate::app::{AppError, AppResult};

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    match call.sub.as_deref() {
        Some("link") => {
            let link = ctx.app.wallboard_link(ctx.inv.guild, ctx.actor(), ctx.now).await?;
            let replaced = if link.replaced > 0 {
                "\nThe previous link no longer works: open this one on every TV that showed it."
            } else {
                ""
            };
            Ok(private(format!(
                "📺 Your wallboard: {}\nOpen it full screen on the office TV (F11 in most browsers). It shows \
                 this week's reps and teams, running competitions, team goals with their pace and today's wins, \
                 and updates live. Keep the link to yourself: anyone who has it sees the board. \
                 `/wallboard revoke` turns it off; `/wallboard link` again makes a new one and retires this one.{replaced}",
                link.url
            )))
        }
        Some("revoke") => {
            let revoked = ctx.app.wallboard_revoke(ctx.inv.guild, ctx.actor(), ctx.now).await?;
            Ok(private(if revoked > 0 {
                "📺 The wallboard link is revoked: TVs showing it stop updating and say so. \
                 `/wallboard link` makes a new one."
            } else {
                "There was no wallboard link to revoke. `/wallboard link` makes one."
            }))
        }
        _ => Err(AppError::User("use /wallboard link or /wallboard revoke".into())),
    }
}
