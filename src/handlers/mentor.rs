//! `/mentor suggest [team] [period]`: for managers. For each rep, the stage they convert worst at
//! and the teammate who converts best there, with both numbers.

use super::format::{clip, fit_lines};
use super::{CommandCall, Ctx, Embed, Message, Response};
use crate::app::{AppError, AppResult};
use crate::domain::period::PeriodSpec;
use crate::domain::pipeline::{MIN_SAMPLE, Step, TREND_PERIODS};

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    if call.sub.as_deref() != Some("suggest") {
        return Err(AppError::User("use /mentor suggest".into()));
    }
    let team = call.string("team").map(str::trim).filter(|t| !t.is_empty());
    let spec = call.string("period").map(str::trim).filter(|p| !p.is_empty()).map(PeriodSpec::parse).transpose()?;
    let report = ctx.app.mentor_suggestions(ctx.inv.guild, team, spec.as_ref(), ctx.now).await?;
    let mut lines = Vec::new();
    for t in &report.teams {
        if t.lines.is_empty() && t.thin.is_empty() && t.process.is_empty() {
            continue;
        }
        lines.push(format!("**{}**", clip(&t.team, 100)));
        for f in &t.process {
            lines.push(format!(
                "• *{}*: the process, not one rep ({}); left out of the pairings",
                clip(&f.step.label(), 60),
                f.describe(report.trend_noun, "team")
            ));
        }
        for l in &t.lines {
            let mentor = match &l.mentor {
                Some((name, step)) => format!("→ ask **{}**: {}", clip(name, 40), numbers(step)),
                None => "→ no teammate converts better there yet".to_string(),
            };
            lines.push(format!(
                "• **{}** converts worst at *{}*: {} {mentor}",
                clip(&l.rep, 40),
                clip(&l.step.label(), 60),
                numbers(&l.step)
            ));
        }
        if !t.thin.is_empty() {
            let names: Vec<String> = t.thin.iter().map(|n| clip(n, 40)).collect();
            lines.push(format!("• not enough deals yet: {}", clip(&names.join(", "), 600)));
        }
    }
    let description = if lines.is_empty() {
        "No teams with reps yet. Add them with `/team add`.".to_string()
    } else {
        fit_lines(&lines, 0, 4096, "").0
    };
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some(clip(&format!("Mentor suggestions · deals opened {}", report.period.describe()), 256)),
            description: Some(description),
            footer: Some(format!(
                "A stage counts once at least {MIN_SAMPLE} of the rep's deals reached it, for the mentor too; a \
                 skipped stage counts as reached. A stage where most reps convert below the server's rate of the \
                 year before, or where the team's rate fell {TREND_PERIODS} periods running, is the process's, \
                 not one rep's."
            )),
            color: Some(0x9b59b6),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

/// `1/4 (25%)`: deals that moved on out of deals that reached the stage.
fn numbers(step: &Step) -> String {
    step.rate().map_or("-".to_string(), |r| format!("{}/{} ({})", r.num, r.den, r.percent()))
}
