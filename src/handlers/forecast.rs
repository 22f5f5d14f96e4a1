//! `/forecast [team] [period]`: won so far plus weighted pipeline, next to the goal and the run
//! rate, the part of the weighted pipeline on overdue or stale deals, with the cumulative chart
//! attached.

use super::format::clip;
use super::{Attachment, CommandCall, Ctx, Embed, Field, Message, Response};
use crate::app::AppResult;
use crate::charts::{CumulativeDay, cumulative};
use crate::domain::period::PeriodSpec;

const CHART: &str = "forecast.png";

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let spec = match call.string("period").map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => PeriodSpec::parse(p)?,
        None => PeriodSpec::ThisMonth,
    };
    let team = call.string("team").map(str::trim).filter(|t| !t.is_empty());
    let money = ctx.settings().await?.money();
    let r = ctx.app.forecast(ctx.inv.guild, team, &spec, ctx.now).await?;
    let f = &r.forecast;
    // A forecast is a team's or the server's money: under money:managers a rep reads it as shares
    // of the goal (or not at all without one), and without the chart, whose axis is money.
    let amounts = ctx.sees_others_money(false).await?;
    let format_money = |v: i64| match f.goal {
        _ if amounts => money.format(v),
        Some(goal) => format!("{} of goal", crate::domain::kpi::percent_of(v, goal)),
        None => "private".into(),
    };
    let who = r.team.as_deref().map_or("Everyone".to_string(), |t| format!("Team {t}"));
    let mut fields = vec![
        Field { name: "Won so far".into(), value: format_money(f.won), inline: true },
        Field {
            name: "Weighted pipeline".into(),
            value: format!(
                "{} ({} deal{} closing)",
                format_money(f.weighted_open),
                f.deals_in_period,
                if f.deals_in_period == 1 { "" } else { "s" }
            ),
            inline: true,
        },
        Field { name: "Forecast".into(), value: format!("**{}**", format_money(f.forecast)), inline: true },
        Field {
            name: "Run rate".into(),
            value: f.run_rate.map_or("— (no working time yet)".into(), format_money),
            inline: true,
        },
    ];
    if let Some(goal) = f.goal {
        let pct = crate::domain::kpi::percent_of(f.forecast, goal);
        fields.push(Field {
            name: "Goal".into(),
            value: format!(
                "{}forecast at {}{}",
                if amounts { format!("{} · ", money.format(goal)) } else { String::new() },
                pct,
                if f.forecast >= goal { " ✅" } else { "" }
            ),
            inline: true,
        });
    }
    // The part of the weighted pipeline a manager should not lean on (issue 17's hygiene rules).
    fields.push(Field {
        name: "On overdue or stale deals".into(),
        value: format!(
            "{} ({} · {} deal{})",
            format_money(f.weighted_overdue_or_stale),
            if f.weighted_open > 0 {
                crate::domain::kpi::percent_of(f.weighted_overdue_or_stale, f.weighted_open)
            } else {
                "—".into()
            },
            f.deals_overdue_or_stale,
            if f.deals_overdue_or_stale == 1 { "" } else { "s" }
        ),
        inline: true,
    });
    let mut notes = Vec::new();
    if f.overdue > 0 {
        notes.push(format!(
            "{} open deal{} past their close date (counted as closing today)",
            f.overdue,
            if f.overdue == 1 { " is" } else { "s are" }
        ));
    }
    if f.undated > 0 {
        notes.push(format!(
            "{} open deal{} without a close date left out",
            f.undated,
            if f.undated == 1 { "" } else { "s" }
        ));
    }
    let title = clip(&format!("📈 Forecast · {who} · {}", r.period.describe()), 256);
    let to_major = |v: i64| money.to_major(v as f64);
    let series: Vec<CumulativeDay> = f
        .series
        .iter()
        .map(|d| CumulativeDay {
            date: d.date,
            actual: d.actual.map(to_major),
            goal: d.goal.map(to_major),
            forecast: d.forecast.map(to_major),
        })
        .collect();
    let chart = if amounts {
        cumulative(&format!("{who} · cumulative revenue ({})", money.currency), &series).map(Some)
    } else {
        Ok(None)
    };
    let (image, attachments) = match chart {
        Ok(None) => (None, Vec::new()),
        Ok(Some(png)) => (
            Some(CHART.to_string()),
            vec![Attachment { filename: CHART.into(), data: png, description: Some(title.clone()) }],
        ),
        Err(e) => {
            tracing::error!(error = %e, "forecast chart");
            (None, Vec::new())
        }
    };
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(title),
            description: (!notes.is_empty()).then(|| notes.join("\n")),
            fields,
            footer: super::with_note(
                Some(
                    "Forecast = won + Σ(open deal value × stage probability) for deals expected to close in the period"
                        .into(),
                ),
                (!amounts).then_some(super::MONEY_PRIVATE),
            ),
            color: Some(0x2f80ed),
            image,
        }],
        attachments,
        ephemeral: true,
        ..Message::default()
    }))
}
