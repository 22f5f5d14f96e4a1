//! `/team create|rename|delete|add|remove|list|channel`: for managers.

use super::format::{clip, fit_lines};
use super::{CommandCall, Ctx, Embed, Field, Message, Response, private};
use crate::app::{AppError, AppResult};
use crate::domain::activity::Snowflake;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let guild = ctx.inv.guild;
    let (actor, now) = (ctx.actor(), ctx.now);
    let user = || -> AppResult<Snowflake> {
        Ok(Snowflake::new(
            call.user("user").ok_or_else(|| AppError::User("choose a member with the `user` option".into()))?,
        )?)
    };
    match call.sub.as_deref() {
        Some("create") => {
            let team = ctx.app.create_team(guild, call.required_string("name")?, actor, now).await?;
            Ok(private(format!(
                "Team **{}** created. Add reps with `/team add team:{} user:@someone`.",
                team.name, team.name
            )))
        }
        Some("rename") => {
            let (old, new) = ctx
                .app
                .rename_team(guild, call.required_string("team")?, call.required_string("name")?, actor, now)
                .await?;
            Ok(private(format!("Team **{}** is now **{new}**.", old.name)))
        }
        Some("delete") => {
            let (team, moved) = ctx.app.delete_team(guild, call.required_string("team")?, actor, now).await?;
            Ok(private(format!(
                "Team **{}** deleted; {moved} member{} left without a team. Its history is kept.",
                team.name,
                if moved == 1 { " was" } else { "s were" }
            )))
        }
        Some("add") => {
            let user = user()?;
            let name = ctx.resolved_name(user.get()).unwrap_or("");
            let (team, moved) =
                ctx.app.add_to_team(guild, call.required_string("team")?, user, name, actor, now).await?;
            Ok(private(if moved {
                format!("<@{user}> is now on **{}**. Their earlier activities stay with their old team.", team.name)
            } else {
                format!("<@{user}> is already on **{}**.", team.name)
            }))
        }
        Some("remove") => {
            let user = user()?;
            let team = ctx.app.remove_from_team(guild, user, actor, now).await?;
            Ok(private(format!("<@{user}> is no longer on **{}**.", team.name)))
        }
        Some("channel") => {
            let channel = call.channel("channel").ok_or_else(|| AppError::User("choose a channel".into()))?;
            let team = ctx.app.set_team_channel(guild, call.required_string("team")?, channel, actor, now).await?;
            Ok(private(format!("Posts for **{}** go to <#{channel}>.", team.name)))
        }
        Some("list") => list(ctx).await,
        _ => Err(AppError::User("use one of /team create, rename, delete, add, remove, list or channel".into())),
    }
}

async fn list(ctx: &Ctx<'_>) -> AppResult<Response> {
    let (rosters, loose) = ctx.app.rosters(ctx.inv.guild).await?;
    if rosters.is_empty() {
        return Ok(private("No teams yet. Create one with `/team create name:Alpha`."));
    }
    // 25 fields at most, 1024 characters each, 6000 for the whole embed.
    let mut fields = Vec::new();
    let mut used = 0;
    for (i, r) in rosters.iter().enumerate() {
        let names: Vec<String> = r.members.iter().map(|m| clip(&m.user_name, 40)).collect();
        let (value, _) =
            if names.is_empty() { ("nobody yet".to_string(), 0) } else { fit_lines(&[names.join(", ")], 0, 1000, "") };
        let value = if value.chars().count() > 1000 {
            format!("{}… ({} members)", clip(&value, 950), names.len())
        } else {
            value
        };
        let channel = r.team.channel_id.map(|c| format!(" · <#{c}>")).unwrap_or_default();
        let name = clip(&format!("{} ({}){channel}", r.team.name, r.members.len()), 256);
        used += name.chars().count() + value.chars().count();
        if fields.len() == 23 || used > 4500 {
            fields.push(Field {
                name: "…".into(),
                value: format!("and {} more teams", rosters.len() - i),
                inline: false,
            });
            break;
        }
        fields.push(Field { name, value, inline: false });
    }
    if !loose.is_empty() {
        let names: Vec<String> = loose.iter().take(30).map(|m| clip(&m.user_name, 30)).collect();
        let more = if loose.len() > 30 { format!(" and {} more", loose.len() - 30) } else { String::new() };
        fields.push(Field {
            name: "On no team".into(),
            value: clip(&format!("{}{more}", names.join(", ")), 1000),
            inline: false,
        });
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed { title: Some("Teams".into()), fields, color: Some(0x16a085), ..Embed::default() }],
        ephemeral: true,
        ..Message::default()
    }))
}
