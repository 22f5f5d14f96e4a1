//! `/leaderboard [metric] [period] [scope] [team]`: who leads, posted for everyone.

use super::format::{clip, fit_lines};
use super::paging::Page;
use super::{CommandCall, Ctx, Embed, Message, Response};
use crate::app::report::ReportNeeds;
use crate::app::{AppError, AppResult};
use crate::domain::activity::{Snowflake, unknown_metric};
use crate::domain::goals::{GoalKey, GoalMetric, GoalPeriod, GoalSubject};
use crate::domain::kpi::{IMPROVEMENT_BASE_POINTS, attainment_bp, bp_percent, competition_ranks, improvement_bp};
use crate::domain::period::Period;

const CHART: &str = "leaderboard.png";

/// Rows per page; the invoker's own place is added when it is on another page.
const TOP: usize = 15;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let off = || {
        AppError::User(
            "leaderboards are turned off on this server; a manager can turn them on with \
             `/settings leaderboards on:true`"
                .into(),
        )
    };
    // The switch comes with the board's rows (one trip to the database fewer). A board refused
    // for another reason reads it on its own, so a server that turned boards off hears that first.
    match board_and_switch(ctx, call, false).await {
        Ok((response, true)) => Ok(response),
        Ok((_, false)) => Err(off()),
        Err(e) if !ctx.app.leaderboards_enabled(ctx.inv.guild).await? => {
            tracing::debug!(error = %e, "a board refused on a server whose leaderboards are off");
            Err(off())
        }
        Err(e) => Err(e),
    }
}

/// One place on a board: who, the score it is ranked by, and how the score reads.
struct Entry {
    name: String,
    score: i64,
    shown: String,
    me: bool,
}

/// The leaderboard; with `chart`, a PNG bar chart of the leaders is attached (scheduled posts).
/// Ranked by points, revenue, a kind's count, `goal` (% of each participant's goal for the
/// period) or `improvement` (points against their own previous period).
pub(super) async fn board(ctx: &Ctx<'_>, call: &CommandCall, chart: bool) -> AppResult<Response> {
    Ok(board_and_switch(ctx, call, chart).await?.0)
}

