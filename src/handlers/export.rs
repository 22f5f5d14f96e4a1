//! `/export [period]`: the period's activities as a CSV attachment, for managers.

use super::{Attachment, CommandCall, Ctx, Message, Response};
use crate::app::{AppError, AppResult};

/// Discord's smallest upload limit for a bot (an unboosted server); larger exports need the CLI.
const MAX_ATTACHMENT: usize = 10 * 1024 * 1024;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let spec = call.period()?;
    let mut csv = Vec::new();
    let rows = ctx.app.export_csv(ctx.inv.guild, &spec, ctx.now, &mut csv).await?;
    if csv.len() > MAX_ATTACHMENT {
        return Err(AppError::User(format!(
            "the export is {} MB, over Discord's upload limit; pick a shorter period or run `rally export` on the server",
            csv.len() / (1024 * 1024)
        )));
    }
    let label = spec.to_string().replace("..", "_to_");
    Ok(Response::Message(Message {
        content: Some(format!(
            "📎 {rows} activit{} for {spec}, in the import format.",
            if rows == 1 { "y" } else { "ies" }
        )),
        attachments: vec![Attachment {
            filename: format!("rally-{label}.csv"),
            data: csv,
            description: Some(format!("rally activities, {spec}")),
        }],
        ephemeral: true,
        ..Message::default()
    }))
}
