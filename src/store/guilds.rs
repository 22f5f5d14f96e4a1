//! Guilds, their settings and activity kinds; the audit trail every write goes through.

use super::sql::{Db, OptionalExtension, params};
use chrono::{DateTime, Utc, Weekday};
use serde_json::json;

use super::{Result, Store, StoreError, millis};
use crate::domain::activity::{ActivityKind, KindName, default_kinds, unknown_kind};
use crate::domain::money::{Currency, Money, NumberFormat};
use crate::domain::period::local_date;
use crate::domain::settings::{
    FiscalStart, GuildSettings, MoneyPrivacy, WorkingDays, WorkingHours, parse_timezone, weekday_name,
};

/// Records one write in the audit table. `before`/`after` are JSON snapshots of what changed.
#[allow(clippy::too_many_arguments)] // mirrors the audit table's columns one to one
pub(super) fn audit(
    conn: &Db,
    guild: i64,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
    at: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (guild_id, actor, action, target, before, after, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        guild,
        actor,
        action,
        target,
        before.map(|v| v.to_string()),
        after.map(|v| v.to_string()),
        millis(at)
    ])?;
    Ok(())
}

/// Creates the guild with default settings and kinds the first time it is seen.
pub(super) fn ensure_guild(conn: &Db, guild: i64, now: DateTime<Utc>) -> Result<()> {
    let inserted = conn
        .prepare_cached("INSERT INTO guilds (guild_id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
        .execute(params![guild, millis(now)])?;
    if inserted > 0 {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO activity_kinds (guild_id, name, points, has_amount) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for kind in default_kinds() {
            stmt.execute(params![guild, kind.name.as_str(), kind.points, kind.has_amount])?;
        }
        audit(conn, guild, "rally", "guild.create", &format!("guild:{guild}"), None, None, now)?;
    }
    Ok(())
}

pub(super) fn load_settings(conn: &Db, guild: i64) -> Result<GuildSettings> {
    let row = conn
        .prepare_cached(
            "SELECT timezone, week_start, fiscal_year_start, working_days, manager_role, backdate_days,
             work_start, work_end, currency, number_format, crm_fed, board_exclude_role, money_privacy
             FROM guilds WHERE guild_id = ?1",
        )?
        .query_row([guild], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, String>(10)?,
                r.get::<_, Option<i64>>(11)?,
                r.get::<_, String>(12)?,
            ))
        })
        .optional()?;
    let Some((
        tz,
        week_start,
        fiscal,
        working,
        role,
        backdate,
        work_start,
        work_end,
        currency,
        format,
        crm_fed,
        exclude,
        privacy,
    )) = row
    else {
        return Ok(GuildSettings::default());
    };
    Ok(GuildSettings {
        timezone: parse_timezone(&tz)?,
        week_start: weekday_from_index(week_start),
        fiscal_year_start: FiscalStart::new(fiscal as u32)?,
        working_days: WorkingDays::from_bits(working as u8)?,
        manager_role: role.map(|r| r as u64),
        backdate_days: backdate as u32,
        working_hours: WorkingHours::from_minutes(work_start as u32, work_end as u32)?,
        currency: currency.as_deref().map(Currency::parse).transpose()?,
        number_format: format.as_deref().map(NumberFormat::parse).transpose()?,
        crm_fed: crm_fed.split(',').filter(|k| !k.is_empty()).map(KindName::parse).collect::<Result<_, _>>()?,
        board_exclude_role: exclude.map(|r| r as u64),
        money_privacy: MoneyPrivacy::parse(&privacy)?,
    })
}

/// Whether the guild has recorded any money (amounts, deals, revenue goals, plan bonuses): once it
/// has, its currency is no longer a free choice, since stored amounts would be read in another.
pub(super) const HAS_MONEY: &str = "EXISTS (SELECT 1 FROM activities a WHERE a.guild_id = ?1 AND a.amount > 0)
    OR EXISTS (SELECT 1 FROM deals d WHERE d.guild_id = ?1)
    OR EXISTS (SELECT 1 FROM goals g WHERE g.guild_id = ?1 AND g.metric = 'revenue')
    OR EXISTS (SELECT 1 FROM comp_plans p WHERE p.guild_id = ?1 AND p.team_bonus > 0)";

fn weekday_from_index(i: i64) -> Weekday {
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]
        [i.rem_euclid(7) as usize]
}