/// [`board`], and whether the guild's leaderboards are on, as read with the board's rows.
async fn board_and_switch(ctx: &Ctx<'_>, call: &CommandCall, chart: bool) -> AppResult<(Response, bool)> {
    let spec = call.period()?;
    let settings = ctx.settings().await?;
    let money = settings.money();
    let metric =
        call.string("metric").map(|m| m.trim().to_lowercase()).filter(|m| !m.is_empty()).unwrap_or("points".into());
    let teams = call.string("scope").map(str::trim) == Some("teams");
    let team = call.string("team").map(str::trim).filter(|t| !t.is_empty());
    if !BUILT_IN.contains(&metric.as_str()) {
        let kinds = ctx.app.kinds(ctx.inv.guild).await?;
        if !kinds.iter().any(|k| k.name.as_str() == metric) {
            return Err(AppError::User(unknown_metric(&metric, BUILT_IN, &kinds)));
        }
    }
    // A board is public: under `money:managers` it shows no amounts to anyone (a manager reads
    // them privately in /kpi team).
    let amounts = ctx.sees_others_money(true).await?;
    // A goal board's targets say which metric it measures, and so what its report must read. Most
    // goals measure points or revenue: the targets and a report of points are read at once (two
    // connections, so the reply waits for one round trip on PostgreSQL, not two), and a report of
    // every kind is read after only when the goals measure a kind or deals won.
    let filter_targets = |targets: Vec<(GoalKey, i64)>| -> Vec<(GoalKey, i64)> {
        targets
            .into_iter()
            .filter(|(k, _)| {
                if teams {
                    matches!(k.subject, GoalSubject::Team(_))
                } else {
                    matches!(k.subject, GoalSubject::Member(_))
                }
            })
            .collect()
    };
    let (goal_targets, report) = if metric == "goal" {
        let period = Period::resolve(&spec, &settings, ctx.now)?;
        if GoalPeriod::matching(&period, &settings).is_none() {
            return Err(AppError::User(
                "goals are set per week, month, quarter or year: rank by goal over one of those \
                 (period:this-week, this-month, this-quarter, this-year or a past one)"
                    .into(),
            ));
        }
        let (targets, report) = tokio::try_join!(
            ctx.app.goal_targets(ctx.inv.guild, &period),
            ctx.app.report_with(ctx.inv.guild, &spec, team, ReportNeeds::POINTS, ctx.now)
        )?;
        (Some(filter_targets(targets)), Some(report))
    } else {
        (None, None)
    };
    let guild_goal_on =
        goal_targets.as_ref().and_then(|t| super::goal::common_metric(t.iter().map(|(k, _)| &k.metric)));
    // Points and revenue come from the kind-less rollups; a kind (or a goal on one, or on deals
    // won) needs the per-kind ones, an improvement the previous period's points.
    let needs = match metric.as_str() {
        "points" | "revenue" => ReportNeeds::POINTS,
        "goal" if matches!(guild_goal_on, None | Some(GoalMetric::Points | GoalMetric::Revenue)) => ReportNeeds::POINTS,
        "improvement" => ReportNeeds { previous: true, ..ReportNeeds::POINTS },
        _ => ReportNeeds::TOTALS,
    };
    let mut report = match report.filter(|_| needs == ReportNeeds::POINTS) {
        Some(report) => report,
        None => ctx.app.report_with(ctx.inv.guild, &spec, team, needs, ctx.now).await?,
    };
    let switch = report.leaderboards;
    // The report's teams carry their ids: no second read of the teams.
    let ids: std::collections::HashMap<String, i64> =
        if teams { report.teams.iter().map(|t| (t.name.clone(), t.id)).collect() } else { Default::default() };
    let subject_of_team = |name: &str| ids.get(name).map(|id| GoalSubject::Team(*id));
    let subject_of_member =
        |user_id: &str| user_id.parse().ok().and_then(|u| Snowflake::new(u).ok()).map(GoalSubject::Member);
    // The goals of those on this board: most of them decide the metric a goal board measures.
    let goal_on = goal_targets.as_ref().and_then(|targets| {
        let subjects: std::collections::HashSet<GoalSubject> = if teams {
            report.teams.iter().filter_map(|t| subject_of_team(&t.name)).collect()
        } else {
            report.members.iter().filter_map(|m| subject_of_member(&m.user_id)).collect()
        };
        super::goal::common_metric(
            targets.iter().filter(|(k, _)| subjects.contains(&k.subject)).map(|(k, _)| &k.metric),
        )
    });
    if !needs.kinds && goal_on.as_ref().is_some_and(|m| !matches!(m, GoalMetric::Points | GoalMetric::Revenue)) {
        // The guild's goals mostly measure points or revenue, this board's a kind or deals won.
        report = ctx.app.report_with(ctx.inv.guild, &spec, team, ReportNeeds::TOTALS, ctx.now).await?;
    }
    let me = ctx.inv.user.to_string();
    let participants: Vec<Participant> = if teams {
        report
            .teams
            .iter()
            .map(|t| Participant {
                name: t.name.clone(),
                subject: subject_of_team(&t.name),
                points: t.points,
                previous: t.previous_points,
                revenue: t.revenue_cents,
                deals_won: t.deals_won,
                counts: &t.counts,
                me: false,
            })
            .collect()
    } else {
        report
            .members
            .iter()
            .map(|m| Participant {
                name: m.user_name.clone(),
                subject: subject_of_member(&m.user_id),
                points: m.points,
                previous: m.previous_points,
                revenue: m.revenue_cents,
                deals_won: m.deals_won,
                counts: &m.counts,
                me: m.user_id == me,
            })
            .collect()
    };
    let mut apart: Vec<&str> = Vec::new();
    let mut about = None;
    let mut goal_metric = None;
    let mut entries: Vec<Entry> = match metric.as_str() {
        "goal" => {
            // One metric for everyone, so that percents compare like with like: the one most
            // participants have a goal on (points first on a tie).
            let Some(on) = goal_on.clone() else {
                let who = if teams { "No team" } else { "Nobody" };
                return Err(AppError::User(format!(
                    "{who} here has a goal for {}; set some with `/goal set`, then rank by goal",
                    report.period.describe()
                )));
            };
            // Each participant's target on that metric (looked up by subject, so others' goals
            // never show).
            let target_of: std::collections::HashMap<&GoalSubject, i64> =
                goal_targets.iter().flatten().filter(|(k, _)| k.metric == on).map(|(k, t)| (&k.subject, *t)).collect();
            let show_amounts = amounts || on != GoalMetric::Revenue;
            let mut out = Vec::new();
            for p in &participants {
                match p.subject.as_ref().and_then(|s| target_of.get(s)) {
                    Some(&target) => {
                        let actual = p.value(&on);
                        let score = attainment_bp(actual, target);
                        let detail = if show_amounts {
                            format!(" · {} of {}", on.show(actual, money), on.show(target, money))
                        } else {
                            String::new()
                        };
                        out.push(Entry {
                            name: p.name.clone(),
                            score,
                            shown: format!("**{}**{detail}", bp_percent(score)),
                            me: p.me,
                        });
                    }
                    None => apart.push(&p.name),
                }
            }
            about = Some(format!("% of their {on} goal"));
            goal_metric = Some(on);
            out
        }
        "improvement" => {
            let previous = &report.previous_period;
            let on = if previous.first_day == previous.last_day {
                previous.first_day.format("%a %-d %b").to_string()
            } else {
                format!("{} – {}", previous.first_day.format("%-d %b"), previous.last_day.format("%-d %b"))
            };
            about = Some(format!("improvement on {on} (at least {IMPROVEMENT_BASE_POINTS} pts as the base)"));
            participants
                .iter()
                .map(|p| {
                    let score = improvement_bp(p.points, p.previous);
                    Entry {
                        name: p.name.clone(),
                        score,
                        shown: format!("**+{}** · {} → {} pts", bp_percent(score), p.previous, p.points),
                        me: p.me,
                    }
                })
                .collect()
        }
        _ => participants
            .iter()
            .map(|p| {
                let score = match metric.as_str() {
                    "points" => p.points,
                    "revenue" => p.revenue,
                    kind => p.counts.get(kind).copied().unwrap_or(0),
                };
                let shown = match metric.as_str() {
                    "revenue" if !amounts => String::new(),
                    "revenue" => format!("**{}**", money.format(score)),
                    _ => format!("**{score}**"),
                };
                Entry { name: p.name.clone(), score, shown, me: p.me }
            })
            .collect(),
    };
    // Ties: teams by name; reps keep the report's order (points, then user id).
    if teams {
        entries.sort_by_key(|e| e.name.to_lowercase());
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.score));
    // Only a score earns a place: a medal (or any rank) for nothing would tell the rest of the
    // board nothing and the middle of it something untrue. Those with none are counted below.
    let scored = entries.iter().take_while(|e| e.score > 0).count();
    let (ranked, none) = entries.split_at(scored);
    let ranks = competition_ranks(&ranked.iter().map(|e| e.score).collect::<Vec<_>>());
    let page = Page::of(call, ranked.len(), TOP)?;
    let line = |i: usize| {
        let e = &ranked[i];
        let medal = match ranks[i] {
            1 => "🥇",
            2 => "🥈",
            3 => "🥉",
            _ => "▫️",
        };
        let name = clip(&e.name, 40);
        let name = if e.me { format!("**{name}** (you)") } else { name };
        let shown = if e.shown.is_empty() { String::new() } else { format!(" — {}", e.shown) };
        format!("{medal} `#{:<3}` {name}{shown}", ranks[i])
    };
    let mut lines: Vec<String> = page.rows.clone().map(line).collect();
    // The caller's own place stays in sight on every page.
    if let Some(i) = ranked.iter().position(|e| e.me)
        && !page.rows.contains(&i)
    {
        let shown = if ranked[i].shown.is_empty() { String::new() } else { format!(" — {}", ranked[i].shown) };
        let you = format!("You: `#{}`{shown}", ranks[i]);
        if i < page.rows.start {
            lines.insert(0, format!("{you}\n⋯"));
        } else {
            lines.push(format!("⋯\n{you}"));
        }
    }
    let who = if teams { "team" } else { "rep" };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if !none.is_empty() {
        let what = match metric.as_str() {
            "improvement" => "no improvement yet",
            "goal" => "nothing towards it yet",
            _ => "none yet",
        };
        let mut text = format!("{} more {who}{} with {what}", none.len(), plural(none.len()));
        if none.iter().any(|e| e.me) {
            text.push_str(", you among them");
        }
        lines.push(text);
    }
    if !apart.is_empty() {
        let names: Vec<String> = apart.iter().take(10).map(|n| clip(n, 40)).collect();
        let more = if apart.len() > 10 { format!(" and {} more", apart.len() - 10) } else { String::new() };
        lines.push(format!("Without such a goal: {}{more}", names.join(", ")));
    }
    let over = report.period.end <= ctx.now;
    let description = if entries.is_empty() && apart.is_empty() {
        "Nobody on the board yet. Log something with `/log`!".to_string()
    } else if ranked.is_empty() {
        // "N more with none" after "nobody" would count what is not there.
        let what = match metric.as_str() {
            "improvement" => format!("improved on their previous period{}", if over { "" } else { " yet" }),
            "goal" => format!("made progress towards their goal{}", if over { "" } else { " yet" }),
            m => format!("any {m} in this period{}", if over { "" } else { " yet" }),
        };
        let nobody = format!("{} {what}.", if teams { "No team has" } else { "Nobody has" });
        match lines.iter().find(|l| l.starts_with("Without such a goal")) {
            Some(apart) => format!("{nobody}\n{apart}"),
            None => nobody,
        }
    } else {
        fit_lines(&lines, 0, 4000, "").0
    };
    let mut notes: Vec<String> = Vec::new();
    if let Some(label) = page.label() {
        notes.push(format!(
            "{label} · places {}–{} of {} · ◀ ▶ or the page option",
            page.rows.start + 1,
            page.rows.end,
            ranked.len()
        ));
    }
    let money_hidden = !amounts && (metric == "revenue" || goal_metric == Some(GoalMetric::Revenue));
    if money_hidden {
        notes.push(super::MONEY_PRIVATE.into());
    }
    let what = if teams { "Teams" } else { "Reps" };
    let by = about.clone().unwrap_or_else(|| metric.clone());
    let title = clip(&format!("🏆 {what} by {by} · {}", report.period.describe()), 256);
    let mut attachments = Vec::new();
    let mut image = None;
    // A chart's bars would show the amounts a private board leaves out.
    if chart && !ranked.is_empty() && !money_hidden {
        // Money is charted in major units; percents as percents; counts and points as they are.
        let revenue = metric == "revenue";
        let bars: Vec<(String, f64)> = ranked
            .iter()
            .map(|e| {
                let v = match metric.as_str() {
                    "revenue" => money.to_major(e.score as f64),
                    "goal" | "improvement" => e.score as f64 / 100.0,
                    _ => e.score as f64,
                };
                (e.name.clone(), v)
            })
            .collect();
        let unit = match metric.as_str() {
            _ if revenue => format!(" ({})", money.currency),
            "goal" | "improvement" => " (%)".to_string(),
            _ => String::new(),
        };
        match crate::charts::bars(&format!("{what} by {by}{unit}"), &bars) {
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
    let response = Response::Message(Message {
        embeds: vec![Embed {
            title: Some(title),
            description: Some(description),
            color: Some(0xf1c40f),
            image,
            footer: (!notes.is_empty()).then(|| notes.join(" · ")),
            ..Embed::default()
        }],
        buttons: page.buttons(call, ctx.inv.user.get()),
        attachments,
        ephemeral: false,
        ..Message::default()
    });
    Ok((response, switch))
}

/// The metrics a board ranks by besides the guild's activity kinds.
pub(super) const BUILT_IN: &[&str] = &["points", "revenue", "goal", "improvement"];

/// A rep or team as a board reads them.
struct Participant<'a> {
    name: String,
    subject: Option<GoalSubject>,
    points: i64,
    previous: i64,
    revenue: i64,
    deals_won: i64,
    counts: &'a std::collections::BTreeMap<String, i64>,
    me: bool,
}

impl Participant<'_> {
    /// What a goal on `metric` measures, from the report's totals.
    fn value(&self, metric: &GoalMetric) -> i64 {
        match metric {
            GoalMetric::Points => self.points,
            GoalMetric::Revenue => self.revenue,
            GoalMetric::DealsWon => self.deals_won,
            GoalMetric::Kind(kind) => self.counts.get(kind.as_str()).copied().unwrap_or(0),
        }
    }
}
