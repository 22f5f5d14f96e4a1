//! Teams and members. A member is on at most one team at a time (team 0 = none); activities keep
//! the team they were logged under, so moving a rep never moves their history.

use super::sql::{Db, OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::guilds::{audit, ensure_guild};
use super::{Result, Store, StoreError, millis};
use crate::domain::activity::Name;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub channel_id: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user_id: u64,
    pub user_name: String,
    /// 0 when the member is on no team.
    pub team_id: i64,
}

pub(super) fn find_team(conn: &Db, guild: i64, name: &str) -> Result<Option<Team>> {
    Ok(conn
        .prepare_cached(
            "SELECT team_id, name, channel_id FROM teams
             WHERE guild_id = ?1 AND name = ?2 COLLATE NOCASE AND deleted_at IS NULL",
        )?
        .query_row(params![guild, name], |r| {
            Ok(Team { id: r.get(0)?, name: r.get(1)?, channel_id: r.get::<_, Option<i64>>(2)?.map(|c| c as u64) })
        })
        .optional()?)
}

/// Finds a team by name (case-insensitive), creating it when missing.
pub(super) fn find_or_create_team(conn: &Db, guild: i64, name: &Name, actor: &str, now: DateTime<Utc>) -> Result<i64> {
    if let Some(team) = find_team(conn, guild, name.as_str())? {
        return Ok(team.id);
    }
    let id: i64 = conn
        .prepare_cached("INSERT INTO teams (guild_id, name, created_at) VALUES (?1, ?2, ?3) RETURNING team_id")?
        .query_row(params![guild, name.as_str(), millis(now)], |r| r.get(0))?;
    audit(conn, guild, actor, "team.create", &format!("team:{id}"), None, Some(&json!({"name": name.as_str()})), now)?;
    Ok(id)
}

pub(super) fn load_member(conn: &Db, guild: i64, user: i64) -> Result<Option<Member>> {
    Ok(conn
        .prepare_cached("SELECT user_id, user_name, team_id FROM members WHERE guild_id = ?1 AND user_id = ?2")?
        .query_row(params![guild, user], |r| {
            Ok(Member { user_id: r.get::<_, i64>(0)? as u64, user_name: r.get(1)?, team_id: r.get(2)? })
        })
        .optional()?)
}

/// Makes sure the member exists and carries their latest display name. When `team` is given with
/// the time it applied from, the member moves to it unless a later team assignment is on record.
/// Returns the member's team as of now.
pub(super) fn upsert_member(
    conn: &Db,
    guild: i64,
    user: i64,
    name: &str,
    team: Option<(i64, DateTime<Utc>)>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let existing = conn
        .prepare_cached("SELECT user_name, team_id, team_since FROM members WHERE guild_id = ?1 AND user_id = ?2")?
        .query_row(params![guild, user], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))
        .optional()?;
    match existing {
        None => {
            let (team_id, since) = team.map(|(t, at)| (t, millis(at))).unwrap_or((0, millis(now)));
            conn.prepare_cached(
                "INSERT INTO members (guild_id, user_id, user_name, team_id, team_since, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![guild, user, name, team_id, since, millis(now)])?;
            audit(
                conn,
                guild,
                actor,
                "member.create",
                &format!("user:{user}"),
                None,
                Some(&json!({"user_name": name, "team_id": team_id})),
                now,
            )?;
            Ok(team_id)
        }
        Some((old_name, old_team, since)) => {
            let mut team_id = old_team;
            let mut team_since = since;
            if let Some((t, at)) = team
                && t != old_team
                && millis(at) >= since
            {
                team_id = t;
                team_since = millis(at);
            }
            if old_name != name || team_id != old_team {
                conn.prepare_cached(
                    "UPDATE members SET user_name = ?3, team_id = ?4, team_since = ?5 WHERE guild_id = ?1 AND user_id = ?2",
                )?
                .execute(params![guild, user, name, team_id, team_since])?;
                audit(
                    conn,
                    guild,
                    actor,
                    "member.update",
                    &format!("user:{user}"),
                    Some(&json!({"user_name": old_name, "team_id": old_team})),
                    Some(&json!({"user_name": name, "team_id": team_id})),
                    now,
                )?;
            }
            Ok(team_id)
        }
    }
}

