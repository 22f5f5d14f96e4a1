//! `/compete create|show|end|list`: competitions between teams or reps. Also renders standings for
//! `what:competition` schedules and the winner announcement the scheduler posts when a season ends.

use chrono::{DateTime, Utc};

use super::format::{clip, fit_lines};
use super::paging::Page;
use super::{ADMINISTRATOR, Attachment, CommandCall, Ctx, Embed, Field, MANAGE_ROLES, Message, Response, private};
use crate::app::competitions::{Board, Competition, CompetitionRequest};
use crate::app::{App, AppError, AppResult};
use crate::domain::competition::{Scoring, Standing};
use crate::domain::goals::GoalMetric;
use crate::domain::money::Money;
use crate::domain::settings::GuildSettings;

const CHART: &str = "standings.png";
/// Rows per page of standings.
const TOP: usize = 20;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    match call.sub.as_deref() {
        Some("create") => create(ctx, call).await,
        Some("show") => {
            let comp = ctx.app.competition(ctx.inv.guild, call.string("name"), ctx.now).await?;
            let board = ctx.app.current_board(&comp, ctx.now).await?;
            let settings = ctx.settings().await?;
            let page = Page::of(call, board.standings.len(), TOP)?;
            // Standings are a public reply: under money:managers nobody's amounts show in them.
            let amounts = ctx.sees_others_money(true).await?;
            let mut message = standings_message(&comp, &board, &settings, &page, Some(ctx.inv.user.get()), amounts);
            if super::paging::pressed(call) {
                // The chart is on the message already; a turned page does not upload it again.
                message.attachments.clear();
                message.embeds.iter_mut().for_each(|e| e.image = None);
            }
            message.buttons = page.buttons(call, ctx.inv.user.get());
            Ok(Response::Message(message))
        }
        Some("end") => {
            ctx.require_manager().await?;
            let comp = ctx.app.end_competition(ctx.inv.guild, call.string("name"), ctx.actor(), ctx.now).await?;
            Ok(private(format!(
                "🏁 **{}** has ended. The final standings and winners will be posted in <#{}> in a moment.",
                comp.row.name,
                comp.row.channel_id.unwrap_or_default()
            )))
        }
        Some("list") => list(ctx).await,
        _ => Err(AppError::User("use /compete create, show, end or list".into())),
    }
}

async fn create(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let reward_role = call.role("reward-role");
    // Giving a role needs Manage Roles; say so now rather than fail quietly when the season ends.
    if reward_role.is_some()
        && let Some(perms) = ctx.inv.app_permissions
        && perms & (MANAGE_ROLES | ADMINISTRATOR) == 0
    {
        return Err(AppError::User(
            "I can't hand out a reward role: I need the **Manage Roles** permission (and my role must be above \
             the reward role). Grant it and try again, or create the competition without a reward role."
                .into(),
        ));
    }
    let req = CompetitionRequest {
        name: call.required_string("name")?.to_string(),
        metric: call.required_string("metric")?.to_string(),
        between: call.required_string("between")?.to_string(),
        scoring: call.required_string("scoring")?.to_string(),
        start: call.string("start").map(str::to_string),
        end: call.string("end").map(str::to_string),
        repeat: call.string("repeat").map(str::to_string),
        teams: call.string("teams").map(str::to_string),
        channel_id: call.channel("channel").or(ctx.inv.channel),
        reward_role,
    };
    let comp = ctx.app.create_competition(ctx.inv.guild, req, ctx.actor(), ctx.now).await?;
    let settings = ctx.settings().await?;
    let season = comp.seasons.season(0).map(|s| window_text(s.first_day, s.end_day)).unwrap_or_default();
    let repeat = match comp.row.repeat.as_str() {
        "weekly" => ", then every week",
        "monthly" => ", then every month",
        _ => "",
    };
    let mut text = format!(
        "🏁 **{}** is on: {} by {} ({}), {season}{repeat} ({}). Standings: `/compete show`; winners are announced in <#{}>.",
        clip(&comp.row.name, 60),
        comp.contest_noun(),
        comp.metric.noun(),
        comp.scoring.describe(),
        settings.timezone.name(),
        comp.row.channel_id.unwrap_or_default()
    );
    if let Some(role) = comp.row.reward_role {
        let until = if comp.row.repeat == "none" { "" } else { " until the next season ends" };
        text.push_str(&format!(" Winners get <@&{role}>{until}."));
        if ctx.inv.app_permissions.is_none() {
            text.push_str(" (I'll need Manage Roles, and my role above it.)");
        }
    }
    Ok(Response::Message(Message { content: Some(text), ephemeral: false, ..Message::default() }))
}

