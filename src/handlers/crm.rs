//! `/crm status|sync|link|map`: for managers. Connecting (which needs the API token) stays on the
//! command line, so a token is never typed into Discord.

use super::{CommandCall, Ctx, Response, private};
use crate::app::crm::{ApplyCounts, CrmStatus};
use crate::app::{AppError, AppResult};

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let guild = ctx.inv.guild.as_i64();
    match call.sub.as_deref() {
        Some("status") => {
            let tz = ctx.settings().await?.timezone;
            Ok(private(status_text(&ctx.app.crm_status(guild).await?, tz)))
        }
        Some("sync") => {
            ctx.app.crm_connection(guild).await?;
            ctx.app.crm_wake().notify_one();
            Ok(private("A sync with Pipedrive starts now; `/crm status` shows when it finished and what it read."))
        }
        Some("link") => {
            let user =
                call.user("user").ok_or_else(|| AppError::User("choose a member with the `user` option".into()))?;
            // Unresolved: the app names a new member after the CRM user.
            let name = ctx.resolved_name(user).unwrap_or("").to_string();
            let crm_user = call.required_string("crm-user")?;
            let linked = ctx.app.crm_link(guild, crm_user, Some((user, name)), ctx.inv.user.as_i64(), ctx.now).await?;
            Ok(private(format!(
                "**{}** in Pipedrive is <@{user}> here. {}",
                linked.crm_name,
                counts_sentence(&linked.counts)
            )))
        }
        Some("map") => {
            let kind = call.required_string("kind")?;
            let kind = (!kind.eq_ignore_ascii_case("ignore")).then_some(kind);
            let counts =
                ctx.app.crm_map(guild, call.required_string("type")?, kind, ctx.inv.user.as_i64(), ctx.now).await?;
            Ok(private(format!(
                "{} {}",
                match kind {
                    Some(k) =>
                        format!("That type now counts as **{k}**, taken from Pipedrive (`/log` no longer takes {k})."),
                    None => "That type is ignored now.".to_string(),
                },
                counts_sentence(&counts)
            )))
        }
        _ => Err(AppError::User("use one of /crm status, sync, link or map".into())),
    }
}

fn counts_sentence(c: &ApplyCounts) -> String {
    if c.imported + c.updated + c.removed == 0 {
        return "Nothing already synced changed.".to_string();
    }
    format!(
        "Of what was already synced: {} now count{}, {} changed, {} no longer count.",
        c.imported,
        if c.imported == 1 { "s" } else { "" },
        c.updated,
        c.removed
    )
}

/// A time in the server's timezone, as the other replies show times.
fn when(t: Option<chrono::DateTime<chrono::Utc>>, tz: chrono_tz::Tz) -> String {
    t.map_or_else(|| "never".to_string(), |t| t.with_timezone(&tz).format("%a %-d %b %H:%M").to_string())
}

/// The status for Discord: no URL (it may name the company) and never the token.
fn status_text(s: &CrmStatus, tz: chrono_tz::Tz) -> String {
    let Some(provider) = &s.provider else {
        return "This server is not connected to a CRM. An operator connects it with \
                `rally crm connect --guild ID --provider pipedrive` (README: Connect your CRM)."
            .to_string();
    };
    let mut out = format!(
        "**{provider}** · last sync {} · last full sync {}\n",
        when(s.last_sync_at, tz),
        when(s.last_full_at, tz)
    );
    if let Some(e) = &s.last_error {
        out.push_str(&format!(
            "⚠️ The last sync failed {}: {}\n",
            when(s.last_error_at, tz),
            super::format::clip(e, 300)
        ));
    }
    out.push_str(&format!(
        "Records: **{}** counted, **{}** waiting, **{}** ignored · since connecting {} imported, {} updated, {} removed\n",
        s.counted, s.held, s.ignored, s.imported, s.updated, s.removed
    ));
    for (reason, n) in &s.held_reasons {
        out.push_str(&format!("• waiting {n}: {reason}\n"));
    }
    if s.linked_users < s.users {
        out.push_str(&format!("Users: {} of {} linked (`/crm link`)\n", s.linked_users, s.users));
    }
    if !s.unmapped_types.is_empty() {
        let list: Vec<String> = s.unmapped_types.iter().take(10).map(|(_, name, n)| format!("{name} ({n})")).collect();
        out.push_str(&format!("Unmapped types, ignored: {} (`/crm map`)\n", list.join(", ")));
    }
    out.push_str(&format!(
        "From Pipedrive: {} · webhooks: {} · API calls: {} ({} tokens)",
        if s.crm_fed.is_empty() { "nothing".to_string() } else { s.crm_fed.join(", ") },
        if s.webhooks == 0 { "none, polling".to_string() } else { s.webhooks.to_string() },
        s.api_calls,
        s.token_cost
    ));
    super::format::clip(&out, 1900)
}
