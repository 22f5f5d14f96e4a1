//! `/hygiene show|rules` (managers): open deals and pipeline value breaking each hygiene rule, per
//! team and per rep, with the share of this month's forecast resting on them and the trend since
//! last week; the guild's rules and a manager's changes to them. Also the hygiene DM a rep gets
//! from the `hygiene` schedule (their deals that break a rule) and its buttons.

use chrono::NaiveDate;

use super::format::{clip, fit_lines};
use super::{Button, ButtonStyle, CommandCall, Ctx, Embed, Field, Message, Modal, Response, TextInput, private};
use crate::app::hygiene::{DealCheck, HygieneDeal, HygieneReport, HygieneRow, Push, RepHygiene, RulesChange};
use crate::app::{AppError, AppResult};
use crate::domain::activity::Snowflake;
use crate::domain::hygiene::{Facts, HygieneRules, MAX_STEP_CHARS, Rule, Tally};
use crate::domain::money::Money;

/// The custom_id prefix of the buttons on a hygiene DM.
pub const PREFIX: &str = "hyg";
const COLOR: u32 = 0x16a085;
/// Deals listed with buttons in one DM: one action row each, and Discord allows five rows.
pub const DM_DEALS: usize = 5;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    match call.sub.as_deref() {
        Some("show") => show(ctx, call).await,
        Some("rules") => rules(ctx, call).await,
        _ => Err(AppError::User("use /hygiene show or /hygiene rules".into())),
    }
}

/// What a rule means, for a manager.
fn meaning(rule: Rule, rules: &HygieneRules) -> String {
    match rule {
        Rule::Overdue => "the expected close date has passed".into(),
        Rule::Stale => {
            let mut text = format!("no stage change and no activity for more than {} days", rules.stale_default());
            let own: Vec<String> = rules.stale_overrides().map(|(s, d)| format!("{s}: {d}")).collect();
            if !own.is_empty() {
                text.push_str(&format!(" ({})", own.join(", ")));
            }
            text
        }
        Rule::MissingData => "no expected close date or no value".into(),
        Rule::MovedBack => "the deal jumped stages backwards".into(),
        Rule::NoNextActivity => "a CRM deal with no next activity planned".into(),
    }
}

/// `Overdue`, `Missing data`: a rule's name as a heading.
fn heading(rule: Rule) -> &'static str {
    match rule {
        Rule::Overdue => "Overdue",
        Rule::Stale => "Stale",
        Rule::MissingData => "Missing data",
        Rule::MovedBack => "Moved back",
        Rule::NoNextActivity => "No next activity",
    }
}

