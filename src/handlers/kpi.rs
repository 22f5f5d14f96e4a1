//! `/kpi team [team] [period] [public]` and `/kpi rep user [period]`: for managers. Both show the
//! goals in force (attainment and pace); the team table adds each rep's attainment when reps have
//! goals for the period shown.

use std::collections::{HashMap, HashSet};

use super::format::{clip, fit_lines, table};
use super::paging::Page;
use super::{Attachment, CommandCall, Ctx, Embed, Field, Message, Response, goal};
use crate::app::goals::GoalFilter;
use crate::app::history::{HistoryMetric, Mover, RepHistory};
use crate::app::report::{PeriodView, ReportNeeds};
use crate::app::{AppError, AppResult};
use crate::charts::{BandChart, band};
use crate::domain::activity::Snowflake;
use crate::domain::goals::{GoalKey, GoalPeriod, GoalSubject};
use crate::domain::history;
use crate::domain::kpi::Change;
use crate::domain::period::{Period, PeriodUnit};

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    match call.sub.as_deref() {
        Some("team") => team(ctx, call).await,
        Some("rep") => rep(ctx, call).await,
        _ => Err(AppError::User("use `/kpi team` or `/kpi rep`".into())),
    }
}

/// Reps per page of the team table.
const TABLE_PAGE: usize = 20;
/// Characters of an embed description: 4096, less the code fence.
const TABLE_BUDGET: usize = 4096 - 8;
/// A field value holds 1024 characters; the table may take 4088 of the embed's 6000.
const GOAL_FIELD_BUDGET: usize = 1000;

