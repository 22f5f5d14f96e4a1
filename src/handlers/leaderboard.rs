//! `/leaderboard [metric] [period] [scope] [team]`: who leads, posted for everyone.

use super::format::{clip, fit_lines};
use super::paging::Page;
use super::{CommandCall, Ctx, Embed, Message, Response};
use crate::app::report::ReportNeeds;
use crate::app::{AppError, AppResult};
use crate::domain::activity::unknown_metric;
use crate::domain::kpi::competition_ranks;

const CHART: &str = "leaderboard.png";

/// Rows per page; the invoker's own place is added when it is on another page.
const TOP: usize = 15;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    if !ctx.app.store.leaderboards_enabled(ctx.inv.guild.as_i64()).await? {
        return Err(AppError::User(
            "leaderboards are turned off on this server; a manager can turn them on with \
             `/settings leaderboards on:true`"
                .into(),
        ));
    }
    board(ctx, call, false).await
}

/// The leaderboard; with `chart`, a PNG bar chart of the leaders is attached (scheduled posts).
pub(super) async fn board(ctx: &Ctx<'_>, call: &CommandCall, chart: bool) -> AppResult<Response> {
    let spec = call.period()?;
    let money = ctx.settings().await?.money();
    let metric =
        call.string("metric").map(|m| m.trim().to_lowercase()).filter(|m| !m.is_empty()).unwrap_or("points".into());
    let teams = call.string("scope").map(str::trim) == Some("teams");
    let team = call.string("team").map(str::trim).filter(|t| !t.is_empty());
    if metric != "points" && metric != "revenue" {
        let kinds = ctx.app.store.kinds(ctx.inv.guild.as_i64()).await?;
        if !kinds.iter().any(|k| k.name.as_str() == metric) {
            return Err(AppError::User(unknown_metric(&metric, &["points", "revenue"], &kinds)));
        }
    }
    // Points and revenue come from the kind-less rollups; a kind needs the per-kind ones.
    let needs = if metric == "points" || metric == "revenue" { ReportNeeds::POINTS } else { ReportNeeds::TOTALS };
    let report = ctx.app.report_with(ctx.inv.guild, &spec, team, needs, ctx.now).await?;
    let value = |points: i64, revenue: i64, counts: &std::collections::BTreeMap<String, i64>| match metric.as_str() {
        "points" => points,
        "revenue" => revenue,
        kind => counts.get(kind).copied().unwrap_or(0),
    };
    let mut entries: Vec<(String, i64, bool)> = if teams {
        report.teams.iter().map(|t| (t.name.clone(), value(t.points, t.revenue_cents, &t.counts), false)).collect()
    } else {
        let me = ctx.inv.user.to_string();
        report
            .members
            .iter()
            .map(|m| (m.user_name.clone(), value(m.points, m.revenue_cents, &m.counts), m.user_id == me))
            .collect()
    };
    // Ties: teams by name; reps keep the report's order (points, then user id).
    if teams {
        entries.sort_by_key(|e| e.0.to_lowercase());
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.1));
    // Only a score earns a place: a medal (or any rank) for nothing would tell the rest of the
    // board nothing and the middle of it something untrue. Those with none are counted below.
    let scored = entries.iter().take_while(|e| e.1 > 0).count();
    let (ranked, none) = entries.split_at(scored);
    let ranks = competition_ranks(&ranked.iter().map(|e| e.1).collect::<Vec<_>>());
    let show = |v: i64| if metric == "revenue" { money.format(v) } else { v.to_string() };
    let page = Page::of(call, ranked.len(), TOP)?;
    let row = |i: usize| {
        let (name, v, me) = &ranked[i];
        let medal = match ranks[i] {
            1 => "🥇",
            2 => "🥈",
            3 => "🥉",
            _ => "▫️",
        };
        let name = clip(name, 40);
        let name = if *me { format!("**{name}** (you)") } else { name };
        format!("{medal} `#{:<3}` {name} — **{}**", ranks[i], show(*v))
    };
    let mut lines: Vec<String> = page.rows.clone().map(row).collect();
    // The caller's own place stays in sight on every page.
    if let Some(i) = ranked.iter().position(|e| e.2)
        && !page.rows.contains(&i)
    {
        let you = format!("You: `#{}` — **{}**", ranks[i], show(ranked[i].1));
        if i < page.rows.start {
            lines.insert(0, format!("{you}\n⋯"));
        } else {
            lines.push(format!("⋯\n{you}"));
        }
    }
    if !none.is_empty() {
        let who = if teams { "team" } else { "rep" };
        let mut line = format!("{} more {who}{} with none yet", none.len(), if none.len() == 1 { "" } else { "s" });
        if none.iter().any(|e| e.2) {
            line.push_str(", you among them");
        }
        lines.push(line);
    }
    let description = if entries.is_empty() {
        "Nobody on the board yet. Log something with `/log`!".to_string()
    } else if ranked.is_empty() {
        format!("Nobody has any {metric} yet in this period. {}", lines.join(" "))
    } else {
        fit_lines(&lines, 0, 4000, "").0
    };
    let footer = page.label().map(|label| {
        format!(
            "{label} · ranks {}–{} of {} · ◀ ▶ or the page option",
            page.rows.start + 1,
            page.rows.end,
            ranked.len()
        )
    });
    let what = if teams { "Teams" } else { "Reps" };
    let title = clip(&format!("🏆 {what} by {metric} · {}", report.period.describe()), 256);
    let mut attachments = Vec::new();
    let mut image = None;
    if chart && !ranked.is_empty() {
        // Money is charted in major units; counts and points as they are.
        let revenue = metric == "revenue";
        let bars: Vec<(String, f64)> = ranked
            .iter()
            .map(|(name, v, _)| (name.clone(), if revenue { money.to_major(*v as f64) } else { *v as f64 }))
            .collect();
        let unit = if revenue { format!(" ({})", money.currency) } else { String::new() };
        match crate::charts::bars(&format!("{what} by {metric}{unit}"), &bars) {
            Ok(png) => {
                image = Some(CHART.to_string());
                attachments.push(super::Attachment {
                    filename: CHART.into(),
                    data: png,
                    description: Some(title.clone()),
                });
            }
            Err(e) => tracing::error!(error = %e, "leaderboard chart"),
        }
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(title),
            description: Some(description),
            color: Some(0xf1c40f),
            image,
            footer,
            ..Embed::default()
        }],
        buttons: page.buttons(call, ctx.inv.user.get()),
        attachments,
        ephemeral: false,
        ..Message::default()
    }))
}
