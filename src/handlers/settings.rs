//! `/settings show|timezone|currency|number-format|week-start|fiscal-year|working-days|working-hours|manager-role|backdate|leaderboards|leaderboard-exclude|privacy|review|kind|kind-remove`:
//! for managers.

use super::{CommandCall, Ctx, Embed, Field, Message, Response, private};
use crate::app::settings::SettingsChange;
use crate::app::{AppError, AppResult};
use crate::domain::activity::{ActivityKind, KindName};
use crate::domain::money::{Currency, NumberFormat};
use crate::domain::review::{KindLimits, OUTLIER_FACTOR, ReviewCounting, parse_limit};
use crate::domain::settings::{
    FiscalStart, MoneyPrivacy, WorkingDays, WorkingHours, parse_timezone, parse_weekday, weekday_name,
};

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    let guild = ctx.inv.guild;
    let mut change = SettingsChange::default();
    match call.sub.as_deref() {
        Some("show") => return show(ctx).await,
        Some("timezone") => change.timezone = Some(parse_timezone(call.required_string("timezone")?)?),
        Some("currency") => {
            change.currency = Some(Currency::parse(call.required_string("code")?)?);
            change.relabel = call.boolean("confirm").unwrap_or(false);
        }
        Some("number-format") => change.number_format = Some(NumberFormat::parse(call.required_string("format")?)?),
        Some("week-start") => change.week_start = Some(parse_weekday(call.required_string("day")?)?),
        Some("fiscal-year") => {
            let month =
                call.integer("month").ok_or_else(|| AppError::User("give the month as a number 1-12".into()))?;
            change.fiscal_year_start = Some(FiscalStart::new(u32::try_from(month).unwrap_or(0))?);
        }
        Some("working-days") => change.working_days = Some(WorkingDays::parse(call.required_string("days")?)?),
        Some("working-hours") => change.working_hours = Some(WorkingHours::parse(call.required_string("hours")?)?),
        Some("manager-role") => change.manager_role = Some(call.role("role")),
        Some("leaderboard-exclude") => change.board_exclude_role = Some(call.role("role")),
        Some("privacy") => change.money_privacy = Some(MoneyPrivacy::parse(call.required_string("money")?)?),
        Some("backdate") => {
            let days = call.integer("days").ok_or_else(|| AppError::User("give the number of days (0-366)".into()))?;
            change.backdate_days = Some(
                u32::try_from(days).map_err(|_| AppError::User("the back-dating window is 0 to 366 days".into()))?,
            );
        }
        Some("kind") => return kind(ctx, call).await,
        Some("review") => {
            let choice = ReviewCounting::parse(call.required_string("counting")?)?;
            let moved = ctx.app.set_review_counting(guild, choice, ctx.actor(), ctx.now).await?;
            let entries = |n: usize| format!("{n} entr{} waiting for review", if n == 1 { "y" } else { "ies" });
            return Ok(private(match choice {
                ReviewCounting::WhilePending => format!(
                    "🔎 Flagged entries now count at once, in totals, boards and goals, until a manager removes \
                     them in `/review`.{}",
                    if moved > 0 { format!(" The {} count from now on.", entries(moved)) } else { String::new() }
                ),
                ReviewCounting::AfterApproval => format!(
                    "🔎 Flagged entries now count only once a manager approves them in `/review`.{}",
                    if moved > 0 {
                        format!(" The {} no longer count until approved.", entries(moved))
                    } else {
                        String::new()
                    }
                ),
            }));
        }
        Some("leaderboards") => {
            let on = call.boolean("on").ok_or_else(|| AppError::User("say on:true or on:false".into()))?;
            ctx.app.set_leaderboards(guild, on, ctx.actor(), ctx.now).await?;
            return Ok(private(if on {
                "🏆 Leaderboards are on: `/leaderboard` and scheduled leaderboard posts work again."
            } else {
                "Leaderboards are off: `/leaderboard` says so and scheduled leaderboard posts are skipped. \
                 Competitions you create still post their standings."
            }));
        }
        Some("kind-remove") => {
            let name = KindName::parse(call.required_string("name")?)?;
            ctx.app.retire_kind(guild, name.clone(), ctx.actor(), ctx.now).await?;
            return Ok(private(format!(
                "Kind **{name}** retired: it can no longer be logged; its history still counts."
            )));
        }
        _ => return Err(AppError::User("use /settings show or one of its setting subcommands".into())),
    }
    let note = match (call.sub.as_deref(), change.board_exclude_role, change.money_privacy) {
        (_, Some(Some(role)), _) => {
            format!(
                " Members with <@&{role}> are left off boards, team tables and competitions from now on; \
                 they keep their own `/me`. rally knows a member's roles from their latest command, so \
                 someone who has not used rally since getting the role shows until they do."
            )
        }
        (_, Some(None), _) => " Nobody is left off boards any more.".to_string(),
        (_, _, Some(MoneyPrivacy::Managers)) => " Reps now see only their own money: boards, competitions and \
             team goals on money show them ranks and percentages without amounts, and so does everything posted \
             in a channel or shared with `public:true`. Managers see all amounts in replies only they read."
            .to_string(),
        (_, _, Some(MoneyPrivacy::Everyone)) => " Everyone sees everyone's money again.".to_string(),
        _ => String::new(),
    };
    ctx.app.change_settings(guild, change, ctx.actor(), ctx.now).await?;
    show(ctx).await.map(|r| match r {
        Response::Message(mut m) => {
            m.content = Some(format!("✅ Saved.{note}"));
            Response::Message(m)
        }
        other => other,
    })
}