async fn list(ctx: &Ctx<'_>) -> AppResult<Response> {
    let comps = ctx.app.competitions(ctx.inv.guild, ctx.now).await?;
    if comps.is_empty() {
        return Ok(private("No competitions yet. A manager can start one with `/compete create`."));
    }
    let lines: Vec<String> = comps
        .iter()
        .map(|c| {
            let state = match c.row.ended_at {
                Some(e) => format!("ended {}", e.format("%d %b")),
                None => match c.seasons.repeat {
                    crate::domain::competition::Repeat::None => "running".into(),
                    r => format!("running, {} seasons", r.as_str()),
                },
            };
            clip(
                &format!(
                    "**{}** · {} by {} ({}) · {} · {state}",
                    c.row.name,
                    c.contest_noun(),
                    c.metric.noun(),
                    c.scoring.describe(),
                    window_text(c.row.first_day, c.row.last_day.succ_opt().unwrap_or(c.row.last_day))
                ),
                300,
            )
        })
        .collect();
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some("Competitions".into()),
            description: Some(fit_lines(&lines, 0, 4000, "").0),
            color: Some(0xe67e22),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

impl Competition {
    fn contest_noun(&self) -> &'static str {
        match self.contest {
            crate::domain::competition::Contest::Teams => "teams",
            crate::domain::competition::Contest::Reps => "reps",
        }
    }
}

/// `Mon 23 Nov – Fri 27 Nov` for local days [first, end).
fn window_text(first: chrono::NaiveDate, end: chrono::NaiveDate) -> String {
    let last = end.pred_opt().unwrap_or(end);
    if last == first {
        return first.format("%a %d %b %Y").to_string();
    }
    format!("{} – {}", first.format("%a %d %b"), last.format("%a %d %b %Y"))
}

/// A score in words: `**30**` points, `**12.5** per active member`, `**85%**`. Without `amounts`
/// a money score is left out (the rank says it) and a percent of goal keeps only the percent.
fn show_score(comp: &Competition, s: &Standing, money: Money, amounts: bool) -> Option<String> {
    let metric = &comp.metric;
    if !amounts && metric.is_money() {
        return match (comp.scoring, s.score) {
            (_, None) => Some("no goal set".into()),
            (Scoring::PercentOfGoal, Some(v)) => Some(format!("**{:.0}%** of goal", v.floor())),
            (Scoring::Total | Scoring::PerCapita, Some(_)) => None,
        };
    }
    Some(match (comp.scoring, s.score) {
        (_, None) => "no goal set".into(),
        (Scoring::Total, Some(_)) => format!("**{}**", metric.show(s.entry.total, money)),
        (Scoring::PerCapita, Some(v)) => format!(
            "**{}** per active member ({} · {} active)",
            metric.show_f64(v, money),
            metric.show(s.entry.total, money),
            s.entry.active
        ),
        (Scoring::PercentOfGoal, Some(v)) => format!(
            "**{:.0}%** of goal ({} of {})",
            v.floor(),
            metric.show(s.entry.total, money),
            metric.show_f64(s.entry.target.unwrap_or_default(), money)
        ),
    })
}

/// Standings as a public embed with a bar chart: for `/compete show`, `what:competition`
/// schedules and the announcement.
/// `page` picks the rows shown; a `viewer` taking part in a contest between reps keeps their own
/// row in sight on every page. Without `amounts` (money privacy), a competition on money shows
/// ranks only, or percents of goal, and charts only percents: bars of money would give the
/// amounts away on their axis.
pub fn standings_message(
    comp: &Competition,
    board: &Board,
    settings: &GuildSettings,
    page: &Page,
    viewer: Option<u64>,
    amounts: bool,
) -> Message {
    let hidden = !amounts && comp.metric.is_money();
    let mine = viewer
        .filter(|_| comp.contest == crate::domain::competition::Contest::Reps)
        .and_then(|v| board.standings.iter().position(|s| s.entry.id == v))
        .filter(|i| !page.rows.contains(i));
    let shown: Vec<usize> = match mine {
        Some(i) if i < page.rows.start => std::iter::once(i).chain(page.rows.clone()).collect(),
        Some(i) => page.rows.clone().chain(std::iter::once(i)).collect(),
        None => page.rows.clone().collect(),
    };
    let lines: Vec<String> = shown
        .iter()
        .map(|&i| &board.standings[i])
        .map(|s| {
            let medal = match s.rank {
                Some(1) => "🥇",
                Some(2) => "🥈",
                Some(3) => "🥉",
                _ => "▫️",
            };
            let rank = s.rank.map_or("–".to_string(), |r| format!("#{r}"));
            match show_score(comp, s, settings.money(), amounts) {
                Some(score) => format!("{medal} `{rank:<4}` {} — {score}", clip(&s.entry.name, 40)),
                None => format!("{medal} `{rank:<4}` {}", clip(&s.entry.name, 40)),
            }
        })
        .collect();
    let mut description = if lines.is_empty() {
        "Nobody is taking part yet: add reps to teams with `/team add`.".to_string()
    } else {
        fit_lines(&lines, 0, 3900, "").0
    };
    if let Some(label) = page.label() {
        // Posts nobody asked for carry no buttons; the command reaches the rest.
        let how = if viewer.is_some() { "◀ ▶ or the page option" } else { "the rest with `/compete show page:`" };
        description.push_str(&format!("\n{label} · {how}"));
    }
    let tz = settings.timezone;
    let ends = board.ends_at.with_timezone(&tz).format("%a %d %b %H:%M").to_string();
    let state = if board.finished {
        format!("ended {ends}")
    } else {
        format!("{} (ends {ends})", super::format::time_left(board.ends_at - board.as_of))
    };
    let season = if comp.seasons.repeat == crate::domain::competition::Repeat::None {
        String::new()
    } else {
        format!(" · season {}", board.season.index + 1)
    };
    let title = clip(
        &format!("🏁 {}{season} · {}", comp.row.name, window_text(board.window.first_day, board.window.end_day)),
        256,
    );
    let mut fields = vec![
        Field {
            name: "Scoring".into(),
            value: format!("{} by {}, {}", comp.contest_noun(), comp.metric.noun(), comp.scoring.describe()),
            inline: true,
        },
        Field { name: if board.finished { "Final" } else { "Time left" }.into(), value: state, inline: true },
    ];
    if let Some(role) = comp.row.reward_role {
        fields.push(Field { name: "Reward".into(), value: format!("<@&{role}>"), inline: true });
    }
    let mut attachments = Vec::new();
    let mut image = None;
    let bars: Vec<(String, f64)> = board
        .standings
        .iter()
        .filter_map(|s| s.score.map(|v| (s.entry.name.clone(), scale(comp, v, settings.money()))))
        .take(TOP)
        .collect();
    let money_bars = hidden && comp.scoring != Scoring::PercentOfGoal;
    if !bars.is_empty() && !money_bars {
        match crate::charts::bars(&format!("{} · {}", comp.row.name, comp.scoring.describe()), &bars) {
            Ok(png) => {
                image = Some(CHART.to_string());
                attachments.push(Attachment { filename: CHART.into(), data: png, description: Some(title.clone()) });
            }
            Err(e) => tracing::error!(error = %e, "standings chart"),
        }
    }
    Message {
        embeds: vec![Embed {
            title: Some(title),
            description: Some(description),
            fields,
            color: Some(0xe67e22),
            image,
            footer: super::with_note(None, hidden.then_some(super::MONEY_PRIVATE)),
        }],
        attachments,
        ephemeral: false,
        ..Message::default()
    }
}