fn rules_message(rules: &HygieneRules, changed: bool) -> Response {
    let lines: Vec<String> = Rule::ALL
        .iter()
        .map(|r| {
            let mark = if rules.is_enabled(*r) { "✅" } else { "⏸️" };
            format!("{mark} **{r}** — {}", meaning(*r, rules))
        })
        .collect();
    Response::Message(Message {
        embeds: vec![Embed {
            title: Some(if changed { "🧹 Hygiene rules changed" } else { "🧹 Hygiene rules" }.into()),
            description: Some(lines.join("\n")),
            footer: Some(
                "Change: /hygiene rules rule:stale on:false · stale-days:10 · stale-days:5 stage:demo · \
                 stage:demo reset:true"
                    .into(),
            ),
            color: Some(COLOR),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    })
}

async fn rules(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let rule = call.string("rule").map(str::trim).filter(|r| !r.is_empty());
    let stage = call.string("stage").map(str::trim).filter(|s| !s.is_empty());
    let days = call.integer("stale-days");
    let reset = call.boolean("reset") == Some(true);
    let on = call.boolean("on");
    let mut changes = Vec::new();
    match (rule, on) {
        (Some(rule), Some(on)) => changes.push(RulesChange::Enable { rule: rule.to_string(), on }),
        (Some(rule), None) => {
            return Err(AppError::User(format!(
                "say whether to turn `{}` on or off: add on:true or on:false",
                clip(rule, 40)
            )));
        }
        (None, Some(_)) => return Err(AppError::User("say which rule to turn on or off with rule:".into())),
        (None, None) => {}
    }
    match (days, stage, reset) {
        (Some(_), _, true) => {
            return Err(AppError::User("give stale-days or reset, not both".into()));
        }
        (Some(days), stage, false) => {
            changes.push(RulesChange::StaleDays { stage: stage.map(str::to_string), days: days.to_string() });
        }
        (None, Some(stage), true) => changes.push(RulesChange::ResetStage(stage.to_string())),
        (None, None, true) => {
            return Err(AppError::User("say which stage goes back to the default with stage:".into()));
        }
        (None, Some(stage), false) => {
            return Err(AppError::User(format!(
                "give stale-days to set `{}`'s limit, or reset:true to give it the default back",
                clip(stage, 32)
            )));
        }
        (None, None, false) => {}
    }
    match changes.len() {
        0 => Ok(rules_message(&ctx.app.hygiene_rules(ctx.inv.guild).await?, false)),
        1 => {
            let change = changes.remove(0);
            let rules = ctx.app.change_hygiene_rules(ctx.inv.guild, change, ctx.actor(), ctx.now).await?;
            Ok(rules_message(&rules, true))
        }
        _ => Err(AppError::User("one change at a time: a rule on or off, or a stale limit".into())),
    }
}

/// `3 deals · 12,000.00`, or the count alone where amounts are private.
fn cell(t: &Tally, money: Money, amounts: bool) -> String {
    let deals = format!("{} deal{}", t.deals, if t.deals == 1 { "" } else { "s" });
    if amounts { format!("{deals} · {}", money.format(t.value)) } else { deals }
}

/// ` (was 5)`, or nothing without a trend or when nothing changed.
fn was(now: &Tally, before: Option<&Tally>) -> String {
    match before {
        Some(b) if b.deals != now.deals => format!(" (was {})", b.deals),
        _ => String::new(),
    }
}

/// One line per team or rep: its deals breaking a rule, the value, and each rule's deals and
/// value (values only where the reader may see others' money).
fn row_line(row: &HygieneRow, rules: &HygieneRules, money: Money, amounts: bool) -> String {
    let t = &row.now;
    let per_rule: Vec<String> = Rule::ALL
        .iter()
        .filter(|r| rules.is_enabled(**r) && t.rule(**r).deals > 0)
        .map(|r| {
            let tally = t.rule(*r);
            if amounts {
                format!("{r} {} ({})", tally.deals, money.format(tally.value))
            } else {
                format!("{r} {}", tally.deals)
            }
        })
        .collect();
    // The share of its weighted pipeline on flagged deals: how much of its forecast to doubt.
    let weighted = share(t.broken.weighted, t.open.weighted);
    let value = if amounts {
        format!(" · {} ({weighted} of weighted)", money.format(t.broken.value))
    } else {
        format!(" · {weighted} of weighted")
    };
    format!(
        "**{}** · {} of {} open{value}{}{}{}",
        clip(&row.name, 60),
        t.broken.deals,
        t.open.deals,
        if per_rule.is_empty() { String::new() } else { format!(" · {}", per_rule.join(", ")) },
        was(&t.broken, row.before.as_ref().map(|b| &b.broken)),
        if t.broken.deals == 0 { " ✅" } else { "" }
    )
}

/// `18%` of a part in a whole, or `—` without a whole.
fn share(part: i64, whole: i64) -> String {
    if whole <= 0 { "—".into() } else { crate::domain::kpi::percent_of(part, whole) }
}

fn report_message(r: &HygieneReport, money: Money, amounts: bool) -> Message {
    let t = &r.total.now;
    let mut lines = vec![if amounts {
        format!(
            "**{}** of {} open deals break a rule: **{}** of {} in pipeline ({} of the weighted pipeline).",
            t.broken.deals,
            t.open.deals,
            money.format(t.broken.value),
            money.format(t.open.value),
            share(t.broken.weighted, t.open.weighted)
        )
    } else {
        format!(
            "**{}** of {} open deals break a rule ({} of the weighted pipeline).",
            t.broken.deals,
            t.open.deals,
            share(t.broken.weighted, t.open.weighted)
        )
    }];
    lines.push(if amounts {
        format!(
            "**{}** of this month's forecast ({} of {}) rests on them.",
            share(r.forecast_on_broken, r.forecast),
            money.format(r.forecast_on_broken),
            money.format(r.forecast)
        )
    } else {
        format!("**{}** of this month's forecast rests on them.", share(r.forecast_on_broken, r.forecast))
    });
    lines.push(match (&r.total.before, r.trend_from) {
        (Some(b), Some(day)) => {
            let diff = t.broken.deals as i64 - b.broken.deals as i64;
            let value = if amounts {
                format!(" · {} → {}", money.format(b.broken.value), money.format(t.broken.value))
            } else {
                String::new()
            };
            format!(
                "Since {}: {} → {} deals breaking a rule ({}{diff}){value}",
                day.format("%a %-d %b"),
                b.broken.deals,
                t.broken.deals,
                if diff > 0 { "+" } else { "" }
            )
        }
        _ => "No trend yet: rally keeps a figure each day `/hygiene show` or the hygiene schedule runs, and \
              compares with the one from a week before."
            .into(),
    });
    let mut fields: Vec<Field> = Rule::ALL
        .iter()
        .filter(|rule| r.rules.is_enabled(**rule))
        .map(|rule| {
            let now = t.rule(*rule);
            let before = r.total.before.as_ref().map(|b| b.rule(*rule));
            Field {
                name: heading(*rule).into(),
                value: format!("{}{}", cell(&now, money, amounts), was(&now, before.as_ref())),
                inline: true,
            }
        })
        .collect();
    for (name, rows) in [("Teams", &r.teams), ("Reps", &r.reps)] {
        if rows.is_empty() {
            continue;
        }
        let lines: Vec<String> = rows.iter().map(|row| row_line(row, &r.rules, money, amounts)).collect();
        fields.push(Field { name: name.into(), value: fit_lines(&lines, 0, 1000, "").0, inline: false });
    }
    let who = r.team.as_deref().map_or("Everyone".to_string(), |t| format!("Team {}", clip(t, 100)));
    Message {
        embeds: vec![Embed {
            title: Some(clip(&format!("🧹 Pipeline hygiene · {who}"), 256)),
            description: Some(lines.join("\n")),
            fields,
            footer: super::with_note(
                Some(format!(
                    "Open deals as of {} · a deal counts once under \"break a rule\" · rules: /hygiene rules",
                    r.today.format("%a %-d %b %Y")
                )),
                (!amounts).then_some(super::MONEY_PRIVATE),
            ),
            color: Some(COLOR),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }
}

async fn show(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let team = call.string("team").map(str::trim).filter(|t| !t.is_empty());
    let money = ctx.settings().await?.money();
    let amounts = ctx.sees_others_money(false).await?;
    let report = ctx.app.hygiene_report(ctx.inv.guild, team, ctx.now).await?;
    Ok(Response::Message(report_message(&report, money, amounts)))
}

// ---------------------------------------------------------------------------------------------
// The rep's DM

/// `closes Fri 20 Nov`, `no close date`.
fn close_text(close: Option<NaiveDate>) -> String {
    close.map_or_else(|| "no close date".to_string(), |c| format!("closes {}", c.format("%a %-d %b")))
}

/// What one breach says to the deal's owner.
fn breach_text(facts: &Facts, stage_name: &dyn Fn(i64) -> String) -> String {
    let days = |n: i64| if n == 1 { "1 day".to_string() } else { format!("{n} days") };
    match facts {
        Facts::Overdue { days: d, .. } => format!("⏰ close date passed {} ago", days(*d)),
        Facts::Stale { days: d, limit, .. } => {
            format!("💤 no stage change or activity for {} (limit {limit})", days(*d))
        }
        Facts::MissingData { close_date, value } => match (close_date, value) {
            (true, true) => "❓ no close date and no value".into(),
            (true, false) => "❓ no close date".into(),
            _ => "❓ no value".into(),
        },
        Facts::MovedBack { from, to, .. } => format!("↩️ moved back from {} to {}", stage_name(*from), stage_name(*to)),
        Facts::NoNextActivity { .. } => "📭 nothing planned next in the CRM".into(),
    }
}

/// A deal's buttons: push the close date, mark it lost, log the next step (a form). A deal the CRM
/// feeds gets them too where the connection writes to the CRM (`crm_writes`; the change is made
/// there, the next step as a CRM activity), and otherwise one link to the deal in the CRM.
fn deal_buttons(n: usize, d: &HygieneDeal, guild: Snowflake, crm_url: Option<&str>, crm_writes: bool) -> Vec<Button> {
    let link = |label: &str| {
        crm_url.map(|url| Button {
            custom_id: String::new(),
            label: format!("{n} · {label}"),
            style: ButtonStyle::Secondary,
            disabled: false,
            url: Some(url.to_string()),
        })
    };
    if d.crm_id.is_some() && !crm_writes {
        return link("Open in the CRM").into_iter().collect();
    }
    let from = d.expected_close.map_or_else(|| "-".to_string(), |c| c.format("%Y-%m-%d").to_string());
    let button = |what: &str, label: &str, style| Button {
        custom_id: match what {
            "week" | "eom" => format!("{PREFIX}:{what}:{guild}:{}:{from}", d.id),
            _ => format!("{PREFIX}:{what}:{guild}:{}", d.id),
        },
        label: format!("{n} · {label}"),
        style,
        disabled: false,
        url: None,
    };
    vec![
        button("week", "+1 week", ButtonStyle::Primary),
        button("eom", "End of month", ButtonStyle::Secondary),
        button("lost", "Lost", ButtonStyle::Danger),
        button("next", "Next step", ButtonStyle::Secondary),
    ]
}

/// The hygiene DM to one rep: their deals with untold breaches (the first [`DM_DEALS`] with
/// buttons), and the state keys it tells of. `nothing_logged`: the reminder line for a rep who
/// logged nothing that working day. `crm_url(id)`: the deal's page in the CRM; `crm_writes`:
/// whether the buttons of a CRM deal write to the CRM.
pub(super) fn rep_dm(
    rep: &RepHygiene,
    guild: Snowflake,
    money: Money,
    stage_name: &dyn Fn(i64) -> String,
    crm_url: &dyn Fn(&str) -> Option<String>,
    crm_writes: bool,
) -> (Message, Vec<String>) {
    let shown: Vec<&DealCheck> = rep.deals.iter().take(DM_DEALS).collect();
    let mut lines = Vec::new();
    let mut buttons = Vec::new();
    let mut row_sizes = Vec::new();
    let mut marks = Vec::new();
    for (i, c) in shown.iter().enumerate() {
        let d = &c.deal;
        let why: Vec<String> = c.breaches.iter().map(|b| breach_text(&b.facts, stage_name)).collect();
        lines.push(format!(
            "**{}. {}** · {} · {} · {}\n{}",
            i + 1,
            clip(&d.name, 60),
            d.stage,
            money.format(d.value),
            close_text(d.expected_close),
            why.join(" · ")
        ));
        let row = deal_buttons(i + 1, d, guild, d.crm_id.as_deref().and_then(crm_url).as_deref(), crm_writes);
        if !row.is_empty() {
            row_sizes.push(row.len());
            buttons.extend(row);
        }
        marks.extend(c.breaches.iter().map(|b| b.state_key()));
    }
    let more = rep.deals.len() - shown.len();
    if more > 0 {
        lines.push(format!("… and {more} more: `/deal list` shows them all."));
    }
    let n = rep.deals.len();
    let message = Message {
        embeds: vec![Embed {
            title: Some(clip(
                &format!("🧹 {}, {n} deal{} to tidy up", clip(&rep.name, 80), if n == 1 { "" } else { "s" }),
                256,
            )),
            description: Some(fit_lines(&lines, 0, 3800, "").0),
            footer: Some("A current pipeline makes a forecast people trust. Don't want these DMs? /nudges off".into()),
            color: Some(COLOR),
            ..Embed::default()
        }],
        buttons,
        row_sizes,
        ..Message::default()
    };
    (message, marks)
}

/// Presses on a hygiene DM's buttons: `hyg:week|eom:GUILD:DEAL:FROM`, `hyg:lost|next:GUILD:DEAL`.
/// Only the deal's owner may; each press is answered privately, "next" with a form (see
/// [`submit`]).
pub async fn button(ctx: &Ctx<'_>, custom_id: &str) -> AppResult<Response> {
    let parts: Vec<&str> = custom_id.split(':').collect();
    let bad = || AppError::User("this button is not one rally made".into());
    let (what, guild, deal) = match parts.as_slice() {
        [PREFIX, what, guild, deal, ..] => (*what, *guild, *deal),
        _ => return Err(bad()),
    };
    let guild: u64 = guild.parse().map_err(|_| bad())?;
    let deal: i64 = deal.parse().map_err(|_| bad())?;
    if guild != ctx.inv.guild.get() {
        return Err(bad());
    }
    let record = ctx
        .app
        .deal_by_id(ctx.inv.guild, deal)
        .await?
        .filter(|d| d.user_id == ctx.inv.user.get())
        .ok_or_else(|| AppError::User("that deal is not one of yours any more".into()))?;
    if let Some(outcome) = record.outcome {
        return Ok(private(format!("`{}` is already {}: nothing to do.", clip(&record.name, 60), outcome.as_str())));
    }
    match what {
        "week" | "eom" => {
            let from = match parts.get(4) {
                Some(&"-") => None,
                Some(day) => Some(NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| bad())?),
                None => return Err(bad()),
            };
            let push = if what == "week" { Push::Week } else { Push::EndOfMonth };
            let (after, changed) =
                ctx.app.push_close_date(ctx.inv.guild, ctx.inv.user, deal, from, push, ctx.now).await?;
            let close = after.expected_close.map_or("none".to_string(), |c| c.format("%a %-d %b %Y").to_string());
            Ok(private(if changed {
                format!("📅 `{}` now closes {close}.", clip(&after.name, 60))
            } else {
                format!("`{}` already had its close date changed: it closes {close}.", clip(&after.name, 60))
            }))
        }
        "lost" => {
            let name = ctx
                .app
                .lose_from_dm(ctx.inv.guild, ctx.inv.user, deal, format!("{PREFIX}:{}", ctx.inv.id), ctx.now)
                .await?;
            Ok(private(format!(
                "❌ `{}` is marked lost. Better to know — it no longer props up the forecast.",
                clip(&name, 60)
            )))
        }
        "next" => Ok(step_form(guild, deal, &record.name)),
        _ => Err(bad()),
    }
}

/// The custom_id of a next-step form's "what" input.
const STEP_WHAT: &str = "what";
/// The custom_id of a next-step form's "due" input.
const STEP_DUE: &str = "due";

/// The form the "Next step" button opens: `hyg:step:GUILD:DEAL`, what (required, at most
/// [`MAX_STEP_CHARS`]) and when it is due (optional).
fn step_form(guild: u64, deal: i64, name: &str) -> Response {
    Response::Modal(Modal {
        custom_id: format!("{PREFIX}:step:{guild}:{deal}"),
        title: clip(&format!("Next step · {name}"), 45),
        inputs: vec![
            TextInput {
                custom_id: STEP_WHAT.into(),
                label: "What's next?".into(),
                required: true,
                max_length: MAX_STEP_CHARS as u16,
                placeholder: Some("Demo with their CTO".into()),
            },
            TextInput {
                custom_id: STEP_DUE.into(),
                label: "Due (today, tomorrow or 2026-12-15)".into(),
                required: false,
                max_length: 20,
                placeholder: Some("optional".into()),
            },
        ],
    })
}

/// A submitted next-step form (`hyg:step:GUILD:DEAL`, see [`step_form`]): records the step on the
/// deal (in the CRM for a CRM deal whose connection writes) and answers privately with what was
/// recorded. Only the deal's owner may; the interaction id keeps a resubmission from recording
/// twice; a bad date is a friendly error that changes nothing.
pub async fn submit(ctx: &Ctx<'_>, custom_id: &str, fields: &[(String, String)]) -> AppResult<Response> {
    let bad = || AppError::User("this form is not one rally made".into());
    let (guild, deal) = match custom_id.split(':').collect::<Vec<_>>().as_slice() {
        [PREFIX, "step", guild, deal] => {
            (guild.parse::<u64>().map_err(|_| bad())?, deal.parse::<i64>().map_err(|_| bad())?)
        }
        _ => return Err(bad()),
    };
    if guild != ctx.inv.guild.get() {
        return Err(bad());
    }
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    let done = ctx
        .app
        .record_next_step(
            ctx.inv.guild,
            ctx.inv.user,
            deal,
            (field(STEP_WHAT), field(STEP_DUE)),
            format!("{PREFIX}:{}", ctx.inv.id),
            ctx.now,
        )
        .await?;
    let due = done.step.due.map_or_else(String::new, |d| format!(", due {}", d.format("%a %-d %b %Y")));
    let name = clip(&done.deal, 60);
    let what = clip(&done.step.what, 200).replace('`', "'");
    Ok(private(match (done.new, done.in_crm) {
        (true, true) => format!("📝 Next step on `{name}` planned in the CRM: `{what}`{due}."),
        (true, false) => format!("📝 Next step on `{name}`: `{what}`{due}. The deal counts as worked on today."),
        (false, _) => format!("That form was already sent: the next step on `{name}` is `{what}`{due}."),
    }))
}

/// The guild a hygiene button belongs to: DMs carry no guild, so the button does.
pub fn button_guild(custom_id: &str) -> Option<u64> {
    let mut parts = custom_id.split(':');
    (parts.next() == Some(PREFIX)).then_some(())?;
    parts.nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(crm_id: Option<&str>) -> HygieneDeal {
        HygieneDeal {
            id: 7,
            user_id: 42,
            user_name: "Ann".into(),
            team_id: 0,
            name: "Acme".into(),
            value: 100_000,
            stage: "demo".into(),
            probability: 40,
            expected_close: NaiveDate::from_ymd_opt(2026, 11, 20),
            opened_at: "2026-11-01T10:00:00Z".parse().unwrap(),
            history: Vec::new(),
            last_activity_at: None,
            crm_id: crm_id.map(str::to_string),
            next_activity: None,
        }
    }

    fn shown(buttons: &[Button]) -> Vec<(String, String)> {
        buttons.iter().map(|b| (b.label.clone(), b.url.clone().unwrap_or_else(|| b.custom_id.clone()))).collect()
    }

    #[test]
    fn a_crm_deal_gets_the_buttons_only_where_the_connection_writes_and_otherwise_a_link() {
        let guild = Snowflake::new(1).unwrap();
        let url = Some("https://acme.pipedrive.com/deal/55");
        let pair = |l: &str, v: &str| (l.to_string(), v.to_string());
        assert_eq!(
            shown(&deal_buttons(2, &deal(None), guild, None, false)),
            vec![
                pair("2 · +1 week", "hyg:week:1:7:2026-11-20"),
                pair("2 · End of month", "hyg:eom:1:7:2026-11-20"),
                pair("2 · Lost", "hyg:lost:1:7"),
                pair("2 · Next step", "hyg:next:1:7"),
            ]
        );
        assert_eq!(
            shown(&deal_buttons(1, &deal(Some("55")), guild, url, false)),
            vec![pair("1 · Open in the CRM", "https://acme.pipedrive.com/deal/55")]
        );
        assert_eq!(
            shown(&deal_buttons(1, &deal(Some("55")), guild, url, true)),
            vec![
                pair("1 · +1 week", "hyg:week:1:7:2026-11-20"),
                pair("1 · End of month", "hyg:eom:1:7:2026-11-20"),
                pair("1 · Lost", "hyg:lost:1:7"),
                pair("1 · Next step", "hyg:next:1:7"),
            ]
        );
        let undated = HygieneDeal { expected_close: None, ..deal(None) };
        assert_eq!(deal_buttons(1, &undated, guild, None, false)[0].custom_id, "hyg:week:1:7:-");
    }

    #[test]
    fn a_button_names_its_guild_for_a_press_in_a_dm() {
        assert_eq!(button_guild("hyg:week:123:7:2026-11-20"), Some(123));
        assert_eq!(button_guild("hyg:lost:123:7"), Some(123));
        assert_eq!(button_guild("hyg:step:123:7"), Some(123));
        assert_eq!(button_guild("undo:5"), None);
        assert_eq!(button_guild("hyg:week:x:7"), None);
    }
}
