//! `/nudges off|on|status`: each rep decides whether rally may DM them. Also the messages rally
//! sends on its own about pace: the `nudges` and `hygiene` schedules' DMs and team-channel posts,
//! and goal milestone celebrations. Words only: who gets what is decided in `app::nudges` and
//! `app::milestones`.

use chrono::{DateTime, Utc};

use super::format::fit_lines;
use super::{CommandCall, Ctx, Embed, Message, Outgoing, Recipient, Response, private};
use crate::app::goals::GoalProgress;
use crate::app::milestones::Milestone;
use crate::app::schedules::ScheduleRow;
use crate::app::{App, AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::goals::{GoalMetric, GoalSubject, Required};
use crate::domain::money::Money;
use crate::domain::nudges::DEFAULT_THRESHOLD;

const NUDGE_COLOR: u32 = 0xf39c12;
const MILESTONE_COLOR: u32 = 0x2ecc71;
/// Characters of an embed description the goal lines may use (Discord allows 4096).
const LINES_BUDGET: usize = 3500;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let (guild, user) = (ctx.inv.guild, ctx.inv.user);
    match call.sub.as_deref() {
        Some("off") => {
            let changed = ctx.app.set_nudges(guild, user, false, ctx.actor(), ctx.now).await?;
            Ok(private(if changed {
                "🔕 Nudges are off: no more DMs from me about pace or days with nothing logged. \
                 Changed your mind? `/nudges on` brings them back."
            } else {
                "🔕 Your nudges were already off. `/nudges on` turns them back on whenever you like."
            }))
        }
        Some("on") => {
            let changed = ctx.app.set_nudges(guild, user, true, ctx.actor(), ctx.now).await?;
            Ok(private(if changed {
                "🔔 Nudges are on: when a schedule runs and you're behind pace (or logged nothing that \
                 working day), I'll DM you a short catch-up plan. `/nudges off` stops them."
            } else {
                "🔔 Your nudges were already on. `/nudges off` stops them any time."
            }))
        }
        Some("status") => {
            let settings = ctx.settings().await?;
            Ok(private(match ctx.app.nudges_off_since(guild, user).await? {
                Some(since) => format!(
                    "🔕 Your nudges are off (since {}). `/nudges on` turns them back on.",
                    since.with_timezone(&settings.timezone).format("%a %d %b %Y")
                ),
                None => format!(
                    "🔔 Your nudges are on: DMs come only on working days, {} ({} time). \
                     `/nudges off` stops them.",
                    settings.working_hours,
                    settings.timezone.name()
                ),
            }))
        }
        _ => Err(AppError::User("use /nudges off, /nudges on or /nudges status".into())),
    }
}

/// The schedule's `threshold` (1..=100 points of attainment), or the default.
fn threshold(s: &ScheduleRow) -> u32 {
    let raw = s.params.get("threshold");
    raw.and_then(serde_json::Value::as_u64)
        .or_else(|| raw.and_then(serde_json::Value::as_str).and_then(|t| t.trim().parse().ok()))
        .filter(|t| (1..=100).contains(t))
        .map_or(DEFAULT_THRESHOLD, |t| t as u32)
}

/// The schedule's `team` as a team id: `Ok(None)` for every team, `Err(())` when the team named
/// no longer exists (the schedule then sends nothing rather than nudge everyone).
async fn team_filter(app: &App, s: &ScheduleRow) -> AppResult<Result<Option<i64>, ()>> {
    let Some(name) = s.params.get("team").and_then(|t| t.as_str()) else {
        return Ok(Ok(None));
    };
    match app.team_named(Snowflake::new(s.guild_id as u64)?, name).await? {
        Some(team) => Ok(Ok(Some(team.id))),
        None => {
            tracing::warn!(schedule = s.id, team = name, "the schedule's team no longer exists; nothing sent");
            Ok(Err(()))
        }
    }
}