async fn team(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let spec = call.period()?;
    let team = call.string("team").map(str::trim).filter(|t| !t.is_empty());
    if let Some(n) = history_length(call, None)? {
        // The history has no pages; a page asked for would be silently ignored otherwise.
        if call.integer("page").is_some() {
            return Err(AppError::User(
                "`page` turns the team table's pages; a `history` has none: leave one out".into(),
            ));
        }
        return team_history(ctx, call, &spec, team, n).await;
    }
    // The table shows no streaks.
    let needs = ReportNeeds { previous: true, streaks: false, kinds: true, everyone: false };
    let settings = ctx.settings().await?;
    let period = Period::resolve(&spec, &settings, ctx.now)?;
    // The goals in force are read beside the report, at once (on PostgreSQL each read is a trip to
    // the server, and the goals' were a third of the reply). A team's table reads only the goals
    // it may show, the team's and those of the reps it shows (on it now, or credited to it over
    // the period), and only their rows, not the whole guild's (at the bench's full scale the
    // guild's were the slowest read of the reply on PostgreSQL). The table keeps its group's and
    // its reps' below, once the report has found them; each goal's progress is its own subject's.
    let every: GoalFilter = std::sync::Arc::new(|_: &GoalKey| true);
    let (report, goals) = tokio::join!(
        ctx.app.report_with(ctx.inv.guild, &spec, team, needs, ctx.now),
        ctx.app.goals_for_report(ctx.inv.guild, &period, &every, team, ctx.now),
    );
    // The report's error (no such team) comes first.
    let (report, goals) = (report?, goals?);
    let total: i64 = report.members.iter().map(|m| m.points).sum();
    // The kinds the team did most, so the table stays narrow enough for a phone.
    let mut kinds: Vec<(&String, &i64)> = report.totals.counts.iter().filter(|(_, n)| **n > 0).collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let kinds: Vec<&String> = kinds.into_iter().take(3).map(|(k, _)| k).collect();

    let money = settings.money();
    // A public table (or a team-summary post, rendered through here) is read by reps too.
    let public = call.boolean("public").unwrap_or(false);
    let amounts = ctx.sees_others_money(public).await?;
    // The team's id as the report found it (one team, by name), not read again.
    let group = match (team, report.teams.first()) {
        (Some(_), Some(t)) => GoalSubject::Team(t.id),
        (Some(name), None) => GoalSubject::Team(ctx.app.team(ctx.inv.guild, name).await?.id),
        (None, _) => GoalSubject::Guild,
    };
    let reps: HashSet<GoalSubject> = report
        .members
        .iter()
        .filter_map(|m| m.user_id.parse::<u64>().ok().and_then(|u| Snowflake::new(u).ok()))
        .map(GoalSubject::Member)
        .collect();
    let goals = goals.into_iter().filter(|p| p.key.subject == group || reps.contains(&p.key.subject));
    let (group_goals, rep_goals): (Vec<_>, Vec<_>) = goals.into_iter().partition(|p| p.key.subject == group);
    // A rep column only makes sense when the table covers exactly the goals' period.
    // The group's own metric when reps have goals on it too, else the metric most reps share.
    let column = GoalPeriod::matching(&period, &settings).and_then(|_| {
        group_goals
            .iter()
            .map(|p| &p.key.metric)
            .find(|metric| rep_goals.iter().any(|r| r.key.metric == **metric))
            .cloned()
            .or_else(|| goal::common_metric(rep_goals.iter().map(|p| &p.key.metric)))
    });
    let attainment: HashMap<String, String> = match &column {
        Some(metric) => rep_goals
            .iter()
            .filter(|p| p.key.metric == *metric)
            .map(|p| (p.key.subject.subject_id().to_string(), p.pace.attainment_percent()))
            .collect(),
        None => HashMap::new(),
    };

    let mut rows = vec![{
        let mut h = vec!["#".to_string(), "Rep".into(), "Pts".into(), "Share".into(), "vs prev".into()];
        h.extend(kinds.iter().map(|k| clip(k, 8)));
        if amounts {
            h.push(format!("Revenue {}", money.currency));
        }
        if column.is_some() {
            h.push("Goal".into());
        }
        h
    }];
    let page = Page::of(call, report.members.len(), TABLE_PAGE)?;
    // The page's reps, and the caller's own row when it is on another page.
    let me = ctx.inv.user.to_string();
    let mine = report.members.iter().position(|m| m.user_id == me).filter(|i| !page.rows.contains(i));
    let shown: Vec<usize> = match mine {
        Some(i) if i < page.rows.start => std::iter::once(i).chain(page.rows.clone()).collect(),
        Some(i) => page.rows.clone().chain(std::iter::once(i)).collect(),
        None => page.rows.clone().collect(),
    };
    for m in shown.iter().map(|&i| &report.members[i]) {
        let share = crate::domain::kpi::percent_of(m.points, total);
        let mut row = vec![
            m.rank.to_string(),
            clip(&m.user_name, 16),
            m.points.to_string(),
            share,
            Change::new(m.points, m.previous_points).describe(),
        ];
        row.extend(kinds.iter().map(|k| m.counts.get(*k).copied().unwrap_or(0).to_string()));
        if amounts {
            row.push(money.number(m.revenue_cents));
        }
        if column.is_some() {
            row.push(attainment.get(&m.user_id).cloned().unwrap_or_else(|| "-".into()));
        }
        rows.push(row);
    }
    let lines = table(&rows, &[1]);
    let (body, _) = fit_lines(&lines, 1, TABLE_BUDGET, " (full list: /export)");
    let previous: i64 = report.members.iter().map(|m| m.previous_points).sum();
    let title = match team {
        Some(_) => {
            format!("Team {} · {}", report.teams.first().map_or("?", |t| t.name.as_str()), report.period.describe())
        }
        None => format!("All reps · {}", report.period.describe()),
    };
    let description = if report.members.is_empty() {
        "No reps yet. Add them with `/team add`.".to_string()
    } else {
        format!("```\n{body}\n```")
    };
    let mut fields = vec![
        Field { name: "Reps".into(), value: report.members.len().to_string(), inline: true },
        Field {
            name: "Points".into(),
            // Not "196 (+196 (new))": brackets inside brackets read badly.
            value: format!("**{total}** · {} vs previous", Change::new(total, previous).describe()),
            inline: true,
        },
        Field {
            name: "Won".into(),
            value: if amounts {
                format!("{} · {}", report.totals.deals_won(), money.format(report.totals.revenue))
            } else {
                report.totals.deals_won().to_string()
            },
            inline: true,
        },
    ];
    if !group_goals.is_empty() {
        fields.push(Field {
            name: if team.is_some() { "Team goals".into() } else { "Server goals".into() },
            value: fit_lines(&goal::detail_lines(&group_goals, ctx.now, money, amounts), 0, GOAL_FIELD_BUDGET, "").0,
            inline: false,
        });
    }
    let mut footer =
        format!("vs prev: against {} – {}", report.previous_period.first_day, report.previous_period.last_day);
    if let Some(label) = page.label() {
        footer = format!("{label} · ◀ ▶ or the page option · {footer}");
    }
    // The columns show the kinds done most; say which others the points also count, so that a
    // reader adding up a row is not left wondering (issue 14).
    let unshown: Vec<&str> =
        report.totals.counts.iter().filter(|(k, n)| **n > 0 && !kinds.contains(k)).map(|(k, _)| k.as_str()).collect();
    if !unshown.is_empty() {
        footer.push_str(&format!(" · Pts also count {}", unshown.join(", ")));
    }
    if let Some(metric) = &column {
        footer.push_str(&format!(" · Goal: % of each rep's {metric} goal"));
    }
    if !amounts {
        footer.push_str(&format!(" · {}", super::MONEY_PRIVATE));
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(clip(&title, 256)),
            description: Some(description),
            fields,
            footer: Some(footer),
            color: Some(0x27ae60),
            ..Embed::default()
        }],
        buttons: page.buttons(call, ctx.inv.user.get()),
        ephemeral: !public,
        ..Message::default()
    }))
}

