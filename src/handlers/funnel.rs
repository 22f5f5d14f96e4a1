//! `/funnel [user|team|server] [period]`: stage conversion, win rate, deal size, cycle time and
//! velocity of a rep next to their team (a team next to all teams, the whole server next to its own
//! year before), with the stage that lags most. A rep may look at their own funnel; anyone else's
//! is for managers.

use super::format::{clip, table};
use super::{CommandCall, Ctx, Embed, Field, Message, Response};
use crate::app::deals::FunnelSubject;
use crate::app::{AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::period::PeriodSpec;
use crate::domain::pipeline::{MIN_SAMPLE, Ratio, Step};

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let guild_money = ctx.settings().await?.money();
    let user = call.user("user");
    let team = call.string("team").map(str::trim).filter(|t| !t.is_empty());
    let server = call.boolean("server").unwrap_or(false);
    let subject = match (user, team, server) {
        (Some(_), Some(_), _) => return Err(AppError::User("choose a rep or a team, not both".into())),
        (Some(_), None, true) | (None, Some(_), true) => {
            return Err(AppError::User("`server:True` is the whole server's funnel: leave out the rep or team".into()));
        }
        (None, None, true) => FunnelSubject::Server,
        (_, Some(team), false) => FunnelSubject::Team(team.to_string()),
        (Some(u), None, false) => FunnelSubject::Rep(Snowflake::new(u)?),
        (None, None, false) => FunnelSubject::Rep(ctx.inv.user),
    };
    if subject != FunnelSubject::Rep(ctx.inv.user) {
        ctx.require_manager().await.map_err(|_| {
            AppError::User(
                "only managers can see another rep's, a team's or the server's funnel; `/funnel` shows yours".into(),
            )
        })?;
    }
    // A week rarely closes a deal; a quarter is the shortest span a funnel says much about.
    let spec = match call.string("period").map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => PeriodSpec::parse(p)?,
        None => PeriodSpec::ThisQuarter,
    };
    let own = subject == FunnelSubject::Rep(ctx.inv.user);
    let a_rep = matches!(subject, FunnelSubject::Rep(_));
    // The benchmark (a team, or all teams) is others' money; a rep's own funnel is theirs.
    let their_amounts = ctx.sees_others_money(false).await?;
    let my_amounts = own || their_amounts;
    let r = ctx.app.funnel(ctx.inv.guild, subject, &spec, ctx.now).await?;
    let me = if own { "You".to_string() } else { clip(&r.subject, 16) };
    let them = clip(&r.benchmark, 16);

    let mut rows = vec![vec!["Stage".to_string(), me.clone(), them.clone()]];
    for (mine, theirs) in r.mine.steps.iter().zip(&r.theirs.steps) {
        rows.push(vec![clip(&mine.label(), 30), cell(mine), cell(theirs)]);
    }
    let description = if r.mine.deals == 0 {
        format!("No deals opened in this period for {}. Deals count from `/deal open`.", clip(&r.subject, 100))
    } else {
        format!("```\n{}\n```", table(&rows, &[0]).join("\n"))
    };
    let pair = |a: String, b: String| format!("{a} · {them}: {b}");
    let rate = |x: Option<Ratio>, n: u64| x.map_or("-".to_string(), |x| format!("{} ({}/{})", x.percent(), x.num, n));
    let money = |x: Option<i64>, shown: bool| match x {
        Some(v) if shown => guild_money.format(v),
        Some(_) => "private".to_string(),
        None => "-".to_string(),
    };
    let days = |x: Option<f64>| x.map_or("-".to_string(), |d| format!("{d:.1} days"));
    let speed = |x: Option<f64>, shown: bool| match x {
        Some(v) if shown => format!("{}/day", guild_money.format_f64(v)),
        Some(_) => "private".to_string(),
        None => "-".to_string(),
    };
    let mut fields = vec![
        Field {
            name: "Deals".into(),
            value: pair(
                format!("{} ({} open)", r.mine.deals, r.mine.open),
                format!("{} ({} open)", r.theirs.deals, r.theirs.open),
            ),
            inline: false,
        },
        Field {
            name: "Win rate".into(),
            value: pair(
                rate(r.mine.win_rate(), r.mine.won + r.mine.lost),
                rate(r.theirs.win_rate(), r.theirs.won + r.theirs.lost),
            ),
            inline: false,
        },
        Field {
            name: "Average deal size".into(),
            value: pair(
                money(r.mine.average_deal_size(), my_amounts),
                money(r.theirs.average_deal_size(), their_amounts),
            ),
            inline: false,
        },
        Field {
            name: "Average cycle (open → closed)".into(),
            value: pair(days(r.mine.average_cycle_days()), days(r.theirs.average_cycle_days())),
            inline: false,
        },
        Field {
            name: "Sales velocity".into(),
            value: format!(
                "{} (per rep)",
                pair(speed(r.my_velocity, my_amounts), speed(r.their_velocity, their_amounts))
            ),
            inline: false,
        },
    ];
    let gap = match &r.gap {
        Some(g) => format!(
            "**{}**: {} against {} for {them}, {} points below.",
            clip(&g.step.label(), 70),
            cell(&g.step),
            cell(&g.benchmark),
            g.shown_points_below()
        ),
        None => format!(
            "No stage where {} below {them} with at least {MIN_SAMPLE} deals reaching it.",
            if own { "you convert".to_string() } else { format!("{me} converts") }
        ),
    };
    // A gap at a stage where the whole team stalls is not this rep's to fix alone.
    let gap = match &r.gap {
        Some(g) if a_rep && r.process.iter().any(|f| f.step.from == g.step.from) => {
            format!("{gap} The whole team stalls there too: the process, not one rep.")
        }
        _ => gap,
    };
    fields.push(Field { name: "Furthest below".into(), value: gap, inline: false });
    if !r.process.is_empty() {
        let lines: Vec<String> = r
            .process
            .iter()
            .map(|f| {
                format!(
                    "**{}** ({}): {}",
                    clip(&f.step.label(), 70),
                    cell(&f.step),
                    f.describe(r.trend_noun, r.trend_group)
                )
            })
            .collect();
        fields.push(Field {
            name: clip(&format!("The process, not one rep · {}", r.process_of), 256),
            value: super::format::fit_lines(&lines, 0, 1000, "").0,
            inline: false,
        });
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(clip(&format!("Funnel · {} · {}", r.subject, r.period.describe()), 256)),
            description: Some(description),
            fields,
            footer: super::with_note(
                Some(format!(
                    "Deals opened in the period; a skipped stage counts as reached. Velocity = open deals × win \
                     rate × average deal size ÷ average cycle in days. Stages with fewer than {MIN_SAMPLE} deals \
                     are not judged."
                )),
                (!their_amounts).then_some(super::GROUP_MONEY_PRIVATE),
            ),
            color: Some(0xe67e22),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

/// `3/4 75%`, or `-` when no deal reached the stage.
fn cell(step: &Step) -> String {
    step.rate().map_or("-".to_string(), |r| format!("{}/{} {}", r.num, r.den, r.percent()))
}