/// The guild's live teams, sorted [`by_name`].
pub(super) fn live_teams(c: &Db, guild: i64) -> Result<Vec<Team>> {
    let mut stmt =
        c.prepare_cached("SELECT team_id, name, channel_id FROM teams WHERE guild_id = ?1 AND deleted_at IS NULL")?;
    let rows = stmt.query_map([guild], |r| {
        Ok(Team { id: r.get(0)?, name: r.get(1)?, channel_id: r.get::<_, Option<i64>>(2)?.map(|c| c as u64) })
    })?;
    let mut teams = rows.collect::<super::sql::Result<Vec<Team>>>()?;
    teams.sort_by(by_name);
    Ok(teams)
}

/// What [`directory_with`] reads.
pub(super) struct Directory {
    /// The guild's live teams, [`by_name`].
    pub teams: Vec<Team>,
    /// Its members, by user id.
    pub members: Vec<Member>,
    /// Whether its leaderboards are on (`/settings leaderboards`; on for a guild not seen yet).
    pub leaderboards: bool,
    /// Whether the teams and members are those the connection held, unchanged since it read them
    /// (no rows of theirs were read this time).
    pub held: bool,
}

/// A guild's teams and members as a read connection read them, and the version of the directory
/// they were read at (`guilds.directory_version`, which every change to them moves on: SQLite's
/// migration 20).
pub(crate) struct HeldDirectory {
    version: i64,
    teams: Vec<Team>,
    members: Vec<Member>,
}

/// Guilds whose directory a connection holds at most; past this it starts over.
const HELD_GUILDS: usize = 1_000;