async fn rep(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let user = call.user("user").ok_or_else(|| AppError::User("choose a rep with the `user` option".into()))?;
    let spec = call.period()?;
    // The rep's own figures and their rank among everyone on the boards; a member the guild
    // leaves off its boards still has numbers a manager may ask for, and is ranked nowhere.
    let (report, rank) = ctx.app.rep_report(ctx.inv.guild, Snowflake::new(user)?, &spec, ctx.now).await?;
    let Some(m) = &report.member else {
        return Ok(super::private(format!("<@{user}> has not logged anything on this server yet.")));
    };
    let settings = ctx.settings().await?;
    let money = settings.money();
    let period = Period::resolve(&spec, &settings, ctx.now)?;
    let subject = GoalSubject::Member(Snowflake::new(user)?);
    let theirs: GoalFilter = std::sync::Arc::new(move |k: &GoalKey| k.subject == subject);
    let goals = ctx.app.goals_for_report(ctx.inv.guild, &period, &theirs, None, ctx.now).await?;
    let mut about: Vec<String> = m.team.iter().map(|t| format!("Team {t}")).collect();
    // Only managers run this, privately; the rule still decides.
    let amounts = ctx.sees_others_money(false).await?;
    about.extend(goal::detail_lines(&goals, ctx.now, money, amounts));
    let previous_spec = crate::domain::period::PeriodSpec::Range {
        first: report.previous_period.first_day,
        last: report.previous_period.last_day,
    };
    // Only the rep's own totals are read from the previous period, from their own rollups: the
    // whole guild's report of it cost a full-scale `/kpi rep` as much as the history did.
    let previous = Period::resolve(&previous_spec, &settings, ctx.now)?;
    let before = ctx.app.member_totals(ctx.inv.guild, Snowflake::new(user)?, &previous).await?;
    let line = |name: &str, (cur, before): (i64, i64), is_money: bool| {
        let show = |v: i64| if is_money { money.format(v) } else { v.to_string() };
        Field {
            name: name.to_string(),
            value: format!(
                "**{}** · prev {} · {}",
                show(cur),
                show(before),
                Change::new(cur, before).describe_by(show)
            ),
            inline: true,
        }
    };
    let mut fields = vec![line("Points", (m.points, before.points), false)];
    if amounts {
        fields.push(line("Revenue", (m.revenue_cents, before.revenue), true));
    }
    fields.push(line("Deals won", (m.deals_won, before.deals_won()), false));
    let mut kinds: Vec<&String> = m.counts.keys().collect();
    kinds.extend(before.counts.iter().filter(|(k, n)| **n != 0 && !m.counts.contains_key(*k)).map(|(k, _)| k));
    for kind in kinds.into_iter().filter(|k| k.as_str() != "won").take(18) {
        let cur = m.counts.get(kind).copied().unwrap_or(0);
        fields.push(line(kind, (cur, before.count(kind)), false));
    }
    fields.push(Field {
        name: "Win rate".into(),
        value: m.win_rate.map_or("-".into(), crate::domain::kpi::percent),
        inline: true,
    });
    fields.push(Field { name: "Streak".into(), value: super::format::streak(m.streak as i64), inline: true });
    let rank = match rank {
        Some((rank, of)) => format!("#{rank} of {of}"),
        None => "left off boards (their role)".to_string(),
    };
    fields.push(Field { name: "Rank".into(), value: rank, inline: true });
    let n = history_length(call, Some(history::DEFAULT_PERIODS))?;
    let mut embeds = vec![Embed {
        title: Some(clip(&format!("{} · {}", m.user_name, report.period.describe()), 256)),
        // A history follows: the goal lines get less room, so both fit Discord's 6,000.
        description: (!about.is_empty()).then(|| fit_lines(&about, 1, if n.is_some() { 1000 } else { 3000 }, "").0),
        fields,
        footer: Some(format!("prev: {} – {}", report.previous_period.first_day, report.previous_period.last_day)),
        color: Some(0x8e44ad),
        ..Embed::default()
    }];
    let mut attachments = Vec::new();
    if let Some(n) = n {
        let h = ctx.app.rep_history(ctx.inv.guild, Snowflake::new(user)?, &spec, n, ctx.now).await?;
        let (embed, chart) = rep_history_embed(&h, money, amounts);
        embeds.push(embed);
        attachments.extend(chart);
        fit_embeds(&mut embeds);
    }
    Ok(Response::Message(Message { embeds, attachments, ephemeral: true, ..Message::default() }))
}

