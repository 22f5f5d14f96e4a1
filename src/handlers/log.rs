//! `/log kind [count] [amount] [note] [deal] [when]`: log an activity for yourself. The reply keeps
//! running totals and, when you have goals, where each stands: `This week: 48 pts · 60% of 80 · need
//! 8/day`.

use super::{Button, ButtonStyle, CommandCall, Ctx, Message, Response, goal};
use crate::app::AppResult;
use crate::app::goals::GoalProgress;
use crate::app::log::LogRequest;
use crate::domain::activity::{DealRef, KindName, Name, Note, Quantity, Source};
use crate::domain::goals::{GoalMetric, GoalPeriod};
use crate::domain::money::Money;
use crate::domain::period::{Period, PeriodSpec};
use crate::domain::when::parse_when;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let settings = ctx.settings().await?;
    let money = settings.money();
    let present = |name: &str| call.string(name).map(str::trim).filter(|s| !s.is_empty());
    let kind = KindName::parse(call.required_string("kind")?)?;
    let quantity = match call.integer("count") {
        Some(n) => Quantity::new(n)?,
        None => Quantity::ONE,
    };
    let amount = present("amount").map(|a| money.parse(a)).transpose()?;
    let note = Note::parse(call.string("note").unwrap_or(""))?;
    let deal = present("deal").map(DealRef::parse).transpose()?;
    let when = present("when").map(|w| parse_when(w, ctx.now, settings.timezone)).transpose()?;
    let user_name =
        Name::parse(&ctx.inv.user_name, "name").or_else(|_| Name::parse(&format!("user {}", ctx.inv.user), "name"))?;
    let logged = ctx
        .app
        .log(
            LogRequest {
                guild: ctx.inv.guild,
                user: ctx.inv.user,
                user_name,
                kind,
                quantity,
                amount,
                note,
                deal,
                when,
                source: Source::Slash,
                idem_key: format!("interaction:{}", ctx.inv.id),
            },
            ctx.now,
        )
        .await?;
    let r = &logged.record;
    // The day the entry went to: today, or the day it was back-dated to.
    let day = crate::domain::period::local_date(settings.timezone, r.occurred_at);
    let is_today = day == crate::domain::period::local_date(settings.timezone, ctx.now);
    let today = Period::resolve(&PeriodSpec::Range { first: day, last: day }, &settings, ctx.now)?;
    let week = Period::resolve(&PeriodSpec::ThisWeek, &settings, ctx.now)?;
    // Totals and the member's own goals in one read. The activity is stored by now: a failed
    // read must not turn the reply into an error that invites logging it again.
    let summary = ctx
        .app
        .member_summary(ctx.inv.guild, ctx.inv.user, r.team_id, &settings, &[&today, &week], ctx.now)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, interaction = ctx.inv.id, "totals and goals left out of the /log reply");
            Default::default()
        });
    let goals = &summary.goals;
    let mut both = summary.totals.iter().cloned();
    let (t_today, t_week) = (both.next().unwrap_or_default(), both.next().unwrap_or_default());

    let local = r.occurred_at.with_timezone(&settings.timezone);
    // A flagged entry held until approval has points it does not count yet.
    let held = logged.flag.as_ref().is_some_and(|f| !f.counted);
    let mut text = format!(
        "✅ {}Logged **{} × {}** (+{}{}) · {}",
        if logged.duplicate { "Already " } else { "" },
        r.quantity,
        r.kind,
        super::format::pts(r.points),
        if held { " once approved" } else { "" },
        local.format("%a %d %b %H:%M")
    );
    if let Some(amount) = r.amount {
        text.push_str(&format!(" · {}", money.format(amount)));
    } else if ctx
        .app
        .kinds_shared(ctx.inv.guild)
        .await
        .is_ok_and(|kinds| kinds.iter().any(|k| k.name.as_str() == r.kind && k.has_amount))
    {
        // A win without its value counts as a deal but adds no revenue: say so while it is fresh.
        text.push_str(&format!(
            " · no amount, so no revenue (undo and log it again with amount:, e.g. amount:{})",
            money.example()
        ));
    }
    if let Some(flag) = &logged.flag {
        text.push_str(&format!(
            "\n🔎 Flagged for a manager's review: {}. {}",
            flag.outlier.reason_to_rep(&r.kind),
            if flag.counted { "It counts meanwhile." } else { "It counts once a manager approves it." }
        ));
    }
    // The kind's count first, then the day's points from every kind: "34 call" beside "50 pts"
    // read as if the calls alone made the points.
    let day_label = if is_today { "Today".to_string() } else { day.format("%a %-d %b").to_string() };
    text.push_str(&format!(
        "\n{day_label}: **{} × {}**, **{}** from everything · This week: **{}**",
        t_today.count(&r.kind),
        r.kind,
        super::format::pts(t_today.points),
        super::format::pts(t_week.points)
    ));
    // Milestones are a side effect of logging: a failure is logged, never turned into a failed
    // /log, and a retried interaction has nothing new to celebrate.
    if !logged.duplicate {
        let measured = summary.goals.iter().chain(&summary.team_goals);
        match ctx.app.record_milestones(ctx.inv.guild, ctx.inv.user, r.team_id, measured, ctx.now).await {
            Ok(0) => {}
            // The scheduler announces them; wake it rather than wait for its next slot.
            Ok(_) => ctx.app.schedules_changed(),
            Err(e) => tracing::warn!(error = %e, interaction = ctx.inv.id, "milestones not checked after /log"),
        }
    }
    let is_week_points = |p: &GoalProgress| p.key.period == GoalPeriod::Week && p.key.metric == GoalMetric::Points;
    // The week's points goal extends the line above; every other goal gets a line of its own.
    if let Some(p) = goals.iter().find(|p| is_week_points(p)) {
        text.push_str(&format!(" · {}", goal_tail(p, money)));
    }
    for p in goals.iter().filter(|p| !is_week_points(p)).take(MAX_GOAL_LINES) {
        text.push_str(&format!(
            "\n🎯 {}: **{}** {} · {}",
            goal::period_label(p, ctx.now),
            p.key.metric.show(p.actual, money),
            p.key.metric.noun(),
            goal_tail(p, money)
        ));
    }
    Ok(Response::Message(Message {
        content: Some(text),
        buttons: vec![Button {
            custom_id: format!("undo:{}", r.id),
            label: "Undo".into(),
            style: ButtonStyle::Secondary,
            disabled: false,
            url: None,
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

/// Goal lines after the totals; the reply stays far below Discord's 2000 characters.
const MAX_GOAL_LINES: usize = 8;

/// `60% of 80 · need 8/day`
fn goal_tail(p: &GoalProgress, money: Money) -> String {
    format!(
        "{} of {} · {}",
        p.pace.attainment_percent(),
        p.key.metric.show(p.target, money),
        p.pace.describe_required(&p.key.metric, money)
    )
}
