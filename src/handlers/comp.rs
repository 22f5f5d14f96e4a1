//! `/comp me [period]`, `/comp team team [period]` (managers), `/comp plan team rate …` (managers):
//! estimated commissions with their breakdown. Every reply says it is an estimate.

use super::format::{clip, fit_lines, table};
use super::{CommandCall, Ctx, Embed, Field, Message, Response, private};
use crate::app::comp::RepComp;
use crate::app::{AppError, AppResult};
use crate::domain::comp::Plan;
use crate::domain::money::Money;
use crate::domain::period::PeriodSpec;

const ESTIMATE: &str = "An estimate from logged revenue and goals — not payroll.";

fn period(call: &CommandCall) -> AppResult<PeriodSpec> {
    match call.string("period").map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Ok(PeriodSpec::parse(p)?),
        None => Ok(PeriodSpec::ThisMonth),
    }
}

fn attainment(a: Option<f64>) -> String {
    // Commission reads revenue goals only: a points goal does not count here.
    a.map_or("no revenue goal (counted as 100%)".into(), crate::domain::kpi::percent)
}

fn plan_line(p: &Plan, money: Money) -> String {
    let mut s = format!(
        "{:.2}% of revenue · {}% on own goal / {}% on team goal",
        p.rate_bp as f64 / 100.0,
        p.individual_share,
        p.team_share()
    );
    if p.accelerator_pct > 100 {
        s.push_str(&format!(" · {:.2}× above 100%", p.accelerator_pct as f64 / 100.0));
    }
    if p.team_bonus > 0 {
        s.push_str(&format!(" · {} bonus when the team goal is met", money.format(p.team_bonus)));
    }
    s
}

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    match call.sub.as_deref() {
        Some("me") => me(ctx, call).await,
        Some("team") => {
            ctx.require_manager().await?;
            team(ctx, call).await
        }
        Some("plan") => {
            ctx.require_manager().await?;
            plan(ctx, call).await
        }
        _ => Err(AppError::User("use /comp me, /comp team or /comp plan".into())),
    }
}

async fn me(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let money = ctx.settings().await?.money();
    let format_money = |v: i64| money.format(v);
    let (comp, mine) = ctx.app.my_comp(ctx.inv.guild, ctx.inv.user, &period(call)?, ctx.now).await?;
    let e = &mine.estimate;
    // The estimate and its parts are the rep's own money; the team's goal is not.
    let team_amounts = ctx.sees_others_money(false).await?;
    let team_goal = match comp.team_goal {
        Some(goal) if team_amounts => format!("{} · {}", format_money(goal), attainment(e.team_attainment)),
        Some(_) => attainment(e.team_attainment),
        None => format!("— · {}", attainment(e.team_attainment)),
    };
    let mut fields = vec![
        Field { name: "Revenue".into(), value: format_money(mine.revenue), inline: true },
        Field {
            name: "Your goal".into(),
            value: format!("{} · {}", mine.goal.map_or("—".into(), format_money), attainment(e.rep_attainment)),
            inline: true,
        },
        Field { name: "Team goal".into(), value: team_goal, inline: true },
        Field { name: "Individual part".into(), value: format_money(e.individual), inline: true },
        Field { name: "Team part".into(), value: format_money(e.team), inline: true },
    ];
    if e.accelerator > 0 {
        fields.push(Field { name: "Accelerator".into(), value: format_money(e.accelerator), inline: true });
    }
    if e.bonus > 0 {
        fields.push(Field { name: "Team bonus".into(), value: format_money(e.bonus), inline: true });
    }
    fields.push(Field {
        name: "Estimated commission".into(),
        value: format!("**{}**", format_money(e.total)),
        inline: false,
    });
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(clip(&format!("💰 Your commission estimate · {}", comp.period.describe()), 256)),
            description: Some(format!("Plan of {}: {}", comp.team.name, plan_line(&comp.plan, money))),
            fields,
            footer: super::with_note(
                Some(ESTIMATE.into()),
                (!team_amounts && comp.team_goal.is_some()).then_some(super::GROUP_MONEY_PRIVATE),
            ),
            color: Some(0x27ae60),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

async fn team(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let money = ctx.settings().await?.money();
    let format_money = |v: i64| money.format(v);
    let number = |v: i64| money.number(v);
    let team = ctx.app.team(ctx.inv.guild, call.required_string("team")?).await?;
    let comp = ctx.app.team_comp(ctx.inv.guild, &team, &period(call)?, ctx.now).await?;
    let code = money.currency.code();
    let mut rows = vec![vec![
        "Rep".to_string(),
        format!("Revenue {code}"),
        format!("Goal {code}"),
        "Own".into(),
        format!("Estimate {code}"),
    ]];
    let mut reps: Vec<&RepComp> = comp.reps.iter().collect();
    reps.sort_by_key(|r| std::cmp::Reverse(r.estimate.total));
    for r in &reps {
        rows.push(vec![
            clip(&r.user_name, 16),
            number(r.revenue),
            r.goal.map_or("—".into(), number),
            r.estimate.rep_attainment.map_or("—".into(), crate::domain::kpi::percent),
            number(r.estimate.total),
        ]);
    }
    let (body, _) = fit_lines(&table(&rows, &[0]), 1, 3900, "");
    let total: i64 = comp.reps.iter().map(|r| r.estimate.total).sum();
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(clip(
                &format!("💰 {} · commission estimates · {}", comp.team.name, comp.period.describe()),
                256,
            )),
            description: Some(format!("{}\n```\n{body}\n```", plan_line(&comp.plan, money))),
            fields: vec![
                Field { name: "Team revenue".into(), value: format_money(comp.team_revenue), inline: true },
                Field {
                    name: "Team goal".into(),
                    value: comp.team_goal.map_or("— (counted as 100%)".into(), |g| {
                        format!("{} · {}", format_money(g), crate::domain::kpi::percent_of(comp.team_revenue, g))
                    }),
                    inline: true,
                },
                Field { name: "Total estimated".into(), value: format_money(total), inline: true },
            ],
            footer: Some(ESTIMATE.into()),
            color: Some(0x27ae60),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

async fn plan(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let rate = match call.get_number("rate") {
        Some(r) => r,
        None => return Err(AppError::User("give the commission rate in percent, e.g. rate:8.5".into())),
    };
    let individual = call.integer("individual_share");
    let team_share = call.integer("team_share");
    // One share given: the other is the rest; none: the default 50/50 split.
    let (individual, team_share) = match (individual, team_share) {
        (Some(i), Some(t)) => (i, t),
        (Some(i), None) => (i, 100 - i),
        (None, Some(t)) => (100 - t, t),
        (None, None) => (50, 50),
    };
    let money = ctx.settings().await?.money();
    let bonus = match call.string("team_bonus").map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) => money.parse(b)?.minor(),
        None => 0,
    };
    let plan = Plan::new(rate, individual, team_share, call.get_number("accelerator"), bonus)?;
    let (team, plan) =
        ctx.app.set_comp_plan(ctx.inv.guild, call.required_string("team")?, plan, ctx.actor(), ctx.now).await?;
    Ok(private(format!("✅ Plan for **{}** from this month on: {}.\n{ESTIMATE}", team.name, plan_line(&plan, money))))
}