/// The `history` option: `None` when the reply shows none. Discord enforces the manifest's
/// bounds; a call from elsewhere (`rally exec`) is checked here too, and never silently clamped.
fn history_length(call: &CommandCall, default: Option<usize>) -> AppResult<Option<usize>> {
    match call.integer("history") {
        None => Ok(default),
        Some(n) if (history::MIN_PERIODS as i64..=history::MAX_PERIODS as i64).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(AppError::User(format!(
            "`history` is how many periods to show, {} to {}, not {n}",
            history::MIN_PERIODS,
            history::MAX_PERIODS
        ))),
    }
}

/// The file name of the history chart.
const HISTORY_CHART: &str = "history.png";
/// Discord's most characters across a message's embeds.
const EMBEDS_BUDGET: usize = 6000;

fn embed_chars(e: &Embed) -> usize {
    let n = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
    n(&e.title)
        + n(&e.description)
        + n(&e.footer)
        + e.fields.iter().map(|f| f.name.chars().count() + f.value.chars().count()).sum::<usize>()
}

/// Drops the last fields of the last embeds until the message fits Discord's 6,000 characters.
fn fit_embeds(embeds: &mut [Embed]) {
    while embeds.iter().map(embed_chars).sum::<usize>() > EMBEDS_BUDGET {
        let Some(e) = embeds.iter_mut().rev().find(|e| !e.fields.is_empty()) else { return };
        e.fields.pop();
    }
}

/// A period's column heading: `Nov`, `23/11` (a week by its first day), `Aug` (a quarter by its
/// first month), `2026`.
fn column(unit: PeriodUnit, p: &PeriodView) -> String {
    match unit {
        PeriodUnit::Month | PeriodUnit::Quarter => p.first_day.format("%b").to_string(),
        PeriodUnit::Year => p.first_day.format("%Y").to_string(),
        PeriodUnit::Week | PeriodUnit::Day | PeriodUnit::Range => p.first_day.format("%-d/%-m").to_string(),
    }
}