/// `/settings kind`: points for a new kind (required) or an existing one, and the kind's review
/// limits. Giving only `daily-cap` or `review-min` leaves points and amount as they are.
async fn kind(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let guild = ctx.inv.guild;
    let name = KindName::parse(call.required_string("name")?)?;
    let daily_cap = call.integer("daily-cap").map(|v| parse_limit(v, "the daily cap")).transpose()?;
    let review_min = call.integer("review-min").map(|v| parse_limit(v, "the review minimum")).transpose()?;
    let existing = ctx.app.kinds(guild).await?.into_iter().find(|k| k.name == name);
    let mut lines = Vec::new();
    let points = match (call.integer("points"), &existing) {
        (Some(points), _) => Some(points),
        (None, None) => {
            return Err(AppError::User(format!("`{name}` is a new kind: give its points too (points:)")));
        }
        // An existing kind keeps its points when only its amount changes.
        (None, Some(k)) => call.boolean("amount").map(|_| k.points),
    };
    if let (None, None, None, Some(k)) = (points, daily_cap, review_min, &existing) {
        // Nothing to change: say how the kind stands.
        let limits = ctx.app.kind_limits(guild).await?.into_iter().find(|(n, _)| *n == name).map(|(_, l)| l);
        return Ok(private(format!(
            "Kind **{name}** scores {} point{} per activity{} · {}. Change it with points:, amount:, daily-cap: or \
             review-min:.",
            k.points,
            if k.points == 1 { "" } else { "s" },
            if k.has_amount { " and carries a deal amount" } else { "" },
            describe_limits(&limits.unwrap_or_default())
        )));
    }
    if let Some(points) = points {
        if !(-1000..=1000).contains(&points) {
            return Err(AppError::User("points must be between -1000 and 1000".into()));
        }
        // Without amount:, a kind keeps whether it carries one (a new one: only `won` does).
        let has_amount = call.boolean("amount").unwrap_or_else(|| {
            existing.as_ref().map_or(name.as_str() == crate::domain::activity::WON, |k| k.has_amount)
        });
        let kind = ActivityKind { name: name.clone(), points, has_amount };
        ctx.app.upsert_kind(guild, kind, ctx.actor(), ctx.now).await?;
        lines.push(format!(
            "Kind **{name}** scores {points} point{} per activity{}. Activities already logged keep their points.",
            if points == 1 { "" } else { "s" },
            if has_amount { " and carries a deal amount" } else { "" }
        ));
    }
    if daily_cap.is_some() || review_min.is_some() {
        let cap = daily_cap.map(|c| (c > 0).then_some(c));
        let limits = ctx.app.set_kind_limits(guild, name.clone(), cap, review_min, ctx.actor(), ctx.now).await?;
        lines.push(format!("Kind **{name}**: {}.", describe_limits(&limits)));
    }
    Ok(private(lines.join("\n")))
}