/// A `nudges` schedule at `slot`: one DM per rep behind pace (all their goals in it), or with
/// `to:team-channel` one post per team behind pace in its channel and no DMs.
pub(super) async fn nudge_posts(app: &App, s: &ScheduleRow, slot: DateTime<Utc>) -> AppResult<Vec<Outgoing>> {
    let guild = Snowflake::new(s.guild_id as u64)?;
    let Ok(team) = team_filter(app, s).await? else {
        return Ok(Vec::new());
    };
    let settings = app.settings(guild).await?;
    let money = settings.money();
    // A team's post is read by its whole channel; a DM about a rep's own goals only by them.
    let amounts = super::everyone_sees_money(&settings);
    let threshold = threshold(s);
    if s.params.get("to").and_then(|t| t.as_str()) == Some("team-channel") {
        return match app.teams_behind(guild, team, threshold, slot).await? {
            Err(quiet) => {
                tracing::info!(schedule = s.id, slot = %slot, %quiet, "no team nudges: outside working time");
                Ok(Vec::new())
            }
            Ok(teams) => Ok(teams
                .into_iter()
                .map(|t| Outgoing {
                    to: Recipient::Channel(t.team.channel_id.unwrap_or(s.channel_id)),
                    key: format!("team:{}", t.team.id),
                    message: team_nudge(&t.team.name, &t.goals, t.reps_behind, threshold, money, amounts),
                    marks: Vec::new(),
                })
                .collect()),
        };
    }
    match app.reps_behind(guild, team, threshold, slot).await? {
        Err(quiet) => {
            tracing::info!(schedule = s.id, slot = %slot, %quiet, "no nudges: outside working time");
            Ok(Vec::new())
        }
        Ok(reps) => Ok(reps
            .into_iter()
            .map(|r| Outgoing {
                to: Recipient::Dm(r.user),
                key: format!("user:{}", r.user),
                message: rep_nudge(&r.name, &r.goals, money),
                marks: Vec::new(),
            })
            .collect()),
    }
}

/// A `hygiene` schedule at `slot`: one DM per rep (on the schedule's team, when it names one)
/// who logged nothing that working day, or who owns open deals breaking a hygiene rule they were
/// not told of yet, or both in one DM. Quiet outside working time; never to a rep who opted out.
pub(super) async fn hygiene_posts(app: &App, s: &ScheduleRow, slot: DateTime<Utc>) -> AppResult<Vec<Outgoing>> {
    let guild = Snowflake::new(s.guild_id as u64)?;
    let Ok(team) = team_filter(app, s).await? else {
        return Ok(Vec::new());
    };
    let (day, idle) = match app.reps_without_activity(guild, team, slot).await? {
        Err(quiet) => {
            tracing::info!(schedule = s.id, slot = %slot, %quiet, "no reminders: outside working time");
            return Ok(Vec::new());
        }
        Ok(found) => found,
    };
    let deals = app.hygiene_for_reps(guild, team, slot).await?.unwrap_or_default();
    let money = app.settings(guild).await?.money();
    let pipeline = app.pipeline(guild).await?;
    let stage_name = |position: i64| {
        pipeline
            .stages()
            .iter()
            .find(|s| s.position == position)
            .map_or_else(|| format!("stage {position}"), |s| s.name.to_string())
    };
    let crm_base = if deals.iter().flat_map(|r| &r.deals).any(|c| c.deal.crm_id.is_some()) {
        app.crm_deal_base(guild).await?
    } else {
        None
    };
    let crm_writes = crm_base.is_some() && app.crm_writes(guild).await?;
    let crm_url = |id: &str| {
        // Pipedrive's ids are numbers; anything else is not put into a link.
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .then(|| crm_base.as_ref().map(|b| format!("{b}{id}")))
            .flatten()
    };
    let mut by_user: std::collections::BTreeMap<u64, (Option<String>, Option<&crate::app::hygiene::RepHygiene>)> =
        std::collections::BTreeMap::new();
    for m in &idle {
        by_user.entry(m.user_id).or_default().0 = Some(m.user_name.clone());
    }
    for rep in &deals {
        by_user.entry(rep.user).or_default().1 = Some(rep);
    }
    Ok(by_user
        .into_iter()
        .map(|(user, (idle_name, rep))| {
            let (mut message, marks) = match rep {
                Some(rep) => super::hygiene::rep_dm(rep, guild, money, &stage_name, &crm_url, crm_writes),
                None => (Message::default(), Vec::new()),
            };
            if let Some(name) = idle_name {
                message.content = Some(format!(
                    "👋 Hi {} — nothing logged for today ({}) yet. Calls, emails, meetings? \
                     `/log kind:call` takes a few seconds, and every one counts toward your numbers.\n\
                     -# Don't want these? `/nudges off`",
                    super::clip(&name, 80),
                    day.format("%a %-d %b")
                ));
            }
            Outgoing { to: Recipient::Dm(user), key: format!("user:{user}"), message, marks }
        })
        .collect())
}