/// A median or quartile: whole when it is, else one decimal (the median of 2 reps may be 17.5).
fn figure(v: f64) -> String {
    if v.fract().abs() < 1e-9 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// One metric's value as shown: a count, an amount in the guild's money, or a percent.
fn metric_value(metric: &HistoryMetric, v: f64, money: crate::domain::money::Money) -> String {
    match metric {
        HistoryMetric::Revenue => money.number(v.round() as i64),
        HistoryMetric::Attainment(_) => crate::domain::kpi::percent(v),
        HistoryMetric::Points | HistoryMetric::Kind(_) => figure(v),
    }
}

/// `/kpi rep`'s history: a table of points, the team's quartiles and rank per period, a field
/// per metric with its verdict, and the chart of the rep's points over the team's band.
fn rep_history_embed(h: &RepHistory, money: crate::domain::money::Money, amounts: bool) -> (Embed, Option<Attachment>) {
    let dash = || "-".to_string();
    let mut rows = vec![std::iter::once(String::new()).chain(h.periods.iter().map(|p| column(h.unit, p))).collect()];
    if let Some(points) = h.metrics.iter().find(|m| m.metric == HistoryMetric::Points) {
        let mine = clip(&h.user_name, 10);
        rows.push(std::iter::once(mine).chain(points.rep.iter().map(|v| v.map_or_else(dash, figure))).collect());
        rows.push(
            std::iter::once("median".to_string())
                .chain(points.team.iter().map(|s| s.map_or_else(dash, |s| figure(s.median))))
                .collect(),
        );
        rows.push(
            std::iter::once("q1–q3".to_string())
                .chain(points.team.iter().map(|s| s.map_or_else(dash, |s| format!("{:.0}–{:.0}", s.q1, s.q3))))
                .collect(),
        );
    }
    rows.push(
        std::iter::once("rank".to_string())
            .chain(h.ranks.iter().map(|r| r.map_or_else(dash, |(rank, of)| format!("{rank}/{of}"))))
            .collect(),
    );
    let mut description = Vec::new();
    // Whom the rep was compared with, period by period, in runs.
    let mut runs: Vec<(Option<&String>, &str, &str)> = Vec::new();
    for (t, p) in h.teams.iter().zip(&h.periods) {
        match runs.last_mut() {
            Some(run) if run.0 == t.as_ref() => run.2 = p.label.as_str(),
            _ => runs.push((t.as_ref(), p.label.as_str(), p.label.as_str())),
        }
    }
    let name = |t: Option<&String>| t.map_or("all reps".to_string(), |t| format!("Team {}", clip(t, 40)));
    if let [(team, _, _)] = runs.as_slice() {
        description.push(format!("Points per {} against {}.", history::noun(h.unit), name(*team)));
    } else {
        let parts: Vec<String> = runs
            .iter()
            .map(|(t, a, b)| if a == b { format!("{} ({a})", name(*t)) } else { format!("{} ({a} – {b})", name(*t)) })
            .collect();
        description.push(format!(
            "Points per {} against the team of the time: {}.",
            history::noun(h.unit),
            parts.join(", ")
        ));
    }
    if h.left_off {
        description.push("Left off the boards by their role: compared, but in no median and ranked nowhere.".into());
    }
    description.push(format!("```\n{}\n```", table(&rows, &[0]).join("\n")));

    let latest = h.latest_words();
    let mut fields = Vec::new();
    for m in &h.metrics {
        if m.metric == HistoryMetric::Revenue && !amounts {
            continue;
        }
        let verdict = m.judgement.describe(h.unit, &latest);
        let value = if m.metric == HistoryMetric::Points {
            format!("**{verdict}**")
        } else {
            let show = |v: &Option<f64>| v.map_or_else(dash, |v| metric_value(&m.metric, v, money));
            let mine: Vec<String> = m.rep.iter().map(show).collect();
            let median: Vec<String> = m.team.iter().map(|s| show(&s.map(|s| s.median))).collect();
            format!("{}: {}\nmedian: {}\n**{verdict}**", clip(&h.user_name, 20), mine.join(" · "), median.join(" · "))
        };
        fields.push(Field { name: clip(&m.metric.name(), 256), value: clip(&value, 1024), inline: false });
    }
    let mut footer = history::thresholds(h.unit);
    footer.push_str(" Team = the reps who logged for the team that period; quartiles by interpolation.");
    if !amounts {
        footer.push_str(&format!(" · {}", super::MONEY_PRIVATE));
    }

    let points = h.metrics.iter().find(|m| m.metric == HistoryMetric::Points);
    let chart = points.map(|p| BandChart {
        title: format!("{} · points per {}", h.user_name, history::noun(h.unit)),
        rep_name: h.user_name.clone(),
        labels: h.periods.iter().map(|p| p.label.clone()).collect(),
        rep: p.rep.clone(),
        team: p.team.iter().map(|s| s.map(|s| (s.q1, s.median, s.q3))).collect(),
    });
    let title = format!("History · last {} {}s", h.periods.len(), history::noun(h.unit));
    let attachment = match chart.as_ref().map(band) {
        Some(Ok(drawn)) => {
            Some(Attachment { filename: HISTORY_CHART.into(), data: drawn.png, description: Some(title.clone()) })
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "history chart");
            None
        }
        None => None,
    };
    let embed = Embed {
        title: Some(clip(&title, 256)),
        description: Some(fit_lines(&description, 0, 2000, "").0),
        fields,
        footer: Some(clip(&footer, 2048)),
        color: Some(0x8e44ad),
        image: attachment.as_ref().map(|_| HISTORY_CHART.to_string()),
    };
    (embed, attachment)
}