/// `daily cap 200 per rep · entries from 25 above 5× the rep's usual go to /review`
fn describe_limits(limits: &KindLimits) -> String {
    let cap = match limits.daily_cap {
        Some(cap) => format!("daily cap {cap} per rep (their local day)"),
        None => "no daily cap".to_string(),
    };
    let review = match limits.review_min {
        0 => "no outlier check".to_string(),
        min => format!("entries of {min} or more above {OUTLIER_FACTOR}× the rep's usual go to `/review`"),
    };
    format!("{cap} · {review}")
}

async fn show(ctx: &Ctx<'_>) -> AppResult<Response> {
    let s = ctx.settings().await?;
    let leaderboards = ctx.app.leaderboards_enabled(ctx.inv.guild).await?;
    let kinds = ctx.app.kinds(ctx.inv.guild).await?;
    let limits = ctx.app.kind_limits(ctx.inv.guild).await?;
    let counting = ctx.app.review_counting(ctx.inv.guild).await?;
    let kinds: Vec<String> = kinds
        .iter()
        .map(|k| {
            let limits = limits.iter().find(|(n, _)| *n == k.name).map(|(_, l)| *l).unwrap_or_default();
            format!(
                "`{}` {} pt{}{}{}{}",
                k.name,
                k.points,
                if k.points == 1 { "" } else { "s" },
                if k.has_amount { " + amount" } else { "" },
                limits.daily_cap.map_or(String::new(), |c| format!(", cap {c}/day")),
                match limits.review_min {
                    0 => ", no review".to_string(),
                    min => format!(", review from {min}"),
                }
            )
        })
        .collect();
    let field = |name: &str, value: String| Field { name: name.into(), value, inline: true };
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some("Settings".into()),
            fields: vec![
                field("Timezone", s.timezone.name().to_string()),
                field("Week starts", weekday_name(s.week_start).to_string()),
                field("Fiscal year starts", month_name(s.fiscal_year_start.month()).to_string()),
                field("Working days", s.working_days.to_string()),
                field("Working hours", s.working_hours.to_string()),
                field("Manager role", s.manager_role.map_or("Manage Server only".into(), |r| format!("<@&{r}>"))),
                field("Back-dating", format!("{} days", s.backdate_days)),
                field("Currency", format!("{} ({})", s.money().currency, s.money().currency.name())),
                field("Number format", format!("{} · e.g. {}", s.money().format, s.money().format(125_050))),
                field("Leaderboards", if leaderboards { "on" } else { "off" }.to_string()),
                field("Left off boards", s.board_exclude_role.map_or("nobody".into(), |r| format!("<@&{r}>"))),
                field(
                    "Money shown to",
                    match s.money_privacy {
                        MoneyPrivacy::Everyone => "everyone",
                        MoneyPrivacy::Managers => "managers (reps: their own)",
                    }
                    .to_string(),
                ),
                field(
                    "Flagged entries count",
                    match counting {
                        ReviewCounting::WhilePending => "while pending",
                        ReviewCounting::AfterApproval => "after approval",
                    }
                    .to_string(),
                ),
                Field {
                    name: "Activity kinds".into(),
                    value: super::format::clip(&kinds.join(" · "), 1024),
                    inline: false,
                },
            ],
            color: Some(0x7f8c8d),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

fn month_name(m: u32) -> &'static str {
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ][(m.clamp(1, 12) - 1) as usize]
}
