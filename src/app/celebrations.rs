//! Celebrations as use cases: `/celebrate add|list|remove`, and the celebration pass the scheduler
//! runs when woken and on every step: it reads the activities recorded since it last read (from
//! every ingestion path: `/log`, CSV import, CRM sync and webhooks, the intake API), fires what
//! each guild's rules celebrate, and records each event once under its content key; the scheduler
//! then announces what waits. A crash between a log and its celebration only delays it.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{App, AppError, AppResult};
use crate::domain::activity::{Snowflake, WON};
use crate::domain::celebrations::{
    EventKey, RuleKind, Seen, beats_best, is_big_win, may_celebrate, per_span, streak_reached,
};
use crate::domain::settings::GuildSettings;

/// A live rule and an event it fired, as the storage interface returns them.
pub use crate::store::celebrations::{Celebration, CelebrationRule};

/// Activities read per batch of the pass; a pass reads at most [`MAX_BATCHES`] of them.
const BATCH: usize = 500;
const MAX_BATCHES: usize = 20;
/// Days of a rep's activity read back for a streak: 20 working days and their weekends, with room.
const STREAK_DAYS: i64 = 45;

/// What the pass knows of one guild while it evaluates a batch.
struct GuildView {
    rules: Vec<CelebrationRule>,
    settings: GuildSettings,
    excluded: HashSet<u64>,
}

impl App {
    /// Adds a celebration rule posting to `channel`; it celebrates only what happens from `now`.
    pub async fn add_celebration(
        &self,
        guild: Snowflake,
        rule: RuleKind,
        channel: u64,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<CelebrationRule> {
        // The same rule twice in one channel would only post everything twice.
        if let Some(same) =
            self.celebration_rules(guild).await?.into_iter().find(|r| r.rule == rule && r.channel_id == channel)
        {
            return Err(AppError::User(format!(
                "celebration #{} already does this in <#{channel}>; nothing was added",
                same.id
            )));
        }
        let added = self.store.add_celebration_rule(guild.as_i64(), rule, channel, actor, now).await?;
        self.note_celebrating(guild.as_i64());
        Ok(added)
    }

    /// The guild's live celebration rules, oldest first.
    pub async fn celebration_rules(&self, guild: Snowflake) -> AppResult<Vec<CelebrationRule>> {
        Ok(self.store.celebration_rules(Some(guild.as_i64())).await?)
    }

    /// Removes a rule; false when the guild has no live rule with that id.
    pub async fn remove_celebration(
        &self,
        guild: Snowflake,
        id: i64,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        let removed = self.store.remove_celebration_rule(guild.as_i64(), id, actor, now).await?;
        if removed {
            // Forgetting the cache makes the next log re-read it: another rule may still live.
            *self.celebrating.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        Ok(removed)
    }

    /// Wakes the scheduler for a celebration pass when `guild` has a live rule (known from a
    /// cache read once): called by every ingestion path after it recorded something.
    pub async fn celebration_wake(&self, guild: i64) {
        let known = self.celebrating.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|s| s.contains(&guild));
        let celebrating = match known {
            Some(known) => known,
            None => match self.store.celebration_rules(None).await {
                Ok(rules) => {
                    let guilds: HashSet<i64> = rules.iter().map(|r| r.guild_id).collect();
                    let has = guilds.contains(&guild);
                    *self.celebrating.lock().unwrap_or_else(|e| e.into_inner()) = Some(guilds);
                    has
                }
                // The scheduler's own steps find it anyway.
                Err(e) => {
                    tracing::warn!(error = %e, "celebration rules not read; the next scheduler step celebrates");
                    false
                }
            },
        };
        if celebrating {
            self.schedules_changed();
        }
    }

    fn note_celebrating(&self, guild: i64) {
        if let Some(set) = self.celebrating.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            set.insert(guild);
        }
    }

    /// The celebration pass: evaluates every activity recorded since the last pass against its
    /// guild's rules and records what they fire, each event once. Returns how many are new.
    pub async fn celebrate_recent(&self, now: DateTime<Utc>) -> AppResult<usize> {
        let mut new = 0;
        // The next batch reads on from where the last one ended; the cursor recorded stays at the
        // first activity still settling (see `store::celebrations::SETTLE`).
        let mut after = None;
        let mut held: Option<i64> = None;
        for _ in 0..MAX_BATCHES {
            let Some(batch) = self.store.celebration_batch(after, BATCH, now).await? else {
                return Ok(new);
            };
            if batch.read_to == batch.from {
                break;
            }
            let fired = if batch.seen.is_empty() { Vec::new() } else { self.evaluate(&batch.seen, now).await? };
            let cursor = held.unwrap_or(batch.cursor);
            if held.is_none() && batch.cursor < batch.read_to {
                held = Some(batch.cursor);
            }
            new += self.store.record_celebrations(fired, cursor).await?;
            if batch.seen.len() < BATCH {
                break;
            }
            after = Some(batch.read_to);
        }
        Ok(new)
    }