/// `/kpi team history:N`: the team's totals, reps, median and goal attainment per period, and
/// the reps who moved most against their own history.
async fn team_history(
    ctx: &Ctx<'_>,
    call: &CommandCall,
    spec: &crate::domain::period::PeriodSpec,
    team: Option<&str>,
    n: usize,
) -> AppResult<Response> {
    let h = ctx.app.team_history(ctx.inv.guild, team, spec, n, ctx.now).await?;
    let money = ctx.settings().await?.money();
    let public = call.boolean("public").unwrap_or(false);
    let amounts = ctx.sees_others_money(public).await?;
    let mut head = vec![String::new(), "Pts".to_string(), "Won".into()];
    if amounts {
        head.push(format!("Revenue {}", money.currency));
    }
    head.extend(["Reps".to_string(), "Median".into(), "q1–q3".into()]);
    if h.goal_metric.is_some() {
        head.push("Goal".into());
    }
    let mut rows = vec![head];
    for (p, r) in h.periods.iter().zip(&h.rows) {
        let mut row = vec![p.label.clone(), r.points.to_string(), r.deals_won.to_string()];
        if amounts {
            row.push(money.number(r.revenue));
        }
        row.push(r.reps.to_string());
        row.push(r.spread.map_or("-".into(), |s| figure(s.median)));
        row.push(r.spread.map_or("-".into(), |s| format!("{:.0}–{:.0}", s.q1, s.q3)));
        if h.goal_metric.is_some() {
            row.push(r.attainment.map_or("-".into(), crate::domain::kpi::percent));
        }
        rows.push(row);
    }
    let noun = history::noun(h.unit);
    let who = h.team.as_ref().map_or("All reps".to_string(), |t| format!("Team {t}"));
    let latest = h.periods.last().map_or(String::new(), |p| p.label.clone());
    let mover = |m: &Mover| {
        let sign = if m.change >= 0.0 { "+" } else { "" };
        format!(
            "• **{}**: {} in {latest}, usually {} ({sign}{})",
            clip(&m.user_name, 40),
            m.latest,
            figure(m.own_median),
            crate::domain::kpi::percent(m.change)
        )
    };
    let listed = |movers: &[Mover], none: &str| {
        if movers.is_empty() { none.to_string() } else { movers.iter().map(mover).collect::<Vec<_>>().join("\n") }
    };
    let fields = vec![
        Field {
            name: "Moved up most, against their own history".into(),
            value: clip(&listed(&h.up, &format!("nobody is above their usual {noun}")), 1024),
            inline: false,
        },
        Field {
            name: "Moved down most, against their own history".into(),
            value: clip(&listed(&h.down, &format!("nobody is below their usual {noun}")), 1024),
            inline: false,
        },
    ];
    let mut footer = format!(
        "Usually = the rep's median over the earlier {noun}s since their first log in these {n}; the change is \
         measured against at least {} points. Reps = those who logged for the team that {noun}.",
        crate::domain::kpi::IMPROVEMENT_BASE_POINTS
    );
    if let Some(metric) = &h.goal_metric {
        footer.push_str(&format!(
            " Goal: % of the {} {metric} goal.",
            if h.team.is_some() { "team's" } else { "server's" }
        ));
    }
    if !amounts {
        footer.push_str(&format!(" · {}", super::MONEY_PRIVATE));
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(clip(&format!("{who} · last {} {noun}s", h.periods.len()), 256)),
            description: Some(format!("```\n{}\n```", table(&rows, &[0]).join("\n"))),
            fields,
            footer: Some(clip(&footer, 2048)),
            color: Some(0x27ae60),
            ..Embed::default()
        }],
        ephemeral: !public,
        ..Message::default()
    }))
}
