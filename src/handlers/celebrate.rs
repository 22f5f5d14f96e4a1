//! `/celebrate add|list|remove` (managers): ring the bell in a channel for big wins, personal
//! bests, first wins and streaks; and the celebration posts the scheduler sends, one per event
//! while the channel's rate allows, the rest of a burst folded into one. Words only: what fires is
//! decided in `app::celebrations` and `domain::celebrations`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};

use super::{CommandCall, Ctx, Embed, Message, Outgoing, Recipient, Response, clip, private};
use crate::app::celebrations::{Celebration, CelebrationRule};
use crate::app::{App, AppError, AppResult};
use crate::domain::activity::{KindName, Snowflake, unknown_kind};
use crate::domain::celebrations::{FOLD_NAMED, RATE_POSTS, RATE_WINDOW, RuleKind, STREAK_LEVELS, Span, plan};
use crate::domain::money::Money;

/// The embed colour of a celebration: gold.
const CELEBRATION_COLOR: u32 = 0xF1C40F;

/// Answers `/celebrate add|list|remove`, for managers only.
pub async fn handle(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    ctx.require_manager().await?;
    match call.sub.as_deref() {
        Some("add") => add(ctx, call).await,
        Some("list") => list(ctx).await,
        Some("remove") => {
            let id = call
                .integer("id")
                .ok_or_else(|| AppError::User("give the celebration's number (see /celebrate list)".into()))?;
            if ctx.app.remove_celebration(ctx.inv.guild, id, ctx.actor(), ctx.now).await? {
                Ok(private(format!("Celebration #{id} removed: nothing more is posted for it.")))
            } else {
                Err(AppError::User(format!("there is no celebration #{id} here; /celebrate list shows them")))
            }
        }
        _ => Err(AppError::User("use /celebrate add, list or remove".into())),
    }
}

async fn add(ctx: &Ctx<'_>, call: &CommandCall) -> AppResult<Response> {
    let present = |name: &str| call.string(name).map(str::trim).filter(|s| !s.is_empty());
    let channel = call.channel("channel").ok_or_else(|| AppError::User("choose the channel to post in".into()))?;
    let settings = ctx.settings().await?;
    let money = settings.money();
    let kind =
        || -> AppResult<Option<KindName>> { present("kind").map(KindName::parse).transpose().map_err(Into::into) };
    let rule = match call.required_string("when")?.trim() {
        "big-win" => {
            let typed = present("amount").ok_or_else(|| {
                AppError::User(format!(
                    "a big win needs the smallest amount to celebrate, e.g. amount:{}",
                    money.example()
                ))
            })?;
            let min = money.parse(typed)?;
            if min.minor() <= 0 {
                return Err(AppError::User(
                    "a big win is a deal won at some amount or more: give an amount above 0 (every win is \
                     when:first-win for a rep's first, or a streak)"
                        .into(),
                ));
            }
            RuleKind::BigWin { min: min.minor(), currency: money.currency.code().to_string() }
        }
        when @ ("best-day" | "best-week") => {
            let kind = kind()?.ok_or_else(|| {
                AppError::User("a personal best is counted in one kind: give kind: (call, demo, ...)".into())
            })?;
            let kinds = ctx.app.kinds_shared(ctx.inv.guild).await?;
            if !kinds.iter().any(|k| k.name == kind) {
                return Err(AppError::User(unknown_kind(kind.as_str(), &kinds)));
            }
            // A record day of lost deals is no news to ring a bell for.
            if kind.as_str() == "lost" {
                return Err(AppError::User(
                    "a best day or week of lost deals is not worth a celebration: choose a kind reps do more \
                     of on a good day (call, demo, won, ...)"
                        .into(),
                ));
            }
            let span = if when == "best-day" { Span::Day } else { Span::Week };
            RuleKind::PersonalBest { span, kind }
        }
        "first-win" => RuleKind::FirstWin,
        "streak" => RuleKind::Streak,
        other => {
            return Err(AppError::User(format!(
                "rally cannot celebrate `{}`: choose big-win, best-day, best-week, first-win or streak",
                clip(other, 30)
            )));
        }
    };
    // An option that does not go with the rule is a mistake worth saying, not ignoring.
    if !matches!(rule, RuleKind::BigWin { .. }) && present("amount").is_some() {
        return Err(AppError::User("amount: is for big wins only; leave it out".into()));
    }
    if !matches!(rule, RuleKind::PersonalBest { .. }) && present("kind").is_some() {
        return Err(AppError::User("kind: is for best days and weeks only; leave it out".into()));
    }
    let added = ctx.app.add_celebration(ctx.inv.guild, rule, channel, ctx.actor(), ctx.now).await?;
    Ok(private(format!(
        "🎉 Celebration #{} added: {} in <#{}>. Only what happens from now on is celebrated.",
        added.id,
        describe(&added.rule, money),
        added.channel_id
    )))
}