/// The first page of standings, for posts nobody asked for: the scheduler's and announcements.
fn first_page(board: &Board) -> Page {
    let pages = board.standings.len().div_ceil(TOP).max(1);
    Page { number: 1, pages, rows: 0..board.standings.len().min(TOP) }
}

/// Money is charted in major units; everything else as scored.
fn scale(comp: &Competition, v: f64, money: Money) -> f64 {
    if comp.metric == GoalMetric::Revenue && comp.scoring != Scoring::PercentOfGoal { money.to_major(v) } else { v }
}

/// The winner announcement for a closed season: who won, the final standings and the reward.
pub fn announcement(comp: &Competition, board: &Board, settings: &GuildSettings) -> Message {
    let amounts = super::everyone_sees_money(settings);
    let mut message = standings_message(comp, board, settings, &first_page(board), None, amounts);
    let winners: Vec<String> = crate::domain::competition::winners(&board.standings)
        .iter()
        .map(|s| match comp.contest {
            crate::domain::competition::Contest::Teams => format!("**{}**", clip(&s.entry.name, 60)),
            crate::domain::competition::Contest::Reps => format!("<@{}>", s.entry.id),
        })
        .collect();
    let season = if comp.seasons.repeat == crate::domain::competition::Repeat::None {
        String::new()
    } else {
        format!(" season {}", board.season.index + 1)
    };
    let mut text = if winners.is_empty() {
        format!("🏁 **{}**{season} is over. No winner this time: nobody scored.", clip(&comp.row.name, 60))
    } else {
        format!("🏆 **{}**{season} is over. Congratulations to {}!", clip(&comp.row.name, 60), winners.join(", "))
    };
    if let Some(role) = comp.row.reward_role
        && !winners.is_empty()
    {
        let until = if comp.seasons.repeat == crate::domain::competition::Repeat::None || comp.row.ended_at.is_some() {
            ""
        } else {
            " until the next season ends"
        };
        text.push_str(&format!(" The winners hold <@&{role}>{until}."));
    }
    message.content = Some(clip(&text, 2000));
    message
}

/// The standings a `what:competition` schedule posts at `slot`; none when the competition has
/// ended more than a season ago.
pub(super) async fn scheduled(
    app: &App,
    guild: i64,
    params: &serde_json::Value,
    slot: DateTime<Utc>,
) -> AppResult<Option<Message>> {
    let guild = crate::domain::activity::Snowflake::new(guild as u64)?;
    let name = params.get("competition").and_then(|c| c.as_str());
    let comp = app.competition(guild, name, slot).await?;
    if comp.row.ended_at.is_some_and(|e| e < slot) {
        return Ok(None);
    }
    let board = app.current_board(&comp, slot).await?;
    let settings = app.settings(guild).await?;
    let amounts = super::everyone_sees_money(&settings);
    Ok(Some(standings_message(&comp, &board, &settings, &first_page(&board), None, amounts)))
}
