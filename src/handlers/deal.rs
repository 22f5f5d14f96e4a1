//! `/deal open|move|won|lost|list|stages|stage-set|stage-remove`: the deal pipeline. Everyone works
//! their own deals; listing others' deals and changing the stages is for managers.

use super::format::{clip, fit_lines, table};
use super::paging::Page;
use super::{CommandCall, Ctx, Embed, Message, Response, private};
use crate::app::deals::DealRecord;
use crate::app::deals::{CloseDealRequest, DealFilter, OpenDealRequest};
use crate::app::{AppError, AppResult};
use crate::domain::activity::Name;
use crate::domain::money::Money;
use crate::domain::pipeline::{DealName, LostReason, Outcome, Pipeline, StageName, parse_close_date};

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    match call.sub.as_deref() {
        Some("open") => open(ctx, call).await,
        Some("move") => move_deal(ctx, call).await,
        Some("won") => close(ctx, call, Outcome::Won).await,
        Some("lost") => close(ctx, call, Outcome::Lost).await,
        Some("list") => list(ctx, call).await,
        Some("stages") => stages(ctx).await,
        Some("stage-set") => stage_set(ctx, call).await,
        Some("stage-remove") => stage_remove(ctx, call).await,
        _ => Err(AppError::User("use /deal open, move, won, lost, list, stages, stage-set or stage-remove".into())),
    }
}

fn present<'a>(call: &'a CommandCall, name: &str) -> Option<&'a str> {
    call.string(name).map(str::trim).filter(|s| !s.is_empty())
}

/// The requester's display name, or a stand-in when Discord sent none usable.
fn user_name(ctx: &Ctx<'_>) -> AppResult<Name> {
    Ok(Name::parse(&ctx.inv.user_name, "name").or_else(|_| Name::parse(&format!("user {}", ctx.inv.user), "name"))?)
}

fn idem_key(ctx: &Ctx<'_>) -> String {
    format!("interaction:{}", ctx.inv.id)
}

fn stage_of(pipeline: &Pipeline, name: &str) -> String {
    match pipeline.get(name) {
        Some(s) => format!("**{}** ({} %)", s.name, s.probability),
        None => format!("**{name}**"),
    }
}

async fn open(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let name = DealName::parse(call.required_string("name")?)?;
    let money = ctx.settings().await?.money();
    let value = money.parse(call.required_string("value")?)?;
    let stage = present(call, "stage").map(StageName::parse).transpose()?;
    let close = present(call, "close").map(parse_close_date).transpose()?;
    let req = OpenDealRequest {
        guild: ctx.inv.guild,
        user: ctx.inv.user,
        user_name: user_name(ctx)?,
        name,
        value,
        stage,
        close,
        idem_key: idem_key(ctx),
    };
    let opened = ctx.app.open_deal(req, ctx.now).await?;
    let pipeline = ctx.app.pipeline(ctx.inv.guild).await?;
    let d = &opened.deal;
    let mut text = format!(
        "✅ {}Opened **{}** · {} · {}",
        if opened.duplicate { "Already " } else { "" },
        clip(&d.name, 100),
        money.format(d.value),
        stage_of(&pipeline, &d.stage)
    );
    if let Some(close) = d.expected_close {
        text.push_str(&format!(" · expected to close {close}"));
    }
    text.push_str("\nMove it with `/deal move`, close it with `/deal won` or `/deal lost`.");
    Ok(private(text))
}

async fn move_deal(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let name = DealName::parse(call.required_string("deal")?)?;
    let stage = StageName::parse(call.required_string("stage")?)?;
    let money = ctx.settings().await?.money();
    let (moved, from) = ctx.app.move_deal(ctx.inv.guild, ctx.inv.user, name, stage, ctx.now).await?;
    let pipeline = ctx.app.pipeline(ctx.inv.guild).await?;
    let d = &moved.deal;
    if moved.duplicate {
        return Ok(private(format!("**{}** is in {} already.", clip(&d.name, 100), stage_of(&pipeline, &d.stage))));
    }
    Ok(private(format!(
        "➡️ **{}** moved from **{}** to {} · {}",
        clip(&d.name, 100),
        from,
        stage_of(&pipeline, &d.stage),
        money.format(d.value)
    )))
}