pub fn settings_json(s: &GuildSettings) -> serde_json::Value {
    json!({
        "timezone": s.timezone.name(),
        "week_start": weekday_name(s.week_start),
        "fiscal_year_start": s.fiscal_year_start.month(),
        "working_days": s.working_days.to_string(),
        "manager_role": s.manager_role.map(|r| r.to_string()),
        "backdate_days": s.backdate_days,
        "working_hours": s.working_hours.to_string(),
        "currency": s.currency.map(|c| c.code()),
        "number_format": s.number_format.map(|f| f.pattern()),
        "board_exclude_role": s.board_exclude_role.map(|r| r.to_string()),
        "money_privacy": s.money_privacy.as_str(),
    })
}

pub(super) fn load_kinds(conn: &Db, guild: i64) -> Result<Vec<(i64, ActivityKind)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind_id, name, points, has_amount FROM activity_kinds
         WHERE guild_id = ?1 AND retired_at IS NULL ORDER BY kind_id",
    )?;
    let rows = stmt.query_map([guild], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, bool>(3)?))
    })?;
    let mut kinds = Vec::new();
    for row in rows {
        let (id, name, points, has_amount) = row?;
        kinds.push((id, ActivityKind { name: KindName::parse(&name)?, points, has_amount }));
    }
    Ok(kinds)
}

