//! Teams and rosters.

use chrono::{DateTime, Utc};

use super::{App, AppError, AppResult};
use crate::domain::activity::{Name, Snowflake};
/// A team and a member as the storage interface returns them (its row types; for now the SQLite
/// store's own, later backend-neutral).
pub use crate::store::{Member, Team};

/// A team with its current members.
#[derive(Clone, Debug)]
pub struct Roster {
    pub team: Team,
    pub members: Vec<Member>,
}

impl App {
    /// The guild's teams.
    pub async fn teams(&self, guild: Snowflake) -> AppResult<Vec<Team>> {
        Ok(self.store.teams(guild.as_i64()).await?)
    }

    /// A team by name, case-insensitively; `None` when there is none (see [`App::team`] for the
    /// friendly error).
    pub async fn team_named(&self, guild: Snowflake, name: &str) -> AppResult<Option<Team>> {
        Ok(self.store.team_by_name(guild.as_i64(), name.to_string()).await?)
    }

    /// A member rally knows, with their current team; `None` when they never logged or joined one.
    pub async fn member(&self, guild: Snowflake, user: Snowflake) -> AppResult<Option<Member>> {
        Ok(self.store.member(guild.as_i64(), user.as_i64()).await?)
    }

    /// Finds a team by name, case-insensitively, with a friendly error when there is none.
    pub async fn team(&self, guild: Snowflake, name: &str) -> AppResult<Team> {
        let name = name.trim();
        match self.store.team_by_name(guild.as_i64(), name.to_string()).await? {
            Some(team) => Ok(team),
            None => Err(AppError::User(no_such_team(name, &self.store.teams(guild.as_i64()).await?))),
        }
    }

    pub async fn create_team(
        &self,
        guild: Snowflake,
        name: &str,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Team> {
        let name = Name::parse(name, "team name")?;
        Ok(self.store.create_team(guild.as_i64(), name, actor, now).await?)
    }

    pub async fn rename_team(
        &self,
        guild: Snowflake,
        team: &str,
        name: &str,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<(Team, String)> {
        let team = self.team(guild, team).await?;
        let new = Name::parse(name, "team name")?;
        self.store.rename_team(guild.as_i64(), team.id, new.clone(), actor, now).await?;
        Ok((team, new.as_str().to_string()))
    }

    pub async fn delete_team(
        &self,
        guild: Snowflake,
        team: &str,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<(Team, usize)> {
        let team = self.team(guild, team).await?;
        let moved = self.store.delete_team(guild.as_i64(), team.id, actor, now).await?;
        Ok((team, moved))
    }

    /// Puts a member on a team from now on; their earlier activities stay with their old team.
    /// Returns the team and whether the member moved (false: they were already on it).
    pub async fn add_to_team(
        &self,
        guild: Snowflake,
        team: &str,
        user: Snowflake,
        user_name: &str,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<(Team, bool)> {
        let team = self.team(guild, team).await?;
        if self.store.member(guild.as_i64(), user.as_i64()).await?.is_some_and(|m| m.team_id == team.id) {
            return Ok((team, false));
        }
        let name = self.member_name(guild, user, user_name).await?;
        self.store.set_member_team(guild.as_i64(), user.as_i64(), name, team.id, actor, now).await?;
        Ok((team, true))
    }

    /// Takes a member off their team; returns the team they were on.
    pub async fn remove_from_team(
        &self,
        guild: Snowflake,
        user: Snowflake,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Team> {
        let member = self.store.member(guild.as_i64(), user.as_i64()).await?;
        let Some(member) = member.filter(|m| m.team_id != 0) else {
            return Err(AppError::User(format!("<@{user}> is not on a team")));
        };
        let team = self.store.teams(guild.as_i64()).await?.into_iter().find(|t| t.id == member.team_id);
        self.store.set_member_team(guild.as_i64(), user.as_i64(), member.user_name, 0, actor, now).await?;
        team.ok_or_else(|| AppError::User(format!("<@{user}> is not on a team")))
    }

    pub async fn set_team_channel(
        &self,
        guild: Snowflake,
        team: &str,
        channel: u64,
        actor: String,
        now: DateTime<Utc>,
    ) -> AppResult<Team> {
        let team = self.team(guild, team).await?;
        self.store.set_team_channel(guild.as_i64(), team.id, Some(channel), actor, now).await?;
        Ok(team)
    }

    /// Every team with its members, and the members on no team.
    pub async fn rosters(&self, guild: Snowflake) -> AppResult<(Vec<Roster>, Vec<Member>)> {
        let teams = self.store.teams(guild.as_i64()).await?;
        let mut members = self.store.members(guild.as_i64()).await?;
        members.sort_by_key(|m| m.user_name.to_lowercase());
        let rosters = teams
            .into_iter()
            .map(|team| {
                let on: Vec<Member> = members.iter().filter(|m| m.team_id == team.id).cloned().collect();
                Roster { team, members: on }
            })
            .collect();
        let loose = members.into_iter().filter(|m| m.team_id == 0).collect();
        Ok((rosters, loose))
    }

    /// The name to store for a member: the one Discord gave, else the one on record, else the id.
    async fn member_name(&self, guild: Snowflake, user: Snowflake, given: &str) -> AppResult<String> {
        if let Ok(name) = Name::parse(given, "name") {
            return Ok(name.as_str().to_string());
        }
        Ok(self
            .store
            .member(guild.as_i64(), user.as_i64())
            .await?
            .map(|m| m.user_name)
            .unwrap_or_else(|| format!("user {user}")))
    }
}

/// "there is no team named `Nrod`; did you mean `Nord`? The teams are: Nord, Süd".
pub(crate) fn no_such_team(name: &str, teams: &[Team]) -> String {
    let shown = crate::domain::activity::shorten(name.trim(), 40);
    if teams.is_empty() {
        return format!("there is no team named `{shown}`; there are no teams yet (create one with /team create)");
    }
    let names: Vec<&str> = teams.iter().map(|t| t.name.as_str()).collect();
    let near = crate::domain::suggest::closest(name.trim(), names.iter().copied())
        .map_or("the".to_string(), |n| format!("did you mean `{n}`? The"));
    let listed: Vec<&str> = names.iter().copied().take(25).collect();
    let more = if names.len() > 25 { format!(" and {} more", names.len() - 25) } else { String::new() };
    format!("there is no team named `{shown}`; {near} teams are: {}{more}", listed.join(", "))
}
