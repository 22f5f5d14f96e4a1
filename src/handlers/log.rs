//! `/log kind [count] [amount] [note] [deal] [when]`: log an activity for yourself.

use super::{Button, ButtonStyle, CommandCall, Ctx, Message, Response};
use crate::app::AppResult;
use crate::app::log::LogRequest;
use crate::domain::activity::{Amount, DealRef, KindName, Name, Note, Quantity, Source};
use crate::domain::period::{Period, PeriodSpec};
use crate::domain::when::parse_when;

pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let settings = ctx.settings().await?;
    let present = |name: &str| call.string(name).map(str::trim).filter(|s| !s.is_empty());
    let kind = KindName::parse(call.required_string("kind")?)?;
    let quantity = match call.integer("count") {
        Some(n) => Quantity::new(n)?,
        None => Quantity::ONE,
    };
    let amount = present("amount").map(Amount::parse).transpose()?;
    let note = Note::parse(call.string("note").unwrap_or(""))?;
    let deal = present("deal").map(DealRef::parse).transpose()?;
    let when = present("when").map(|w| parse_when(w, ctx.now, settings.timezone)).transpose()?;
    let user_name =
        Name::parse(&ctx.inv.user_name, "name").or_else(|_| Name::parse(&format!("user {}", ctx.inv.user), "name"))?;
    let logged = ctx
        .app
        .log(
            LogRequest {
                guild: ctx.inv.guild,
                user: ctx.inv.user,
                user_name,
                kind,
                quantity,
                amount,
                note,
                deal,
                when,
                source: Source::Slash,
                idem_key: format!("interaction:{}", ctx.inv.id),
            },
            ctx.now,
        )
        .await?;
    let r = &logged.record;
    let today = Period::resolve(&PeriodSpec::Today, &settings, ctx.now)?;
    let week = Period::resolve(&PeriodSpec::ThisWeek, &settings, ctx.now)?;
    let t_today = ctx.app.member_totals(ctx.inv.guild, ctx.inv.user, &today).await?;
    let t_week = ctx.app.member_totals(ctx.inv.guild, ctx.inv.user, &week).await?;

    let local = r.occurred_at.with_timezone(&settings.timezone);
    let mut text = format!(
        "✅ {}Logged **{} × {}** (+{} pts) · {}",
        if logged.duplicate { "Already " } else { "" },
        r.quantity,
        r.kind,
        r.points,
        local.format("%a %d %b %H:%M")
    );
    if let Some(amount) = r.amount {
        text.push_str(&format!(" · {}", crate::domain::activity::format_money(amount)));
    }
    text.push_str(&format!(
        "\nToday: **{} pts** ({} {}) · This week: **{} pts**",
        t_today.points,
        t_today.count(&r.kind),
        r.kind,
        t_week.points
    ));
    Ok(Response::Message(Message {
        content: Some(text),
        buttons: vec![Button {
            custom_id: format!("undo:{}", r.id),
            label: "Undo".into(),
            style: ButtonStyle::Secondary,
        }],
        ephemeral: true,
        ..Message::default()
    }))
}
