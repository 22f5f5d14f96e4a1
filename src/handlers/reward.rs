//! `/reward add|list|remove`: roles members hold while their figure in the current week, month,
//! quarter or year reaches a threshold. Adding and removing are for managers; anyone may list them
//! (reps want to know how to earn one). Who holds what is decided in `app::rewards`.

use super::format::fit_lines;
use super::{ADMINISTRATOR, CommandCall, Ctx, Embed, MANAGE_ROLES, Message, Response, private};
use crate::app::rewards::{Added, Reward, RewardRequest, RoleCheck};
use crate::app::{AppError, AppResult};
use crate::domain::goals::GoalMetric;
use crate::domain::money::Money;

/// Routes `/reward add|list|remove`.
pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    match call.sub.as_deref() {
        Some("add") => add(ctx, call).await,
        Some("list") => list(ctx).await,
        Some("remove") => remove(ctx, call).await,
        _ => Err(AppError::User("use /reward add, /reward list or /reward remove".into())),
    }
}

/// `5 deals won in a month`, `€12,500.00 in revenue in a quarter`.
pub fn describe(reward: &Reward, money: Money) -> String {
    let Some(rule) = &reward.rule else {
        return format!(
            "{} ≥ {} per {} (no longer readable)",
            reward.row.metric, reward.row.threshold, reward.row.period
        );
    };
    let t = rule.threshold;
    let figure = match &rule.metric {
        GoalMetric::Revenue => format!("{} in revenue", money.format(t)),
        GoalMetric::Points => format!("{t} pts"),
        GoalMetric::DealsWon => format!("{t} deal{} won", if t == 1 { "" } else { "s" }),
        GoalMetric::Kind(kind) => format!("{t} × {kind}"),
    };
    format!("{figure} in a {}", rule.period)
}

async fn add(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let role =
        call.role("role").ok_or_else(|| AppError::User("choose the reward role with the `role` option".into()))?;
    let req = RewardRequest {
        role,
        metric: call.required_string("metric")?.to_string(),
        period: call.required_string("period")?.to_string(),
        at_least: call.required_string("at-least")?.to_string(),
        channel: ctx.inv.channel,
        manage_roles: ctx.inv.app_permissions.map(|p| p & (MANAGE_ROLES | ADMINISTRATOR) != 0),
    };
    let (reward, added, check) = ctx.app.add_reward(ctx.inv.guild, req, ctx.actor(), ctx.now).await?;
    let money = ctx.settings().await?.money();
    let mut text = format!(
        "🏅 Reward #{}{}: members who reach **{}** hold <@&{role}>; it is taken back when a new {} starts and \
         they are below it (or an undo takes them below). Members who reach it already get it in a moment.",
        reward.row.id,
        if added == Added::Resumed { " is back on" } else { "" },
        describe(&reward, money),
        reward.rule.as_ref().map_or("period", |r| r.period.as_str()),
    );
    if let RoleCheck::Unchecked(why) = check {
        text.push_str(&format!(
            "\n⚠️ I could not check that Discord will let me give <@&{role}> ({why}): make sure I have the \
             **Manage Roles** permission and that my role is above <@&{role}> in Server Settings → Roles."
        ));
    }
    Ok(private(text))
}

async fn list(ctx: &Ctx<'_>) -> AppResult<Response> {
    let rewards = ctx.app.rewards(ctx.inv.guild).await?;
    if rewards.is_empty() {
        return Ok(private(
            "No reward roles yet. A manager adds one with `/reward add role:@Closer metric:won period:month at-least:5`.",
        ));
    }
    let money = ctx.settings().await?.money();
    let lines: Vec<String> = rewards
        .iter()
        .map(|r| {
            let holders = r.row.holders;
            let mut line = format!(
                "**#{}** <@&{}> · {} · {} member{} hold{} it now",
                r.row.id,
                r.row.role_id,
                describe(r, money),
                holders,
                if holders == 1 { "" } else { "s" },
                if holders == 1 { "s" } else { "" },
            );
            if r.row.stopped_at.is_some() {
                let error = r.row.last_error.as_deref().unwrap_or("no reason given");
                let fix = if error.starts_with("404") {
                    format!("The role is gone from the server: remove this reward with /reward remove id:{}.", r.row.id)
                } else {
                    format!(
                        "Give me **Manage Roles** and drag my role above <@&{}> in Server Settings → Roles, then \
                         run /reward add with this role again.",
                        r.row.role_id
                    )
                };
                line.push_str(&format!(
                    "\n  ⚠️ stopped: Discord refused a role change ({}). {fix}",
                    super::clip(error, 120)
                ));
            }
            line
        })
        .collect();
    let (description, _) = fit_lines(&lines, 0, 3900, "… and more");
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some("🏅 Reward roles".into()),
            description: Some(description),
            footer: Some(
                "Given when the threshold is reached in the current period; taken back when a new one starts below it"
                    .into(),
            ),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

async fn remove(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let id = call.integer("id").ok_or_else(|| AppError::User("give the reward's number (see /reward list)".into()))?;
    let reward = ctx.app.remove_reward(ctx.inv.guild, id, ctx.actor(), ctx.now).await?;
    Ok(private(format!(
        "Reward #{} removed. I'm taking <@&{}> back from the {} member{} I gave it to; anyone who got it \
         elsewhere keeps it.",
        reward.row.id,
        reward.row.role_id,
        reward.row.holders,
        if reward.row.holders == 1 { "" } else { "s" }
    )))
}