/// Rewrites every activity's local day and rebuilds the guild's rollups from raw activities: needed
/// when the timezone changes, since local days move.
fn rebuild_rollups(conn: &Db, guild: i64, settings: &GuildSettings) -> Result<()> {
    {
        let mut select = conn.prepare("SELECT activity_id, occurred_at FROM activities WHERE guild_id = ?1")?;
        let mut update = conn.prepare("UPDATE activities SET local_day = ?2 WHERE activity_id = ?1")?;
        let rows: Vec<(i64, i64)> =
            select.query_map([guild], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<super::sql::Result<_>>()?;
        for (id, at) in rows {
            let day = local_date(settings.timezone, super::from_millis(at));
            update.execute(params![id, super::day_number(day)])?;
        }
    }
    conn.execute("DELETE FROM day_rollups WHERE guild_id = ?1", [guild])?;
    conn.execute(
        "INSERT INTO day_rollups (guild_id, local_day, user_id, team_id, kind_id, quantity, points, amount, activities)
         SELECT guild_id, local_day, user_id, team_id, kind_id, SUM(quantity), SUM(points), SUM(COALESCE(amount, 0)), COUNT(*)
         FROM activities WHERE guild_id = ?1 AND deleted_at IS NULL AND held = 0
         GROUP BY guild_id, local_day, user_id, team_id, kind_id",
        [guild],
    )?;
    conn.execute("DELETE FROM month_rollups WHERE guild_id = ?1", [guild])?;
    conn.execute(&month_rollups_from_days(conn.dialect()), [guild])?;
    // The kind-less points rollups, from the day rollups.
    conn.execute("DELETE FROM day_points WHERE guild_id = ?1", [guild])?;
    conn.execute(
        "INSERT INTO day_points (guild_id, local_day, user_id, team_id, points, revenue, activities)
         SELECT r.guild_id, r.local_day, r.user_id, r.team_id, SUM(r.points),
                SUM(CASE WHEN k.name = ?2 THEN r.amount ELSE 0 END), SUM(r.activities)
         FROM day_rollups r LEFT JOIN activity_kinds k ON k.kind_id = r.kind_id
         WHERE r.guild_id = ?1
         GROUP BY 1, 2, 3, 4",
        params![guild, crate::domain::activity::WON],
    )?;
    conn.execute("DELETE FROM month_points WHERE guild_id = ?1", [guild])?;
    conn.execute(
        &format!(
            "INSERT INTO month_points (guild_id, month, user_id, team_id, points, revenue, activities)
             SELECT guild_id, {}, user_id, team_id, SUM(points), SUM(revenue), SUM(activities)
             FROM day_points WHERE guild_id = ?1
             GROUP BY 1, 2, 3, 4",
            conn.dialect().month_start("local_day")
        ),
        [guild],
    )?;
    // The team rollups, from the member ones.
    for (table, from, period) in
        [("team_day_rollups", "day_rollups", "local_day"), ("team_month_rollups", "month_rollups", "month")]
    {
        conn.execute(&format!("DELETE FROM {table} WHERE guild_id = ?1"), [guild])?;
        conn.execute(
            &format!(
                "INSERT INTO {table} (guild_id, {period}, team_id, kind_id, quantity, points, amount, activities)
                 SELECT guild_id, {period}, team_id, kind_id, SUM(quantity), SUM(points), SUM(amount), SUM(activities)
                 FROM {from} WHERE guild_id = ?1
                 GROUP BY 1, 2, 3, 4"
            ),
            [guild],
        )?;
    }
    Ok(())
}

/// Rebuilds one guild's month rollups from its day rollups (`?1`: the guild).
pub(super) fn month_rollups_from_days(dialect: super::sql::Dialect) -> String {
    format!(
        "INSERT INTO month_rollups (guild_id, month, user_id, team_id, kind_id, quantity, points, amount, activities)
         SELECT guild_id, {}, user_id, team_id,
                kind_id, SUM(quantity), SUM(points), SUM(amount), SUM(activities)
         FROM day_rollups WHERE guild_id = ?1
         GROUP BY 1, 2, 3, 4, 5",
        dialect.month_start("local_day")
    )
}

impl Store {
    pub async fn guild_settings(&self, guild: i64) -> Result<GuildSettings> {
        let cache = &self.inner.cache;
        if let Some(s) = cache.settings(guild) {
            return Ok(s);
        }
        let generation = cache.generation();
        let s = self.read(move |c| load_settings(c, guild)).await?;
        cache.put_settings(generation, guild, s.clone());
        Ok(s)
    }

    /// Drops every cached setting and kind list, so the next reads come from the database: for a
    /// reader that learnt another process wrote (the wallboard's change marker moved), which the
    /// cache would otherwise serve stale for up to its TTL.
    pub fn forget_cached(&self) {
        self.inner.cache.invalidate();
    }

    /// Runs a write that changes settings or kinds, keeping the cache from serving what it replaced.
    pub(super) async fn write_guild<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T> + Send + 'static,
    {
        self.inner.cache.invalidate();
        let result = self.write(f).await;
        self.inner.cache.invalidate();
        result
    }

    /// Replaces the guild's settings; when the timezone changes, local days and rollups are rebuilt
    /// in the same transaction.
    pub async fn update_settings(
        &self,
        guild: i64,
        settings: GuildSettings,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<GuildSettings> {
        self.write_guild(move |c| {
            ensure_guild(c, guild, now)?;
            let before = load_settings(c, guild)?;
            c.prepare_cached(
                "UPDATE guilds SET timezone = ?2, week_start = ?3, fiscal_year_start = ?4, working_days = ?5,
                 manager_role = ?6, backdate_days = ?7, work_start = ?8, work_end = ?9, currency = ?10,
                 number_format = ?11, board_exclude_role = ?12, money_privacy = ?13 WHERE guild_id = ?1",
            )?
            .execute(params![
                guild,
                settings.timezone.name(),
                settings.week_start.num_days_from_monday(),
                settings.fiscal_year_start.month(),
                settings.working_days.bits(),
                settings.manager_role.map(|r| r as i64),
                settings.backdate_days,
                settings.working_hours.start_minute(),
                settings.working_hours.end_minute(),
                settings.currency.map(|c| c.code()),
                settings.number_format.map(|f| f.pattern()),
                settings.board_exclude_role.map(|r| r as i64),
                settings.money_privacy.as_str(),
            ])?;
            if before.timezone != settings.timezone {
                rebuild_rollups(c, guild, &settings)?;
            }
            audit(
                c,
                guild,
                &actor,
                "guild.settings",
                &format!("guild:{guild}"),
                Some(&settings_json(&before)),
                Some(&settings_json(&settings)),
                now,
            )?;
            Ok(settings)
        })
        .await
    }

    /// Whether the guild has recorded any money (amounts, deals, revenue goals, plan bonuses).
    pub async fn has_money(&self, guild: i64) -> Result<bool> {
        self.read(move |c| Ok(c.query_row(&format!("SELECT {HAS_MONEY}"), [guild], |r| r.get(0))?)).await
    }

    /// Stores `money` as the guild's currency and number format where it has none yet (a choice
    /// already made is kept), with an audit entry when anything changed.
    pub async fn fix_money_defaults(&self, guild: i64, money: Money, now: DateTime<Utc>) -> Result<()> {
        self.write_guild(move |c| {
            ensure_guild(c, guild, now)?;
            let before = load_settings(c, guild)?;
            c.prepare_cached(
                "UPDATE guilds SET currency = COALESCE(currency, ?2), number_format = COALESCE(number_format, ?3)
                 WHERE guild_id = ?1",
            )?
            .execute(params![guild, money.currency.code(), money.format.pattern()])?;
            let after = load_settings(c, guild)?;
            if after != before {
                audit(
                    c,
                    guild,
                    "rally",
                    "guild.money",
                    &format!("guild:{guild}"),
                    Some(&settings_json(&before)),
                    Some(&settings_json(&after)),
                    now,
                )?;
            }
            Ok(())
        })
        .await
    }

    /// The guild's active kinds with their ids (a guild not seen yet has the defaults).
    pub async fn kinds(&self, guild: i64) -> Result<Vec<ActivityKind>> {
        Ok(self.kinds_shared(guild).await?.as_ref().clone())
    }

    /// The same, shared with the cache (no copy).
    pub async fn kinds_shared(&self, guild: i64) -> Result<std::sync::Arc<Vec<ActivityKind>>> {
        let cache = &self.inner.cache;
        if let Some(k) = cache.kinds(guild) {
            return Ok(k);
        }
        let generation = cache.generation();
        let kinds = self.read(move |c| load_kinds(c, guild)).await?;
        let kinds = std::sync::Arc::new(if kinds.is_empty() {
            default_kinds()
        } else {
            kinds.into_iter().map(|(_, k)| k).collect()
        });
        cache.put_kinds(generation, guild, kinds.clone());
        Ok(kinds)
    }

    /// Adds a kind or changes its points; points already logged keep their value.
    pub async fn upsert_kind(&self, guild: i64, kind: ActivityKind, actor: String, now: DateTime<Utc>) -> Result<()> {
        self.write_guild(move |c| {
            ensure_guild(c, guild, now)?;
            let before = load_kinds(c, guild)?.into_iter().find(|(_, k)| k.name == kind.name).map(|(_, k)| k);
            c.prepare_cached(
                "INSERT INTO activity_kinds (guild_id, name, points, has_amount) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (guild_id, name) DO UPDATE SET points = excluded.points,
                 has_amount = excluded.has_amount, retired_at = NULL",
            )?
            .execute(params![guild, kind.name.as_str(), kind.points, kind.has_amount])?;
            audit(
                c,
                guild,
                &actor,
                "kind.set",
                &format!("kind:{}", kind.name),
                before.map(|b| serde_json::to_value(b).unwrap_or_default()).as_ref(),
                Some(&serde_json::to_value(&kind).unwrap_or_default()),
                now,
            )?;
            Ok(())
        })
        .await
    }

    /// Retires a kind: it can no longer be logged, history keeps it. `won` and `lost` are kept
    /// because KPIs (revenue, win rate) depend on them.
    pub async fn retire_kind(&self, guild: i64, name: KindName, actor: String, now: DateTime<Utc>) -> Result<()> {
        if name.as_str() == crate::domain::activity::WON || name.as_str() == crate::domain::activity::LOST {
            return Err(StoreError::rule(format!("`{name}` is needed for revenue and win rate and cannot be removed")));
        }
        self.write_guild(move |c| {
            ensure_guild(c, guild, now)?;
            let n = c
                .prepare_cached(
                    "UPDATE activity_kinds SET retired_at = ?3 WHERE guild_id = ?1 AND name = ?2 AND retired_at IS NULL",
                )?
                .execute(params![guild, name.as_str(), millis(now)])?;
            if n == 0 {
                let kinds: Vec<ActivityKind> = load_kinds(c, guild)?.into_iter().map(|(_, k)| k).collect();
                return Err(StoreError::rule(unknown_kind(name.as_str(), &kinds)));
            }
            audit(c, guild, &actor, "kind.retire", &format!("kind:{name}"), None, None, now)?;
            Ok(())
        })
        .await
    }

    /// Whether anything was ever stored for the guild (settings, members, activities, ...): every
    /// write creates the guild's row first, so its absence means rally has never seen the guild.
    pub async fn guild_exists(&self, guild: i64) -> Result<bool> {
        self.read(move |c| Ok(c.prepare_cached("SELECT 1 FROM guilds WHERE guild_id = ?1")?.exists([guild])?)).await
    }

    /// The number of audit entries for a guild (for tests and `db check`).
    pub async fn audit_count(&self, guild: i64) -> Result<i64> {
        self.read(move |c| Ok(c.query_row("SELECT COUNT(*) FROM audit WHERE guild_id = ?1", [guild], |r| r.get(0))?))
            .await
    }

    /// A guild's audit trail, oldest first: (actor, action, target) of every entry.
    pub async fn audit_trail(&self, guild: i64) -> Result<Vec<(String, String, String)>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT actor, action, target FROM audit WHERE guild_id = ?1 ORDER BY audit_id")?;
            let rows = stmt.query_map([guild], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }
}