async fn list(ctx: &Ctx<'_>) -> AppResult<Response> {
    let rules = ctx.app.celebration_rules(ctx.inv.guild).await?;
    if rules.is_empty() {
        return Ok(private("No celebrations yet. Add one with /celebrate add, e.g. when:big-win amount:10,000."));
    }
    let money = ctx.settings().await?.money();
    let lines: Vec<String> = rules
        .iter()
        .map(|r| {
            format!(
                "**#{}** {} in <#{}> · since {}",
                r.id,
                describe(&r.rule, money),
                r.channel_id,
                r.created_at.format("%-d %b %Y")
            )
        })
        .collect();
    Ok(Response::Message(Message {
        embeds: vec![Embed {
            title: Some("🎉 Celebrations".into()),
            description: Some(lines.join("\n")),
            footer: Some(format!(
                "At most {RATE_POSTS} posts per channel per {} minutes; a burst beyond folds into one. /celebrate remove id:N",
                RATE_WINDOW.num_minutes()
            )),
            color: Some(CELEBRATION_COLOR),
            ..Embed::default()
        }],
        ephemeral: true,
        ..Message::default()
    }))
}

/// A rule in words: `a deal won at 10,000.00 EUR or more`.
fn describe(rule: &RuleKind, money: Money) -> String {
    match rule {
        RuleKind::BigWin { min, currency } if currency == money.currency.code() => {
            format!("a deal won at {} or more", money.format(*min))
        }
        // The server changed its currency since: the rule still counts in its own.
        RuleKind::BigWin { min, currency } => format!("a deal won at {min} minor units of {currency} or more"),
        RuleKind::PersonalBest { span, kind } => format!("a rep's best {} ever for {kind}", span.as_str()),
        RuleKind::FirstWin => "a rep's first win".into(),
        RuleKind::Streak => format!(
            "a streak of {} working days",
            STREAK_LEVELS.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A group of waiting celebrations and the post that tells of them; no post retires them unposted
/// (their rule was removed).
pub struct CelebrationPost {
    pub guild: i64,
    /// The events' keys (`domain::celebrations::EventKey::text`), marked announced with the post.
    pub keys: Vec<String>,
    /// The post for their channel; `None` retires them unposted.
    pub post: Option<Outgoing>,
}

/// The posts for what waits to be celebrated, per channel within its rate, and when the rate next
/// lets a held-back celebration out (if one is held back).
pub async fn celebration_posts(
    app: &App,
    now: DateTime<Utc>,
) -> AppResult<(Vec<CelebrationPost>, Option<DateTime<Utc>>)> {
    let pending = app.pending_celebrations(500).await?;
    if pending.is_empty() {
        return Ok((Vec::new(), None));
    }
    let mut rules: HashMap<i64, Vec<CelebrationRule>> = HashMap::new();
    let mut out = Vec::new();
    let mut next: Option<DateTime<Utc>> = None;
    // Per (guild, channel), in the order fired.
    let mut channels: Vec<((i64, u64), Vec<Celebration>)> = Vec::new();
    for c in pending {
        if let Entry::Vacant(e) = rules.entry(c.guild_id) {
            e.insert(app.celebration_rules(Snowflake::new(c.guild_id as u64)?).await?);
        }
        let live = rules.get(&c.guild_id).is_some_and(|r| r.iter().any(|r| r.id == c.rule_id));
        if !live {
            out.push(CelebrationPost { guild: c.guild_id, keys: vec![c.key], post: None });
            continue;
        }
        let at = (c.guild_id, c.channel_id);
        match channels.iter_mut().find(|(k, _)| *k == at) {
            Some((_, list)) => list.push(c),
            None => channels.push((at, vec![c])),
        }
    }
    for ((guild, channel), waiting) in channels {
        let recent = app.celebration_posts_since(channel, now - RATE_WINDOW).await?;
        let p = plan(waiting.len(), recent.len());
        if p.singles == 0 && !p.folded {
            // The rate is used up: the oldest post that counts leaves the window first.
            if let Some(free) = recent.get(recent.len().saturating_sub(RATE_POSTS)).map(|t| *t + RATE_WINDOW) {
                next = Some(next.map_or(free, |n| n.min(free)));
            }
            continue;
        }
        let settings = app.settings(Snowflake::new(guild as u64)?).await?;
        let amounts = super::everyone_sees_money(&settings);
        let money = settings.money();
        let mut names: HashMap<u64, String> = HashMap::new();
        for c in &waiting {
            if let Entry::Vacant(e) = names.entry(c.user_id) {
                let name = app
                    .member(Snowflake::new(guild as u64)?, Snowflake::new(c.user_id)?)
                    .await?
                    .map_or_else(|| format!("<@{}>", c.user_id), |m| format!("**{}**", clip(&m.user_name, 80)));
                e.insert(name);
            }
        }
        let name = |c: &Celebration| names.get(&c.user_id).cloned().unwrap_or_default();
        let (singles, rest) = waiting.split_at(p.singles.min(waiting.len()));
        for c in singles {
            let (line, hidden) = line(&name(c), c, money, amounts);
            out.push(CelebrationPost {
                guild,
                keys: vec![c.key.clone()],
                post: Some(Outgoing {
                    to: Recipient::Channel(channel),
                    key: c.key.clone(),
                    message: single(line, hidden),
                    marks: Vec::new(),
                }),
            });
        }
        if p.folded && !rest.is_empty() {
            let mut hidden_any = false;
            let lines: Vec<String> = rest
                .iter()
                .take(FOLD_NAMED)
                .map(|c| {
                    let (l, hidden) = short(&name(c), c, money, amounts);
                    hidden_any |= hidden;
                    format!("• {l}")
                })
                .collect();
            let mut text = lines.join("\n");
            if rest.len() > FOLD_NAMED {
                text.push_str(&format!("\n…and {} more", rest.len() - FOLD_NAMED));
            }
            let keys: Vec<String> = rest.iter().map(|c| c.key.clone()).collect();
            out.push(CelebrationPost {
                guild,
                post: Some(Outgoing {
                    to: Recipient::Channel(channel),
                    key: format!("fold:{}", keys.join("|")),
                    message: Message {
                        embeds: vec![Embed {
                            title: Some(format!("🎉 {} more to celebrate", rest.len())),
                            description: Some(text),
                            footer: hidden_any.then(|| super::MONEY_PRIVATE.to_string()),
                            color: Some(CELEBRATION_COLOR),
                            ..Embed::default()
                        }],
                        ..Message::default()
                    },
                    marks: Vec::new(),
                }),
                keys,
            });
        }
    }
    Ok((out, next))
}

fn single(line: String, hidden: bool) -> Message {
    Message {
        embeds: vec![Embed {
            title: Some("🎉 Celebrate!".into()),
            description: Some(line),
            footer: hidden.then(|| super::MONEY_PRIVATE.to_string()),
            color: Some(CELEBRATION_COLOR),
            ..Embed::default()
        }],
        ..Message::default()
    }
}

fn detail_str<'a>(c: &'a Celebration, key: &str) -> &'a str {
    c.detail.get(key).and_then(|v| v.as_str()).unwrap_or_default()
}

fn detail_i64(c: &Celebration, key: &str) -> i64 {
    c.detail.get(key).and_then(|v| v.as_i64()).unwrap_or_default()
}

/// The amount of a big win in the server's format, when it is in the server's currency.
fn amount(c: &Celebration, money: Money) -> Option<String> {
    (detail_str(c, "currency") == money.currency.code()).then(|| money.format(detail_i64(c, "amount")))
}

fn deal(c: &Celebration) -> Option<String> {
    c.detail.get("deal").and_then(|v| v.as_str()).filter(|d| !d.is_empty()).map(|d| clip(d, 80))
}

/// The line of a post of its own, and whether an amount was left out for privacy.
fn line(who: &str, c: &Celebration, money: Money, amounts: bool) -> (String, bool) {
    match detail_str(c, "what") {
        "big-win" => {
            let deal = deal(c).map(|d| format!(" ({d})")).unwrap_or_default();
            match amount(c, money).filter(|_| amounts) {
                Some(a) => (format!("🔔 {who} just won a big one{deal}: **{a}**! 🍾"), false),
                None => (format!("🔔 {who} just won a big one{deal}! 🍾"), true),
            }
        }
        "personal-best" => {
            let span = detail_str(c, "span");
            (
                format!(
                    "🚀 {who} beat their own best {span}: **{} × {}** (best before: {})",
                    detail_i64(c, "count"),
                    detail_str(c, "kind"),
                    detail_i64(c, "best")
                ),
                false,
            )
        }
        "first-win" => (format!("🥇 {who} won their first deal! Welcome to the board 👏"), false),
        "streak" => (
            format!("🔥 {who} is on a **{}-day streak**: something logged every working day", detail_i64(c, "level")),
            false,
        ),
        _ => (format!("🎉 {who}"), false),
    }
}

/// The short line of a folded post (`Alice won 12,000.00 EUR`).
fn short(who: &str, c: &Celebration, money: Money, amounts: bool) -> (String, bool) {
    match detail_str(c, "what") {
        "big-win" => match amount(c, money).filter(|_| amounts) {
            Some(a) => (format!("{who} won {a}"), false),
            None => (format!("{who} won a big deal"), true),
        },
        "personal-best" => (
            format!(
                "{who}'s best {} for {} ({})",
                detail_str(c, "span"),
                detail_str(c, "kind"),
                detail_i64(c, "count")
            ),
            false,
        ),
        "first-win" => (format!("{who}'s first win"), false),
        "streak" => (format!("{who}'s {}-day streak", detail_i64(c, "level")), false),
        _ => (who.to_string(), false),
    }
}