async fn close(ctx: &Ctx<'_>, call: &CommandCall, outcome: Outcome) -> AppResult<Response> {
    let name = DealName::parse(call.required_string("deal")?)?;
    let money = ctx.settings().await?.money();
    let value = match outcome {
        Outcome::Won => present(call, "value").map(|v| money.parse(v)).transpose()?,
        Outcome::Lost => None,
    };
    let reason = present(call, "reason").map(LostReason::parse).transpose()?;
    let req = CloseDealRequest {
        guild: ctx.inv.guild,
        user: ctx.inv.user,
        user_name: user_name(ctx)?,
        name,
        outcome,
        value,
        reason,
        idem_key: idem_key(ctx),
    };
    let closed = ctx.app.close_deal(req, ctx.now).await?;
    let d = &closed.deal;
    let again = if closed.duplicate { "Already " } else { "" };
    let days = d.closed_at.map_or(0, |c| (c - d.opened_at).num_days());
    let text = match outcome {
        Outcome::Won => format!(
            "🏆 {again}Won **{}** at {} after {days} day{} · logged as a `won` activity.",
            clip(&d.name, 100),
            money.format(d.value),
            if days == 1 { "" } else { "s" }
        ),
        Outcome::Lost => format!(
            "{again}Marked **{}** lost after {days} day{}{}.",
            clip(&d.name, 100),
            if days == 1 { "" } else { "s" },
            d.lost_reason.as_deref().map(|r| format!(" · {}", clip(r, 200))).unwrap_or_default()
        ),
    };
    Ok(private(text))
}

/// Characters of an embed description: 4096, less the code fence.
const TABLE_BUDGET: usize = 4096 - 8;
/// Deals per page of `/deal list`.
const LIST_PAGE: usize = 20;

