//! `/goal set|list|clear`: recurring targets. Anyone may set or clear their own (`scope:me`);
//! goals for a rep, a team or the server are for managers. Also the goal lines every KPI reply
//! (`/me`, `/kpi`, `/log`) shows, so they read the same everywhere.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::format::{clip, fit_lines};
use super::{CommandCall, Ctx, Embed, Message, Response, private};
use crate::app::goals::GoalProgress;
use crate::app::{AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalSubject, GoalVersion, ScopeChoice};
use crate::domain::money::Money;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    match call.sub.as_deref() {
        Some("set") => set(ctx, call).await,
        Some("list") => list(ctx).await,
        Some("clear") => clear(ctx, call).await,
        _ => Err(AppError::User("use /goal set, /goal list or /goal clear".into())),
    }
}

/// The goal the options name, after checking the invoker may touch it.
async fn key(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<GoalKey> {
    let scope = ScopeChoice::parse(call.required_string("scope")?)?;
    let metric = GoalMetric::parse(call.required_string("metric")?)?;
    let period = GoalPeriod::parse(call.required_string("period")?)?;
    let me = ctx.inv.user;
    let user = call.user("user").map(Snowflake::new).transpose()?;
    let team = call.string("team").map(str::trim).filter(|t| !t.is_empty());
    let only = |option: &str, scope: &str| AppError::User(format!("the `{option}` option is only for scope:{scope}"));
    if user.is_some() && !matches!(scope, ScopeChoice::Rep) && user != Some(me) {
        return Err(only("user", "rep"));
    }
    if team.is_some() && scope != ScopeChoice::Team {
        return Err(only("team", "team"));
    }
    let subject = match scope {
        ScopeChoice::Me => GoalSubject::Member(me),
        ScopeChoice::Rep => {
            GoalSubject::Member(user.ok_or_else(|| AppError::User("choose the rep with the `user` option".into()))?)
        }
        ScopeChoice::Team => {
            // Checked before the name is looked up, so reps cannot probe for team names.
            require_manager(ctx).await?;
            let name = team.ok_or_else(|| AppError::User("choose the team with the `team` option".into()))?;
            GoalSubject::Team(ctx.app.team(ctx.inv.guild, name).await?.id)
        }
        ScopeChoice::Guild => GoalSubject::Guild,
    };
    if subject != GoalSubject::Member(me) {
        require_manager(ctx).await?;
    }
    Ok(GoalKey { subject, metric, period })
}

async fn require_manager(ctx: &Ctx<'_>) -> AppResult<()> {
    if ctx.is_manager().await? {
        return Ok(());
    }
    Err(AppError::User(
        "only managers set goals for a rep, a team or the server (Manage Server permission or the manager role); \
         set your own with scope:me"
            .into(),
    ))
}

async fn set(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let key = key(ctx, call).await?;
    let target = call.required_string("target")?;
    let from = call.string("from").unwrap_or("");
    let names = Names::load(ctx).await?;
    let money = ctx.settings().await?.money();
    let done = ctx.app.set_goal(ctx.inv.guild, key.clone(), target, money, from, ctx.actor(), ctx.now).await?;
    let unit = key.period;
    let mut text = format!(
        "🎯 Goal set for {}: **{}** a {unit}, from the {unit} starting {} on.",
        names.subject(&key.subject, ctx.inv.user),
        amount(&key.metric, done.target, money),
        done.effective_from.format("%a %-d %b %Y"),
    );
    if let Some(before) = &done.replaced {
        if before.effective_from == done.effective_from {
            text.push_str(&format!(" It replaces {} for that {unit}.", amount(&key.metric, before.target, money)));
        } else {
            text.push_str(&format!(" Earlier {unit}s keep {}.", amount(&key.metric, before.target, money)));
        }
    }
    match &done.progress {
        Some(p) => text.push_str(&format!("\n{}: {}", period_label(p, ctx.now), p.pace.describe(&p.key.metric, money))),
        None => text.push_str(&format!("\nUntil then the current {unit}'s target (if any) stays.")),
    }
    Ok(private(text))
}

async fn clear(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let key = key(ctx, call).await?;
    let names = Names::load(ctx).await?;
    let what = format!("the {} goal a {} for {}", key.metric, key.period, names.subject(&key.subject, ctx.inv.user));
    let money = ctx.settings().await?.money();
    let Some(cleared) = ctx.app.clear_goal(ctx.inv.guild, key.clone(), ctx.actor(), ctx.now).await? else {
        return Ok(private(format!("There is no {} to clear; nothing changed.", what.trim_start_matches("the "))));
    };
    let mut text = match &cleared.ended {
        Some(v) => format!(
            "🧹 Cleared {what} (was {}) from this {} on. Earlier {}s keep their targets.",
            amount(&key.metric, v.target, money),
            key.period,
            key.period
        ),
        None => format!("🧹 {what} is not in force this {}, so nothing ends now.", key.period),
    };
    if !cleared.dropped.is_empty() {
        let n = cleared.dropped.len();
        text.push_str(&format!(" Dropped {n} scheduled change{}.", if n == 1 { "" } else { "s" }));
    }
    Ok(private(text))
}

/// Characters of an embed description, with room to spare for the closing note.
const LIST_BUDGET: usize = 4000;

async fn list(ctx: &Ctx<'_>) -> AppResult<Response> {
    let guild = ctx.inv.guild;
    let me = ctx.inv.user;
    let manager = ctx.is_manager().await?;
    // Reps see their own goals, their team's and the server's; managers see every goal.
    let my_team = ctx.app.member(guild, me).await?.map_or(0, |m| m.team_id);
    let visible = move |k: &GoalKey| {
        manager
            || match k.subject {
                GoalSubject::Member(u) => u == me,
                GoalSubject::Team(t) => t == my_team,
                GoalSubject::Guild => true,
            }
    };
    let overview = ctx.app.goal_overview(guild, &visible, ctx.now).await?;
    if overview.in_force.is_empty() && overview.scheduled.is_empty() {
        return Ok(private(
            "No goals yet. Set your own with `/goal set scope:me metric:points target:80 period:week`.",
        ));
    }
    let names = Names::load(ctx).await?;
    let money = ctx.settings().await?.money();
    let mut in_force = overview.in_force.clone();
    in_force.sort_by_key(|p| order(&p.key));
    // Under money:managers a rep reads their team's and the server's money goals in percent.
    let mut hidden = false;
    let mut lines: Vec<String> = Vec::with_capacity(in_force.len());
    for p in &in_force {
        let amounts = shows_amounts(ctx, &p.key.subject).await?;
        hidden |= !amounts && p.key.metric.is_money();
        lines.push(format!(
            "**{}** · {} a {}: {}",
            names.subject_short(&p.key.subject, me),
            p.key.metric,
            p.key.period,
            short_pace(p, money, amounts)
        ));
    }
    if !overview.scheduled.is_empty() {
        lines.push(String::new());
        lines.push("**Scheduled**".into());
        for v in &overview.scheduled {
            let amounts = shows_amounts(ctx, &v.key.subject).await?;
            hidden |= !amounts && v.key.metric.is_money();
            lines.push(scheduled_line(v, &names, me, money, amounts));
        }
    }
    let (body, _) = fit_lines(&lines, 0, LIST_BUDGET, "");
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(if manager { "Goals".to_string() } else { "Your goals".to_string() }),
            description: Some(body),
            footer: super::with_note(
                Some("Pace counts working days in the server's timezone. Clear one with /goal clear.".into()),
                hidden.then_some(super::GROUP_MONEY_PRIVATE),
            ),
            color: Some(0xf2994a),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

fn scheduled_line(v: &GoalVersion, names: &Names, me: Snowflake, money: Money, amounts: bool) -> String {
    let target = if amounts || !v.key.metric.is_money() {
        amount(&v.key.metric, v.target, money)
    } else {
        "a new target".into()
    };
    format!(
        "From {}: **{}** · {} a {} → {target}",
        v.effective_from.format("%-d %b %Y"),
        names.subject_short(&v.key.subject, me),
        v.key.metric,
        v.key.period,
    )
}

/// Sorts the server first, then teams, then reps; within each by period and metric.
fn order(key: &GoalKey) -> (u8, i64, GoalPeriod, GoalMetric) {
    let rank = match key.subject {
        GoalSubject::Guild => 0,
        GoalSubject::Team(_) => 1,
        GoalSubject::Member(_) => 2,
    };
    (rank, key.subject.subject_id(), key.period, key.metric.clone())
}

/// Team names by id, to name a goal's subject.
struct Names {
    teams: HashMap<i64, String>,
}

impl Names {
    async fn load(ctx: &Ctx<'_>) -> AppResult<Names> {
        let teams = ctx.app.teams(ctx.inv.guild).await?;
        Ok(Names { teams: teams.into_iter().map(|t| (t.id, t.name)).collect() })
    }

    fn team(&self, id: i64) -> String {
        self.teams.get(&id).map_or_else(|| "a deleted team".into(), |n| clip(n, 40))
    }

    /// For sentences: `you`, `<@42>`, `team **Alpha**`, `the whole server`.
    fn subject(&self, subject: &GoalSubject, me: Snowflake) -> String {
        match subject {
            GoalSubject::Member(u) if *u == me => "you".into(),
            GoalSubject::Member(u) => format!("<@{u}>"),
            GoalSubject::Team(t) => format!("team **{}**", self.team(*t)),
            GoalSubject::Guild => "the whole server".into(),
        }
    }

    /// For list rows: `you`, `<@42>`, `Alpha`, `Server`.
    fn subject_short(&self, subject: &GoalSubject, me: Snowflake) -> String {
        match subject {
            GoalSubject::Member(u) if *u == me => "You".into(),
            GoalSubject::Member(u) => format!("<@{u}>"),
            GoalSubject::Team(t) => self.team(*t),
            GoalSubject::Guild => "Server".into(),
        }
    }
}

/// `80 pts`, `12,500.00 revenue`, `3 deals won`, `20 call`.
fn amount(metric: &GoalMetric, value: i64, money: Money) -> String {
    format!("{} {}", metric.show(value, money), metric.noun())
}

/// `This week`, or the period's dates when it is not the current one: `Month 1 Oct – 31 Oct 2026`.
pub(super) fn period_label(p: &GoalProgress, now: DateTime<Utc>) -> String {
    if p.period.contains(now) {
        return format!("This {}", p.key.period);
    }
    let last = p.period.end_day.pred_opt().unwrap_or(p.period.end_day);
    let unit = p.key.period.as_str();
    let mut capitalized = unit[..1].to_uppercase();
    capitalized.push_str(&unit[1..]);
    format!("{capitalized} {} – {}", p.period.first_day.format("%-d %b"), last.format("%-d %b %Y"))
}

/// `48/80 pts · 60% · need 8/day`: the short form for lists, tables and the `/log` reply.
pub(super) fn short_pace(p: &GoalProgress, money: Money, amounts: bool) -> String {
    let m = &p.key.metric;
    if !amounts && m.is_money() {
        // `45% of the goal · need 4.2%/day`
        return format!("{} of the goal · {}", p.pace.attainment_percent(), p.pace.describe_required_percent());
    }
    format!(
        "{}/{} {} · {} · {}",
        m.show(p.actual, money),
        m.show(p.target, money),
        m.noun(),
        p.pace.attainment_percent(),
        p.pace.describe_required(m, money)
    )
}

/// One line per goal with every pace number, for `/me` and `/kpi rep`:
/// `🎯 This week · points: **48** of 80 pts · **60%** · expected by now 56 · projected 72 · need 8/day`.
/// Without `amounts`, money goals give every number as a share of the target.
pub(super) fn detail_lines(goals: &[GoalProgress], now: DateTime<Utc>, money: Money, amounts: bool) -> Vec<String> {
    let mut sorted: Vec<&GoalProgress> = goals.iter().collect();
    sorted.sort_by(|a, b| (a.key.period, &a.key.metric).cmp(&(b.key.period, &b.key.metric)));
    sorted
        .into_iter()
        .map(|p| format!("🎯 {} · {}: {}", period_label(p, now), p.key.metric, describe(p, money, amounts)))
        .collect()
}

/// Every pace number of a goal, as shares of its target for a money goal read without `amounts`.
pub(super) fn describe(p: &GoalProgress, money: Money, amounts: bool) -> String {
    if amounts || !p.key.metric.is_money() { p.pace.describe(&p.key.metric, money) } else { p.pace.describe_percent() }
}

/// Whether the reader may see the amounts of a goal on `subject`, per the guild's money privacy:
/// their own always (goal replies are private), a team's or the server's when they see others'.
pub(super) async fn shows_amounts(ctx: &Ctx<'_>, subject: &GoalSubject) -> AppResult<bool> {
    match subject {
        GoalSubject::Member(u) => ctx.sees_money_of(u.get(), false).await,
        GoalSubject::Team(_) | GoalSubject::Guild => ctx.sees_others_money(false).await,
    }
}

/// The metric most of these goals are on (points first on a tie): the `/kpi team` goal column's,
/// and the one a %-of-goal board measures everyone on.
pub(super) fn common_metric<'a>(metrics: impl Iterator<Item = &'a GoalMetric>) -> Option<GoalMetric> {
    let mut counts: HashMap<&GoalMetric, usize> = HashMap::new();
    for m in metrics {
        *counts.entry(m).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    let tied: BTreeSet<&GoalMetric> = counts.into_iter().filter(|(_, n)| *n == best).map(|(m, _)| m).collect();
    tied.into_iter().next().cloned()
}