/// The guild's teams, members and leaderboard switch in one statement (a reply that needs them
/// pays one round trip for them on PostgreSQL) and, in the same statement, the rows of `more`: branches of eight columns
/// (a tag of 3 or more, an integer, a text, five integers; see [`super::kpis::Branches`]), each
/// handed to `each` with its tag. The directory's own rows are tagged 0 (teams), 1 (members) and
/// 2 (the switch and the directory's version).
///
/// A read connection keeps the teams and members it read, with their version
/// ([`HeldDirectory`]): the statement then reads them only if the version moved since, in the
/// same snapshot as the rest, so what it gives is what a read of every row would. A guild of
/// 1,000 reps sent them over PostgreSQL's socket on every board (the bench's full scale).
pub(super) fn directory_with(
    c: &Db,
    guild: i64,
    more: &super::kpis::Branches,
    each: impl FnMut(i64, &super::sql::Row<'_>) -> Result<()>,
) -> Result<Directory> {
    directory_of(c, guild, None, more, each)
}

/// [`directory_with`] with, when `mates_of` names a member (a user id), only that member and those
/// on their live team among the members: what `/me` ranks them among.
pub(super) fn directory_of(
    c: &Db,
    guild: i64,
    mates_of: Option<i64>,
    more: &super::kpis::Branches,
    mut each: impl FnMut(i64, &super::sql::Row<'_>) -> Result<()>,
) -> Result<Directory> {
    use super::kpis::Z;
    let held = c.memo().and_then(|m| m.directories.get(&guild).cloned());
    let mut values = more.bound(guild);
    values.push(super::sql::Value::Integer(held.as_ref().map_or(-1, |h| h.version)));
    // Read unless the guild's directory is still at the version held (versions are never negative).
    let unless_held =
        format!("NOT EXISTS (SELECT 1 FROM guilds WHERE guild_id = ?1 AND directory_version = ?{})", values.len());
    let mut sql = format!(
        "SELECT CAST(0 AS BIGINT), team_id, name, channel_id, {Z}, {Z}, {Z}, {Z} FROM teams
         WHERE guild_id = ?1 AND deleted_at IS NULL AND {unless_held}
         UNION ALL SELECT CAST(1 AS BIGINT), user_id, user_name, team_id, {Z}, {Z}, {Z}, {Z} FROM members
         WHERE guild_id = ?1 AND {unless_held}
         UNION ALL SELECT CAST(2 AS BIGINT), leaderboards, NULL, NULL, directory_version, {Z}, {Z}, {Z} FROM guilds
         WHERE guild_id = ?1"
    );
    for branch in &more.sql {
        sql.push_str(" UNION ALL ");
        sql.push_str(branch);
    }
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(super::sql::params_from_iter(&values))?;
    let (mut teams, mut members) = (Vec::new(), Vec::new());
    let (mut leaderboards, mut version) = (true, None);
    while let Some(r) = rows.next()? {
        match r.get::<_, i64>(0)? {
            0 => {
                let channel_id = r.get::<_, Option<i64>>(3)?.map(|c| c as u64);
                teams.push(Team { id: r.get(1)?, name: r.get(2)?, channel_id });
            }
            1 => members.push(Member { user_id: r.get::<_, i64>(1)? as u64, user_name: r.get(2)?, team_id: r.get(3)? }),
            2 => {
                leaderboards = r.get::<_, i64>(1)? != 0;
                version = Some(r.get::<_, i64>(4)?);
            }
            tag => each(tag, &r)?,
        }
    }
    let mut d = match held.filter(|h| Some(h.version) == version) {
        Some(h) => Directory { teams: h.teams.clone(), members: h.members.clone(), leaderboards, held: true },
        None => {
            teams.sort_by(by_name);
            members.sort_by_key(|m: &Member| m.user_id as i64);
            Directory { teams, members, leaderboards, held: false }
        }
    };
    if !d.held
        && let (Some(version), Some(mut memo)) = (version, c.memo())
    {
        if memo.directories.len() >= HELD_GUILDS {
            memo.directories.clear();
        }
        let held = HeldDirectory { version, teams: d.teams.clone(), members: d.members.clone() };
        memo.directories.insert(guild, std::sync::Arc::new(held));
    }
    if let Some(user) = mates_of {
        // The member's team, if it is live; a member without one has no mates.
        let team = d
            .members
            .iter()
            .find(|m| m.user_id as i64 == user)
            .map(|m| m.team_id)
            .filter(|t| d.teams.iter().any(|live| live.id == *t));
        d.members.retain(|m| m.user_id as i64 == user || Some(m.team_id) == team);
    }
    Ok(d)
}

/// Teams in the order of SQLite's `COLLATE NOCASE` (bytes, ASCII letters folded to lower case),
/// then by the exact name: sorted here rather than in SQL, so both backends list them alike
/// (PostgreSQL's case-insensitive ICU collation orders punctuation and accents its own way) and
/// PostgreSQL spends no collation on every reply that lists them (0.1 to 0.2 ms).
pub(super) fn by_name(a: &Team, b: &Team) -> std::cmp::Ordering {
    let folded = |t: &Team| t.name.bytes().map(|b| b.to_ascii_lowercase()).collect::<Vec<u8>>();
    folded(a).cmp(&folded(b)).then_with(|| a.name.cmp(&b.name))
}

impl Store {
    /// The guild's live teams, by name without regard to ASCII case ([`by_name`]).
    pub async fn teams(&self, guild: i64) -> Result<Vec<Team>> {
        self.read(move |c| live_teams(c, guild)).await
    }

    pub async fn team_by_name(&self, guild: i64, name: String) -> Result<Option<Team>> {
        self.read(move |c| find_team(c, guild, &name)).await
    }

    pub async fn members(&self, guild: i64) -> Result<Vec<Member>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT user_id, user_name, team_id FROM members WHERE guild_id = ?1 ORDER BY user_id",
            )?;
            let rows = stmt.query_map([guild], |r| {
                Ok(Member { user_id: r.get::<_, i64>(0)? as u64, user_name: r.get(1)?, team_id: r.get(2)? })
            })?;
            Ok(rows.collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    /// The Discord role ids last stored for a member (sorted); `None` when they are not a member.
    pub async fn member_roles(&self, guild: i64, user: i64) -> Result<Option<Vec<u64>>> {
        self.read(move |c| {
            let text: Option<String> = c
                .prepare_cached("SELECT roles FROM members WHERE guild_id = ?1 AND user_id = ?2")?
                .query_row(params![guild, user], |r| r.get(0))
                .optional()?;
            Ok(text.map(|t| t.split_whitespace().filter_map(|id| id.parse().ok()).collect()))
        })
        .await
    }

    /// Stores the Discord roles a member holds (ids, sorted by the caller), as seen on one of their
    /// interactions. Nothing happens for someone who is not a member.
    pub async fn set_member_roles(&self, guild: i64, user: i64, roles: &[u64]) -> Result<()> {
        let text = roles.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
        self.write(move |c| {
            c.prepare_cached("UPDATE members SET roles = ?3 WHERE guild_id = ?1 AND user_id = ?2")?
                .execute(params![guild, user, text])?;
            Ok(())
        })
        .await
    }

    /// The members whose last seen roles include `role`: those the guild leaves off its boards.
    pub async fn members_with_role(&self, guild: i64, role: u64) -> Result<std::collections::HashSet<u64>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT user_id FROM members WHERE guild_id = ?1 AND {}",
                c.dialect().contains("' ' || roles || ' '", "' ' || ?2 || ' '")
            ))?;
            let rows = stmt.query_map(params![guild, role.to_string()], |r| r.get::<_, i64>(0))?;
            Ok(rows.map(|r| r.map(|u| u as u64)).collect::<super::sql::Result<_>>()?)
        })
        .await
    }

    pub async fn member(&self, guild: i64, user: i64) -> Result<Option<Member>> {
        self.read(move |c| load_member(c, guild, user)).await
    }

    /// Creates a team; a second team with the same name (any case) is refused.
    pub async fn create_team(&self, guild: i64, name: Name, actor: String, now: DateTime<Utc>) -> Result<Team> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            if find_team(c, guild, name.as_str())?.is_some() {
                return Err(StoreError::rule(format!("a team named `{name}` already exists")));
            }
            let id = find_or_create_team(c, guild, &name, &actor, now)?;
            Ok(Team { id, name: name.as_str().to_string(), channel_id: None })
        })
        .await
    }

    /// Puts a member on a team (team 0: on none) from `now` on; their history stays where it was.
    pub async fn set_member_team(
        &self,
        guild: i64,
        user: i64,
        user_name: String,
        team: i64,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| {
            ensure_guild(c, guild, now)?;
            upsert_member(c, guild, user, &user_name, None, &actor, now)?;
            let before = load_member(c, guild, user)?.map(|m| m.team_id).unwrap_or(0);
            if before != team {
                c.prepare_cached(
                    "UPDATE members SET team_id = ?3, team_since = ?4 WHERE guild_id = ?1 AND user_id = ?2",
                )?
                .execute(params![guild, user, team, millis(now)])?;
                audit(
                    c,
                    guild,
                    &actor,
                    "member.team",
                    &format!("user:{user}"),
                    Some(&json!({"team_id": before})),
                    Some(&json!({"team_id": team})),
                    now,
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Renames a team; another team (any case) with the new name is refused.
    pub async fn rename_team(
        &self,
        guild: i64,
        team: i64,
        name: Name,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| {
            if let Some(other) = find_team(c, guild, name.as_str())?
                && other.id != team
            {
                return Err(StoreError::rule(format!("a team named `{}` already exists", other.name)));
            }
            let before: String = c.query_row(
                "SELECT name FROM teams WHERE team_id = ?1 AND guild_id = ?2 AND deleted_at IS NULL",
                params![team, guild],
                |r| r.get(0),
            )?;
            c.prepare_cached("UPDATE teams SET name = ?3 WHERE team_id = ?1 AND guild_id = ?2")?.execute(params![
                team,
                guild,
                name.as_str()
            ])?;
            audit(
                c,
                guild,
                &actor,
                "team.rename",
                &format!("team:{team}"),
                Some(&json!({"name": before})),
                Some(&json!({"name": name.as_str()})),
                now,
            )?;
            Ok(())
        })
        .await
    }

    /// Deletes a team: its members are left without a team, its history stays (soft delete).
    /// Returns how many members were on it.
    pub async fn delete_team(&self, guild: i64, team: i64, actor: String, now: DateTime<Utc>) -> Result<usize> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE teams SET deleted_at = ?3 WHERE team_id = ?1 AND guild_id = ?2 AND deleted_at IS NULL",
                )?
                .execute(params![team, guild, millis(now)])?;
            if n == 0 {
                return Err(StoreError::rule("that team does not exist"));
            }
            let moved = c
                .prepare_cached("UPDATE members SET team_id = 0, team_since = ?3 WHERE guild_id = ?1 AND team_id = ?2")?
                .execute(params![guild, team, millis(now)])?;
            audit(
                c,
                guild,
                &actor,
                "team.delete",
                &format!("team:{team}"),
                None,
                Some(&json!({"members_left": moved})),
                now,
            )?;
            Ok(moved)
        })
        .await
    }

    /// Sets (or clears) the channel a team's posts go to.
    pub async fn set_team_channel(
        &self,
        guild: i64,
        team: i64,
        channel: Option<u64>,
        actor: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE teams SET channel_id = ?3 WHERE team_id = ?1 AND guild_id = ?2 AND deleted_at IS NULL",
                )?
                .execute(params![team, guild, channel.map(|c| c as i64)])?;
            if n == 0 {
                return Err(StoreError::rule("that team does not exist"));
            }
            audit(
                c,
                guild,
                &actor,
                "team.channel",
                &format!("team:{team}"),
                None,
                Some(&json!({"channel_id": channel.map(|c| c.to_string())})),
                now,
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::kpis::Branches;
    use super::super::{Location, Store, pg_connect};
    use super::*;

    /// A migrated database on each backend at hand (PostgreSQL when `RALLY_TEST_POSTGRES` names a
    /// server), each as a connection that writes and a read connection that keeps what it reads,
    /// as the store's readers do.
    fn backends(
        dir: &std::path::Path,
    ) -> Vec<(&'static str, Db, Db, Option<super::super::postgres::testing::ScratchDatabase>)> {
        let path = dir.join("d.db");
        drop(Store::open(&path).unwrap());
        let sqlite = |path: &std::path::Path| Db::sqlite(rusqlite::Connection::open(path).unwrap());
        let mut out = vec![("SQLite", sqlite(&path), sqlite(&path).remember_reads(), None)];
        if let Some(scratch) = super::super::postgres::testing::scratch_database() {
            drop(Store::open_at(&Location::Postgres(scratch.url().to_owned())).unwrap());
            let (writer, reader) = (pg_connect(scratch.url()).unwrap(), pg_connect(scratch.url()).unwrap());
            out.push(("PostgreSQL", writer, reader.remember_reads(), Some(scratch)));
        }
        out
    }

    fn read(db: &Db, mates_of: Option<i64>) -> Directory {
        directory_of(db, 1, mates_of, &Branches::default(), |_, _| Ok(())).unwrap()
    }

    #[test]
    fn a_held_directory_is_read_again_after_every_change_to_teams_or_members_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        for (backend, writer, reader, _scratch) in backends(dir.path()) {
            writer
                .execute_batch(
                    "INSERT INTO guilds (guild_id, created_at) VALUES (1, 0), (2, 0);
                     INSERT INTO teams (team_id, guild_id, name, created_at) VALUES (10, 1, 'Alpha', 0), (20, 2, 'Other', 0);
                     INSERT INTO members (guild_id, user_id, user_name, team_id, team_since, created_at)
                     VALUES (1, 5, 'Ann', 10, 0, 0), (1, 6, 'Bo', 10, 0, 0), (1, 7, 'Cy', 0, 0, 0), (2, 5, 'Ann', 20, 0, 0)",
                )
                .unwrap();
            // What a read of every row gives now, on a connection that keeps nothing.
            let fresh = |db: &Db| {
                let d = read(db, None);
                assert!(!d.held);
                (d.teams, d.members, d.leaderboards)
            };
            let first = read(&reader, None);
            assert!(!first.held, "{backend}: nothing is held before the first read");
            assert_eq!((first.teams, first.members, first.leaderboards), fresh(&writer));
            // Each change, and whether it changes the directory of guild 1. Every statement runs
            // outside the store, as an admin's own SQL would: the triggers, not rally's writes,
            // move the version.
            let changes = [
                (
                    "a member added",
                    "INSERT INTO members (guild_id, user_id, user_name, team_id, team_since, created_at) VALUES (1, 8, 'Di', 0, 0, 0)",
                    true,
                ),
                ("a member renamed", "UPDATE members SET user_name = 'Dee' WHERE guild_id = 1 AND user_id = 8", true),
                (
                    "a member moved to a team",
                    "UPDATE members SET team_id = 10, team_since = 5 WHERE guild_id = 1 AND user_id = 8",
                    true,
                ),
                ("a member's roles", "UPDATE members SET roles = '42' WHERE guild_id = 1 AND user_id = 8", false),
                (
                    "a member's name set to what it was",
                    "UPDATE members SET user_name = 'Dee' WHERE guild_id = 1 AND user_id = 8",
                    false,
                ),
                (
                    "a team created",
                    "INSERT INTO teams (team_id, guild_id, name, created_at) VALUES (11, 1, 'Beta', 0)",
                    true,
                ),
                ("a team renamed", "UPDATE teams SET name = 'beta two' WHERE team_id = 11", true),
                ("a team's channel", "UPDATE teams SET channel_id = 77 WHERE team_id = 11", true),
                ("a team deleted", "UPDATE teams SET deleted_at = 9 WHERE team_id = 11", true),
                (
                    "the members of a deleted team leaving it",
                    "UPDATE members SET team_id = 0 WHERE guild_id = 1 AND team_id = 11",
                    false,
                ),
                ("a member removed", "DELETE FROM members WHERE guild_id = 1 AND user_id = 8", true),
                (
                    "another guild's member renamed",
                    "UPDATE members SET user_name = 'Annie' WHERE guild_id = 2 AND user_id = 5",
                    false,
                ),
                ("another guild's team renamed", "UPDATE teams SET name = 'Others' WHERE team_id = 20", false),
                ("the leaderboard switch", "UPDATE guilds SET leaderboards = 0 WHERE guild_id = 1", false),
                ("a team removed for good", "DELETE FROM teams WHERE team_id = 11", true),
            ];
            for (what, sql, changes_directory) in changes {
                assert!(read(&reader, None).held, "{backend}: held before {what}");
                writer.execute_batch(sql).unwrap();
                let after = read(&reader, None);
                assert_eq!(after.held, !changes_directory, "{backend}: {what}");
                assert_eq!((after.teams, after.members, after.leaderboards), fresh(&writer), "{backend}: {what}");
            }
            // A held directory gives a member's mates as a read of their team does.
            let mates = |d: Directory| d.members.into_iter().map(|m| m.user_id).collect::<Vec<_>>();
            let held = read(&reader, Some(5));
            assert!(held.held);
            assert_eq!(mates(held), [5, 6], "{backend}: Ann and Bo are on Alpha");
            assert_eq!(mates(read(&reader, Some(7))), [7], "{backend}: Cy is on no team");
            assert_eq!(mates(read(&writer, Some(6))), [5, 6], "{backend}");
            writer.execute_batch("UPDATE teams SET deleted_at = 3 WHERE team_id = 10").unwrap();
            assert_eq!(mates(read(&reader, Some(5))), [5], "{backend}: a deleted team has no mates");
        }
    }
}