async fn list(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let user = call.user("user");
    let team = present(call, "team");
    if user.is_some() && team.is_some() {
        return Err(AppError::User("list a rep's deals or a team's, not both".into()));
    }
    if team.is_some() || user.is_some_and(|u| u != ctx.inv.user.get()) {
        ctx.require_manager()
            .await
            .map_err(|_| AppError::User("only managers can list other reps' deals; `/deal list` shows yours".into()))?;
    }
    let user = match (user, team) {
        (_, Some(_)) => None,
        (Some(u), None) => Some(crate::domain::activity::Snowflake::new(u)?),
        (None, None) => Some(ctx.inv.user),
    };
    let stage = present(call, "stage").map(StageName::parse).transpose()?;
    let filter = DealFilter { user, team: team.map(str::to_string), stage };
    let mut page = None;
    let listed = ctx
        .app
        .list_deals(ctx.inv.guild, filter, |total| {
            let p = Page::of(call, total, LIST_PAGE)?;
            let rows = p.rows.clone();
            page = Some(p);
            Ok(rows)
        })
        .await?;
    let page = page.unwrap_or(Page { number: 1, pages: 1, rows: 0..0 });
    let whose = match (user, team) {
        (Some(u), _) if u == ctx.inv.user => "Your".to_string(),
        (Some(u), _) => format!("{}'s", listed.deals.first().map_or(format!("<@{u}>"), |d| clip(&d.user_name, 40))),
        (None, Some(t)) => format!("Team {}", clip(t, 60)),
        (None, None) => "All".to_string(),
    };
    let what = match (&listed.open, present(call, "stage")) {
        (true, Some(s)) => format!("open deals in {}", clip(&s.to_lowercase(), 32)),
        (true, None) => "open deals".to_string(),
        (false, Some(s)) => format!("{} deals", clip(&s.to_lowercase(), 32)),
        (false, None) => "deals".to_string(),
    };
    let title = format!("{whose} {what}");
    if listed.deals.is_empty() {
        let hint = if user == Some(ctx.inv.user) && listed.open { " Open one with `/deal open`." } else { "" };
        return Ok(private(format!("{title}: none.{hint}")));
    }
    let show_owner = user.is_none();
    let money = ctx.settings().await?.money();
    let mut rows = vec![{
        let mut h = vec!["Deal".to_string(), "Stage".into(), format!("Value {}", money.currency)];
        h.push(if listed.open { "Close".into() } else { "Closed".into() });
        if show_owner {
            h.push("Rep".into());
        }
        h
    }];
    for d in &listed.deals {
        rows.push(row(d, listed.open, show_owner, money));
    }
    let lines = table(&rows, &[0, 1, 4]);
    let (body, _) = fit_lines(&lines, 1, TABLE_BUDGET, " (all of them: /export)");
    let t = listed.totals;
    let count = format!("{} deal{}", t.count, if t.count == 1 { "" } else { "s" });
    let mut footer = if listed.open {
        format!("{count} · {} in total · {} weighted by stage", money.format(t.value), money.format(t.weighted))
    } else {
        format!("{count} · {} in total", money.format(t.value))
    };
    if let Some(label) = page.label() {
        footer = format!("{label} · ◀ ▶ or the page option · {footer}");
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(clip(&title, 256)),
            description: Some(format!("```\n{body}\n```")),
            footer: Some(footer),
            color: Some(0x16a085),
            ..Embed::default()
        }],
        buttons: page.buttons(call, ctx.inv.user.get()),
        ephemeral: true,
        ..Message::default()
    }))
}

fn row(d: &DealRecord, open: bool, show_owner: bool, money: Money) -> Vec<String> {
    let when = if open {
        d.expected_close.map_or("-".to_string(), |c| c.to_string())
    } else {
        d.closed_at.map_or("-".to_string(), |c| c.format("%Y-%m-%d").to_string())
    };
    let mut r = vec![clip(&d.name, 24), clip(&d.stage, 14), money.number(d.value), when];
    if show_owner {
        r.push(clip(&d.user_name, 16));
    }
    r
}

fn describe(pipeline: &Pipeline) -> String {
    pipeline
        .stages()
        .iter()
        .map(|s| {
            let kind = match s.outcome {
                Some(o) => format!(" · closes as {}", o.as_str()),
                None => String::new(),
            };
            format!("{}. **{}** · {} %{kind}", s.position, s.name, s.probability)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn pipeline_reply(title: &str, pipeline: &Pipeline) -> Response {
    Response::Message(Message {
        embeds: vec![Embed {
            title: Some(title.to_string()),
            description: Some(describe(pipeline)),
            footer: Some("The probability weights each open deal in the forecast.".into()),
            color: Some(0x16a085),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    })
}

async fn stages(ctx: &Ctx<'_>) -> AppResult<Response> {
    let pipeline = ctx.app.pipeline(ctx.inv.guild).await?;
    Ok(pipeline_reply("Pipeline stages", &pipeline))
}

async fn stage_set(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let name = call.required_string("stage")?;
    let probability =
        call.integer("probability").ok_or_else(|| AppError::User("give the probability in percent, 0-100".into()))?;
    let position = call.integer("position");
    let pipeline = ctx.app.set_stage(ctx.inv.guild, name, probability, position, ctx.actor(), ctx.now).await?;
    Ok(pipeline_reply("✅ Stage saved", &pipeline))
}

async fn stage_remove(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let name = call.required_string("stage")?;
    let pipeline = ctx.app.remove_stage(ctx.inv.guild, name, ctx.actor(), ctx.now).await?;
    Ok(pipeline_reply("✅ Stage removed", &pipeline))
}
