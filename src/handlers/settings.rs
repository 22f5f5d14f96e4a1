//! `/settings show|timezone|currency|number-format|week-start|fiscal-year|working-days|working-hours|manager-role|backdate|leaderboards|leaderboard-exclude|privacy|kind|kind-remove`:
//! for managers.

use super::{CommandCall, Ctx, Embed, Field, Message, Response, private};
use crate::app::settings::SettingsChange;
use crate::app::{AppError, AppResult};
use crate::domain::activity::{ActivityKind, KindName};
use crate::domain::money::{Currency, NumberFormat};
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
        Some("kind") => {
            let name = KindName::parse(call.required_string("name")?)?;
            let points = call.integer("points").ok_or_else(|| AppError::User("give the points per activity".into()))?;
            if !(-1000..=1000).contains(&points) {
                return Err(AppError::User("points must be between -1000 and 1000".into()));
            }
            let has_amount = call.boolean("amount").unwrap_or(name.as_str() == crate::domain::activity::WON);
            let kind = ActivityKind { name: name.clone(), points, has_amount };
            ctx.app.store.upsert_kind(guild.as_i64(), kind, ctx.actor(), ctx.now).await?;
            return Ok(private(format!(
                "Kind **{name}** scores {points} point{} per activity{}. Activities already logged keep their points.",
                if points == 1 { "" } else { "s" },
                if has_amount { " and carries a deal amount" } else { "" }
            )));
        }
        Some("leaderboards") => {
            let on = call.boolean("on").ok_or_else(|| AppError::User("say on:true or on:false".into()))?;
            ctx.app.store.set_leaderboards(guild.as_i64(), on, ctx.actor(), ctx.now).await?;
            return Ok(private(if on {
                "🏆 Leaderboards are on: `/leaderboard` and scheduled leaderboard posts work again."
            } else {
                "Leaderboards are off: `/leaderboard` says so and scheduled leaderboard posts are skipped. \
                 Competitions you create still post their standings."
            }));
        }
        Some("kind-remove") => {
            let name = KindName::parse(call.required_string("name")?)?;
            ctx.app.store.retire_kind(guild.as_i64(), name.clone(), ctx.actor(), ctx.now).await?;
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
        (_, _, Some(MoneyPrivacy::Managers)) => " Reps now see only their own money; boards ranked by money show \
             them ranks without amounts. Managers see everything."
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

async fn show(ctx: &Ctx<'_>) -> AppResult<Response> {
    let s = ctx.settings().await?;
    let leaderboards = ctx.app.store.leaderboards_enabled(ctx.inv.guild.as_i64()).await?;
    let kinds = ctx.app.store.kinds(ctx.inv.guild.as_i64()).await?;
    let kinds: Vec<String> = kinds
        .iter()
        .map(|k| {
            format!(
                "`{}` {} pt{}{}",
                k.name,
                k.points,
                if k.points == 1 { "" } else { "s" },
                if k.has_amount { " + amount" } else { "" }
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