/// Pending milestones rendered as posts for their team channel; `None` for one that can no longer
/// be posted (its team is gone), which the scheduler retires without posting.
pub async fn milestone_posts(app: &App, limit: usize) -> AppResult<Vec<(Milestone, Option<Outgoing>)>> {
    let mut out = Vec::new();
    for m in app.pending_milestones(limit).await? {
        let who = match m.key.subject {
            GoalSubject::Member(user) => Some(format!("<@{user}>")),
            GoalSubject::Team(team) => app
                .teams(Snowflake::new(m.guild_id as u64)?)
                .await?
                .into_iter()
                .find(|t| t.id == team)
                .map(|t| format!("Team **{}**", super::clip(&t.name, 100))),
            GoalSubject::Guild => None,
        };
        let settings = app.settings(Snowflake::new(m.guild_id as u64)?).await?;
        // A rep's milestone too is posted to the channel, where everyone reads it.
        let amounts = super::everyone_sees_money(&settings);
        let post = who.zip(m.channel_id).map(|(who, channel)| Outgoing {
            to: Recipient::Channel(channel),
            key: m.unique_key(),
            message: milestone_message(&who, &m, settings.money(), amounts),
            marks: Vec::new(),
        });
        out.push((m, post));
    }
    Ok(out)
}

fn milestone_message(who: &str, m: &Milestone, money: Money, amounts: bool) -> Message {
    let metric = &m.key.metric;
    let their = if matches!(m.key.subject, GoalSubject::Team(_)) { "its" } else { "their" };
    let goal = format!("{their} {}ly {} goal", m.key.period, goal_word(metric));
    let hidden = !amounts && metric.is_money();
    let score = if hidden {
        format!("**{}**", crate::domain::kpi::percent_of(m.actual, m.target))
    } else {
        format!("**{}** of {}", metric.show(m.actual, money), show(metric, m.target, money))
    };
    let (title, text) = if m.level >= 100 {
        ("🏆 Goal reached!", format!("{who} hit {goal}: {score}. Huge! 🎉"))
    } else {
        ("🔥 Halfway there!", format!("{who} is halfway to {goal}: {score}. Keep it rolling!"))
    };
    Message {
        embeds: vec![Embed {
            title: Some(title.into()),
            description: Some(text),
            footer: super::with_note(
                Some(format!("Goal period from {}", m.first_day.format("%a %-d %b %Y"))),
                hidden.then_some(super::MONEY_PRIVATE),
            ),
            color: Some(MILESTONE_COLOR),
            ..Embed::default()
        }],
        ..Message::default()
    }
}

/// One DM to a rep with a line per goal they are behind on.
fn rep_nudge(name: &str, goals: &[GoalProgress], money: Money) -> Message {
    let lines: Vec<String> = goals
        .iter()
        .map(|p| format!("**{}** — {}", goal_title(p), catch_up(p, "You're", "you", money, true)))
        .collect();
    Message {
        embeds: vec![Embed {
            title: Some(format!("📈 {}, here's your catch-up plan", super::clip(name, 80))),
            description: Some(fit_lines(&lines, 0, LINES_BUDGET, "").0),
            footer: Some("You've got this. Don't want these DMs? /nudges off".into()),
            color: Some(NUDGE_COLOR),
            ..Embed::default()
        }],
        ..Message::default()
    }
}

/// One post in a team's channel with a line per team goal behind pace.
fn team_nudge(
    team: &str,
    goals: &[GoalProgress],
    reps_behind: usize,
    threshold: u32,
    money: Money,
    amounts: bool,
) -> Message {
    let mut lines: Vec<String> = goals
        .iter()
        .map(|p| format!("**{}** — {}", goal_title(p), catch_up(p, "The team is", "the team", money, amounts)))
        .collect();
    let hidden = !amounts && goals.iter().any(|p| p.key.metric.is_money());
    lines.push(match reps_behind {
        0 => format!(
            "No rep is more than {threshold} points behind on their own goals — a push from everyone closes it."
        ),
        1 => format!("1 rep is more than {threshold} points behind on their own goals."),
        n => format!("{n} reps are more than {threshold} points behind on their own goals."),
    });
    Message {
        embeds: vec![Embed {
            title: Some(format!("📣 Team {} is behind pace", super::clip(team, 100))),
            description: Some(fit_lines(&lines, 0, LINES_BUDGET, "").0),
            footer: super::with_note(
                Some("Every call counts — let's go! 💪".into()),
                hidden.then_some(super::MONEY_PRIVATE),
            ),
            color: Some(NUDGE_COLOR),
            ..Embed::default()
        }],
        ..Message::default()
    }
}