    /// What `seen` fires under each guild's live rules.
    async fn evaluate(&self, seen: &[(i64, Seen)], now: DateTime<Utc>) -> AppResult<Vec<Celebration>> {
        let mut guilds: HashMap<i64, GuildView> = HashMap::new();
        for rule in self.store.celebration_rules(None).await? {
            let g = rule.guild_id;
            if let Entry::Vacant(e) = guilds.entry(g) {
                let snow = Snowflake::new(g as u64)?;
                e.insert(GuildView {
                    rules: Vec::new(),
                    settings: self.settings(snow).await?,
                    excluded: self.board_excluded(snow).await?,
                });
            }
            if let Some(view) = guilds.get_mut(&g) {
                view.rules.push(rule);
            }
        }
        // Rollup reads, once per member (and kind) per batch.
        let mut wins: HashMap<(i64, u64), i64> = HashMap::new();
        let mut kind_days: HashMap<(i64, u64, String), Vec<(chrono::NaiveDate, i64)>> = HashMap::new();
        let mut active: HashMap<(i64, u64, chrono::NaiveDate), BTreeSet<chrono::NaiveDate>> = HashMap::new();
        let mut out = Vec::new();
        for (i, (g, s)) in seen.iter().enumerate() {
            let Some(view) = guilds.get(g) else { continue };
            if view.excluded.contains(&s.user) {
                continue;
            }
            let currency = view.settings.money().currency.code();
            for rule in &view.rules {
                if !may_celebrate(rule.created_at, s, now) {
                    continue;
                }
                let fire = |key: EventKey, detail: serde_json::Value| Celebration {
                    guild_id: *g,
                    key: key.text(),
                    rule_id: rule.id,
                    channel_id: rule.channel_id,
                    user_id: s.user,
                    detail,
                    fired_at: now,
                };
                match &rule.rule {
                    RuleKind::BigWin { min, currency: rule_currency } => {
                        let Some(amount) = s.amount.filter(|_| s.kind == WON) else { continue };
                        if is_big_win(amount, currency, *min, rule_currency) {
                            let key = EventKey::BigWin {
                                rule: rule.id,
                                user: s.user,
                                deal: s.deal.clone(),
                                amount,
                                day: s.day,
                            };
                            out.push(fire(
                                key,
                                json!({"what": "big-win", "amount": amount, "currency": currency, "deal": s.deal}),
                            ));
                        }
                    }
                    RuleKind::FirstWin => {
                        if s.kind != WON {
                            continue;
                        }
                        let total = match wins.get(&(*g, s.user)) {
                            Some(n) => *n,
                            None => {
                                let n = self.store.member_wins(*g, s.user).await?;
                                wins.insert((*g, s.user), n);
                                n
                            }
                        };
                        // The wins counted before this one: all of them but this and the later
                        // ones of the same batch.
                        let this_and_later =
                            seen[i..].iter().filter(|(h, x)| h == g && x.user == s.user && x.kind == WON).count()
                                as i64;
                        if total - this_and_later == 0 {
                            out.push(fire(
                                EventKey::FirstWin { rule: rule.id, user: s.user },
                                json!({"what": "first-win"}),
                            ));
                        }
                    }
                    RuleKind::PersonalBest { span, kind } => {
                        if s.kind != kind.as_str() {
                            continue;
                        }
                        let k = (*g, s.user, s.kind.clone());
                        if !kind_days.contains_key(&k) {
                            let days = self.store.member_kind_days(*g, s.user, s.kind.clone()).await?;
                            kind_days.insert(k.clone(), days);
                        }
                        let days = kind_days.get(&k).map(Vec::as_slice).unwrap_or_default();
                        let spans = per_span(days, *span, view.settings.week_start);
                        let first_day = span.bucket(s.day, view.settings.week_start);
                        let current = spans.iter().find(|(b, _)| *b == first_day).map_or(0, |(_, n)| *n);
                        // Every other day (week), later ones too: a day back-dated into is no
                        // record when a later one beat it.
                        let earlier = spans.iter().filter(|(b, _)| *b != first_day).map(|(_, n)| *n);
                        if let Some(best) = beats_best(current, earlier) {
                            let key = EventKey::PersonalBest {
                                rule: rule.id,
                                user: s.user,
                                kind: s.kind.clone(),
                                span: *span,
                                first_day,
                            };
                            out.push(fire(
                                key,
                                json!({"what": "personal-best", "kind": s.kind, "span": span.as_str(),
                                       "count": current, "best": best}),
                            ));
                        }
                    }
                    RuleKind::Streak => {
                        let k = (*g, s.user, s.day);
                        if let Entry::Vacant(e) = active.entry(k) {
                            let first = s.day - Duration::days(STREAK_DAYS);
                            let end = s.day + Duration::days(1);
                            let days = self.store.member_active_days(*g, s.user as i64, first, end).await?;
                            e.insert(days.into_iter().collect());
                        }
                        let Some(days) = active.get(&k) else { continue };
                        if let Some((level, first_day)) = streak_reached(days, s.day, view.settings.working_days) {
                            let key = EventKey::Streak { rule: rule.id, user: s.user, level, first_day };
                            out.push(fire(key, json!({"what": "streak", "level": level})));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Events waiting to be announced (every guild), oldest first.
    pub async fn pending_celebrations(&self, limit: usize) -> AppResult<Vec<Celebration>> {
        Ok(self.store.pending_celebrations(limit).await?)
    }

    /// When each celebration post in `channel` since `since` was queued, oldest first (the
    /// per-channel rate).
    pub async fn celebration_posts_since(&self, channel: u64, since: DateTime<Utc>) -> AppResult<Vec<DateTime<Utc>>> {
        Ok(self.store.celebration_posts_since(channel, since).await?)
    }

    /// Marks the events announced and queues their post in one transaction: posted once across
    /// crashes, restarts and a second scheduler. False when one was announced before.
    pub async fn announce_celebrations(
        &self,
        guild: i64,
        keys: Vec<String>,
        post: Option<crate::app::schedules::QueuedPost>,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        Ok(self.store.announce_celebrations(guild, keys, post, now).await?)
    }

    /// Every event a guild celebrated (or retired): its key and when it was announced.
    pub async fn celebrations(&self, guild: i64) -> AppResult<Vec<(String, Option<DateTime<Utc>>)>> {
        Ok(self.store.celebrations(guild).await?)
    }
}
