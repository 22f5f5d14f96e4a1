//! `/schedule add|list|pause|resume|remove` (managers): posts at set local times, delivered
//! exactly once by the scheduler.

use serde_json::json;

use super::format::{clip, fit_lines};
use super::{CommandCall, Ctx, Embed, Field, Message, Response, private};
use crate::app::schedules::{NewSchedule, ScheduleChange};
use crate::app::{AppError, AppResult};
use crate::domain::activity::unknown_metric;
use crate::domain::period::PeriodSpec;
use crate::domain::schedule::When;

/// What a schedule can post.
const WHATS: &[&str] = &["leaderboard", "team-summary", "competition", "nudges", "hygiene"];

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let guild = ctx.inv.guild;
    let id =
        || call.integer("id").ok_or_else(|| AppError::User("give the schedule's number (see /schedule list)".into()));
    let change = match call.sub.as_deref() {
        Some("add") => return add(ctx, call).await,
        Some("list") => return list(ctx).await,
        Some("pause") => ScheduleChange::Pause,
        Some("resume") => ScheduleChange::Resume,
        Some("remove") => ScheduleChange::Remove,
        _ => return Err(AppError::User("use /schedule add, list, pause, resume or remove".into())),
    };
    let row = ctx.app.change_schedule(guild, id()?, change, ctx.actor(), ctx.now).await?;
    let verb = match change {
        ScheduleChange::Pause => "paused",
        ScheduleChange::Resume => "resumed",
        ScheduleChange::Remove => "removed",
    };
    Ok(private(format!("Schedule #{} ({} at {} in <#{}>) {verb}.", row.id, row.what, row.at, row.channel_id)))
}

async fn add(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let what = call.required_string("what")?.trim().to_string();
    if !WHATS.contains(&what.as_str()) {
        return Err(AppError::User(format!("rally can schedule one of: {}", WHATS.join(", "))));
    }
    let channel = call.channel("channel").ok_or_else(|| AppError::User("choose the channel to post in".into()))?;
    let when = When::parse(call.required_string("at")?)?;
    let mut params = serde_json::Map::new();
    if let Some(p) = call.string("period").map(str::trim).filter(|p| !p.is_empty()) {
        params.insert("period".into(), json!(PeriodSpec::parse(p)?.to_string()));
    }
    for key in ["metric", "scope", "team", "competition", "to"] {
        if let Some(v) = call.string(key).map(str::trim).filter(|v| !v.is_empty()) {
            params.insert(key.into(), json!(v));
        }
    }
    if let Some(threshold) = call.integer("threshold") {
        if !(1..=100).contains(&threshold) {
            return Err(AppError::User("the nudge threshold is 1 to 100 points of attainment".into()));
        }
        params.insert("threshold".into(), json!(threshold));
    }
    if let Some(to) = params.get("to").and_then(|t| t.as_str())
        && to != "dm"
        && to != "team-channel"
    {
        return Err(AppError::User(format!("`to` is dm or team-channel, not `{}`", clip(to, 32))));
    }
    if let Some(team) = params.get("team").and_then(|t| t.as_str()) {
        ctx.app.team(ctx.inv.guild, team).await?;
    }
    if what == "team-summary" && !params.contains_key("team") {
        return Err(AppError::User("a team summary needs the `team` option".into()));
    }
    if what == "competition" {
        // Stored by its exact name, so that the schedule follows this competition.
        let name = params.get("competition").and_then(|c| c.as_str());
        let comp = ctx.app.competition(ctx.inv.guild, name, ctx.now).await?;
        params.insert("competition".into(), json!(comp.row.name));
    }
    // Refuse now what could never post, rather than fail at 9 tomorrow.
    if let Some(metric) = params.get("metric").and_then(|m| m.as_str())
        && !super::leaderboard::BUILT_IN.contains(&metric)
    {
        let kinds = ctx.app.kinds(ctx.inv.guild).await?;
        if !kinds.iter().any(|k| k.name.as_str() == metric) {
            return Err(AppError::User(unknown_metric(metric, super::leaderboard::BUILT_IN, &kinds)));
        }
    }
    let row = ctx
        .app
        .add_schedule(
            ctx.inv.guild,
            NewSchedule { what, channel, at: when.to_string(), params: serde_json::Value::Object(params) },
            ctx.actor(),
            ctx.now,
        )
        .await?;
    let settings = ctx.settings().await?;
    let next = when.next_after(ctx.now, settings.timezone, settings.working_days);
    Ok(private(format!(
        "🗓️ Schedule #{}: {} in <#{}> at {} ({}). Next post: {}.",
        row.id,
        row.what,
        row.channel_id,
        row.at,
        settings.timezone.name(),
        next.map_or("never".into(), |n| n.with_timezone(&settings.timezone).format("%a %d %b %H:%M").to_string())
    )))
}

async fn list(ctx: &Ctx<'_>) -> AppResult<Response> {
    let settings = ctx.settings().await?;
    let rows = ctx.app.schedules(Some(ctx.inv.guild)).await?;
    if rows.is_empty() {
        return Ok(private(
            "No schedules yet. Try `/schedule add what:leaderboard channel:#sales at:\"weekdays 09:00\"`.",
        ));
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let next = When::parse(&r.at)
                .ok()
                .and_then(|w| w.next_after(ctx.now.max(r.cursor), settings.timezone, settings.working_days))
                .map(|n| n.with_timezone(&settings.timezone).format("%a %d %b %H:%M").to_string());
            let state = if r.paused {
                "paused".to_string()
            } else {
                format!("next {}", next.unwrap_or_else(|| "never".into()))
            };
            let params = r
                .params
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| format!("{k}:{}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            clip(&format!("**#{}** {} in <#{}> · {} · {state} {params}", r.id, r.what, r.channel_id, r.at), 300)
        })
        .collect();
    let enabled = ctx.app.leaderboards_enabled(ctx.inv.guild).await?;
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some("Schedules".into()),
            description: Some(fit_lines(&lines, 0, 4000, "").0),
            fields: vec![Field { name: "Timezone".into(), value: settings.timezone.name().to_string(), inline: true }]
                .into_iter()
                .chain((!enabled).then(|| Field {
                    name: "Leaderboards".into(),
                    value: "turned off for this server".into(),
                    inline: true,
                }))
                .collect(),
            color: Some(0x7f8c8d),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}