/// `You're at 20 of 100 calls (20%) — pace says 50 by now. 32/day over the 2.5 working days left
/// gets you there.` Without `amounts`, a money goal in shares of its target: `The team is at
/// **20%** of the goal — pace says 50% by now. **6.3% of the goal a day** over …`.
fn catch_up(p: &GoalProgress, subject: &str, object: &str, money: Money, amounts: bool) -> String {
    let m = &p.key.metric;
    if !amounts && m.is_money() {
        return catch_up_percent(p, subject, object);
    }
    let expected =
        p.pace.expected_by_now.map_or_else(String::new, |e| format!(" — pace says {} by now", m.show_f64(e, money)));
    let plan = match p.pace.required {
        Required::PerDay(rate) => format!(
            "**{}/day** over the {} working day{} left gets {object} there.",
            m.show_rate(rate, money),
            days(p.pace.left),
            if (p.pace.left - 1.0).abs() < 0.05 { "" } else { "s" }
        ),
        Required::Reached => "Target reached — nice work.".into(),
        Required::NoWorkingDaysLeft => "No working time is left in this period; the next one starts fresh.".into(),
    };
    format!(
        "{subject} at **{}** of {} ({}){expected}. {plan}",
        m.show(p.actual, money),
        show(m, p.target, money),
        p.pace.attainment_percent()
    )
}

/// [`catch_up`] for a money goal whose amounts the channel may not see.
fn catch_up_percent(p: &GoalProgress, subject: &str, object: &str) -> String {
    let expected = p
        .pace
        .expected_by_now
        .map_or_else(String::new, |e| format!(" — pace says {} by now", p.pace.percent_of_target(e)));
    let plan = match p.pace.required {
        Required::PerDay(_) => format!(
            "**{} of the goal a day** over the {} working day{} left gets {object} there.",
            p.pace.required_percent().unwrap_or_default(),
            days(p.pace.left),
            if (p.pace.left - 1.0).abs() < 0.05 { "" } else { "s" }
        ),
        Required::Reached => "Target reached — nice work.".into(),
        Required::NoWorkingDaysLeft => "No working time is left in this period; the next one starts fresh.".into(),
    };
    format!("{subject} at **{}** of the goal{expected}. {plan}", p.pace.attainment_percent())
}

/// `Calls this week`, `Revenue this month`.
fn goal_title(p: &GoalProgress) -> String {
    let word = goal_word(&p.key.metric);
    let mut title = word[..1].to_uppercase();
    title.push_str(&word[1..]);
    format!("{title} this {}", p.key.period)
}

/// What a goal counts, in the plural: `calls`, `points`, `revenue`, `deals won`.
fn goal_word(metric: &GoalMetric) -> String {
    match metric {
        GoalMetric::Points => "points".into(),
        GoalMetric::Revenue => "revenue".into(),
        GoalMetric::DealsWon => "deals won".into(),
        GoalMetric::Kind(kind) if kind.as_str().ends_with('s') => kind.to_string(),
        GoalMetric::Kind(kind) => format!("{kind}s"),
    }
}

/// A value with its unit: `20 calls`, `48 pts`, `1,200.00` (money carries no noun).
fn show(metric: &GoalMetric, value: i64, money: Money) -> String {
    match metric {
        GoalMetric::Revenue => metric.show(value, money),
        GoalMetric::Points => format!("{value} pts"),
        other => format!("{value} {}", goal_word(other)),
    }
}

/// Working days to one decimal, without a trailing `.0`: `3`, `2.5`.
fn days(d: f64) -> String {
    let tenths = (d.max(0.0) * 10.0).round() as i64;
    if tenths % 10 == 0 { (tenths / 10).to_string() } else { format!("{}.{}", tenths / 10, tenths % 10) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_left_read_as_people_say_them() {
        assert_eq!(days(3.0), "3");
        assert_eq!(days(2.5), "2.5");
        assert_eq!(days(0.291), "0.3");
        assert_eq!(days(-1.0), "0");
    }

    #[test]
    fn goal_words_are_plural_nouns() {
        assert_eq!(goal_word(&GoalMetric::parse("call").unwrap()), "calls");
        assert_eq!(goal_word(&GoalMetric::Points), "points");
        assert_eq!(show(&GoalMetric::parse("demo").unwrap(), 3, Money::default()), "3 demos");
        assert_eq!(show(&GoalMetric::Revenue, 120_000, Money::default()), "1,200.00\u{a0}USD");
    }
}
