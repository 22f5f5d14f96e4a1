//! `/me [period]`: your own numbers, only for you, with your goals' attainment and pace.

use super::format::fit_lines;
use super::{CommandCall, Ctx, Embed, Field, Message, Response, goal};
use crate::app::AppResult;
use crate::domain::kpi::Change;

/// Characters of the embed description the goal lines may use.
const GOALS_BUDGET: usize = 3000;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let spec = call.period()?;
    // With the goals of the period asked for when it is a whole week, month, quarter or year;
    // this week's and month's otherwise (see `App::goals_for_report`).
    let (report, goals) = ctx.app.member_report_and_goals(ctx.inv.guild, ctx.inv.user, &spec, ctx.now).await?;
    let money = ctx.settings().await?.money();
    let goal_lines = goal::detail_lines(&goals, ctx.now, money, true);
    let goal_text = (!goal_lines.is_empty()).then(|| fit_lines(&goal_lines, 0, GOALS_BUDGET, "").0);
    let Some(row) = &report.member else {
        let mut text = format!(
            "You have not logged anything yet. Start with `/log kind:call` — {} is empty for you.",
            report.period.describe()
        );
        if !goal_lines.is_empty() {
            // A plain message holds 2000 characters, the sentence above included.
            text.push_str(&format!("\n{}", fit_lines(&goal_lines, 0, 1500, "").0));
        }
        return Ok(super::private(text));
    };
    let mut fields = vec![Field {
        name: "Points".into(),
        value: format!("**{}** · {} vs previous", row.points, Change::new(row.points, row.previous_points).describe()),
        inline: true,
    }];
    if let (Some(team), Some((rank, mates))) = (&row.team, report.team_rank) {
        fields.push(Field {
            name: "Rank in team".into(),
            value: format!("#{rank} of {mates} in {team}"),
            inline: true,
        });
    }
    fields.push(Field { name: "Streak".into(), value: super::format::streak(row.streak as i64), inline: true });
    let counts: Vec<String> = row.counts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
    fields.push(Field {
        name: "Activities".into(),
        value: if counts.is_empty() { "none yet".into() } else { counts.join(" · ") },
        inline: false,
    });
    if row.deals_won + row.deals_lost > 0 {
        fields.push(Field { name: "Revenue".into(), value: money.format(row.revenue_cents), inline: true });
        fields.push(Field {
            name: "Deals".into(),
            value: format!(
                "{} won · {} lost · win rate {}",
                row.deals_won,
                row.deals_lost,
                row.win_rate.map_or("-".into(), crate::domain::kpi::percent)
            ),
            inline: true,
        });
        if let Some(avg) = row.average_deal_cents {
            fields.push(Field { name: "Average deal".into(), value: money.format(avg), inline: true });
        }
    }
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(format!("Your numbers · {}", report.period.describe())),
            description: goal_text,
            fields,
            footer: Some(format!(
                "Compared with {} – {}",
                report.previous_period.first_day, report.previous_period.last_day
            )),
            color: Some(0x2f80ed),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}
