//! The wallboard's use cases: its links (random tokens, kept hashed, one live link per guild), the
//! "guild changed" signal the ingestion paths raise after they commit, and what the TV shows, read
//! through the same reads as the boards (report, competition standings, goal pace) with the guild's
//! money privacy applied here, so no amount the guild keeps private ever reaches the page.
//! Must not import `web`, `handlers` or anything of the transports.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};

use super::report::ReportNeeds;
use super::{App, AppError, AppResult};
use crate::domain::activity::{Snowflake, WON};
use crate::domain::competition::Scoring;
use crate::domain::goals::{GoalMetric, GoalPeriod, GoalSubject};
use crate::domain::money::Money;
use crate::domain::period::{PeriodSpec, local_date};
use crate::domain::settings::MoneyPrivacy;

/// Rows on the reps' and teams' slides, and places per competition.
const TOP: usize = 10;
/// Wins in the feed.
const WINS: usize = 12;
/// Changes queued per listener before the oldest are dropped (a listener that lags just renders
/// once for all of them).
const CHANGES_BUFFER: usize = 1024;

/// The wallboard's process-wide state, one per [`App`].
pub(crate) struct WallState {
    /// Guild ids whose boards changed, sent after each ingestion commit.
    changes: tokio::sync::broadcast::Sender<i64>,
    /// The base URL people reach this rally at (`--public-url`), without a trailing slash.
    public_url: RwLock<Option<String>>,
}

impl Default for WallState {
    fn default() -> Self {
        WallState { changes: tokio::sync::broadcast::channel(CHANGES_BUFFER).0, public_url: RwLock::new(None) }
    }
}

/// A wallboard link just made: the URL to open on the TV (it holds the secret token: shown once,
/// never logged) and how many older links it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WallLink {
    pub url: String,
    pub replaced: usize,
}

/// What the TV shows, as of [`WallData::as_of`]. Money the guild keeps private is already `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct WallData {
    pub guild: i64,
    /// When it was read (UTC).
    pub as_of: DateTime<Utc>,
    /// The guild's local time then, `HH:MM`.
    pub local_time: String,
    /// The days the reps' and teams' slides rank over (this week): `23 – 29 Nov`.
    pub period_label: String,
    /// The guild's currency and number format.
    pub money: Money,
    /// Whether amounts are shown (the guild's money privacy is `everyone`).
    pub amounts: bool,
    /// Reps by points; `None` when the guild turned its leaderboards off.
    pub reps: Option<Vec<WallRow>>,
    /// Teams by points; `None` when the guild turned its leaderboards off.
    pub teams: Option<Vec<WallRow>>,
    /// Each running competition.
    pub competitions: Vec<WallCompetition>,
    /// Team and guild goals in force.
    pub goals: Vec<WallGoal>,
    /// Today's wins (local day), newest first: the newest [`WINS`] of them.
    pub wins: Vec<WallWin>,
    /// Today's wins up to now beyond those in `wins` (0 when the feed holds them all).
    pub more_wins: usize,
}

/// One place on the reps' or teams' slide.
#[derive(Clone, Debug, PartialEq)]
pub struct WallRow {
    pub rank: u32,
    /// A display name (a rep's) or a team name.
    pub name: String,
    pub points: i64,
    pub deals_won: i64,
    /// Minor units; `None` under money privacy.
    pub revenue: Option<i64>,
}

/// A running competition and its standings.
#[derive(Clone, Debug, PartialEq)]
pub struct WallCompetition {
    pub name: String,
    pub metric: GoalMetric,
    pub scoring: Scoring,
    /// When the season ends (UTC); the time left counts from [`WallData::as_of`].
    pub ends_at: DateTime<Utc>,
    pub standings: Vec<WallStanding>,
}

/// A participant's place: `score` as scored (percent for percent-of-goal, minor units for a
/// revenue total), `None` when unscored or when it is money the guild keeps private.
#[derive(Clone, Debug, PartialEq)]
pub struct WallStanding {
    pub rank: Option<u32>,
    pub name: String,
    pub score: Option<f64>,
}

/// A goal of a team or of the whole guild, with its pace.
#[derive(Clone, Debug, PartialEq)]
pub struct WallGoal {
    /// The team's name, or `None` for the guild's own goal.
    pub team: Option<String>,
    pub metric: GoalMetric,
    pub period: GoalPeriod,
    /// actual / target (1.0 = reached).
    pub attainment: f64,
    /// expected_by_now / target: where the pace marker sits; `None` without working days.
    pub expected: Option<f64>,
    /// Target and actual (minor units for revenue); `None` for money kept private.
    pub target: Option<i64>,
    pub actual: Option<i64>,
}

/// A won deal logged today.
#[derive(Clone, Debug, PartialEq)]
pub struct WallWin {
    pub rep: String,
    pub team: Option<String>,
    /// Minor units; `None` under money privacy or when none was given.
    pub amount: Option<i64>,
    pub at: DateTime<Utc>,
    /// The guild's local time of the win, `HH:MM`.
    pub local_time: String,
}

impl App {
    pub(crate) fn wall(&self) -> &WallState {
        &self.wall
    }

    /// Sets the base URL people reach this rally at (`https://rally.example.com`), from which
    /// `/wallboard link` builds its URL. Refused unless it is an http(s) URL.
    pub fn set_public_url(&self, url: &str) -> AppResult<()> {
        let url = url.trim().trim_end_matches('/');
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
            return Err(AppError::User(format!(
                "the public URL must start with https:// or http:// and name a host (got `{url}`)"
            )));
        }
        // Links are this URL followed by `/wall/TOKEN`: a query or fragment would swallow the
        // path, and a user:password would be handed to every TV.
        if url.contains(['?', '#']) {
            return Err(AppError::User(format!(
                "the public URL is where rally is reached, without `?…` or `#…` (got `{url}`); links add /wall/TOKEN to it"
            )));
        }
        let host = rest.unwrap_or_default().split('/').next().unwrap_or_default();
        if host.contains('@') {
            return Err(AppError::User(
                "the public URL must not carry a user name or password: every TV would be given it".into(),
            ));
        }
        *self.wall().public_url.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url.to_string());
        Ok(())
    }

    /// The base URL set with [`App::set_public_url`], if any.
    pub fn public_url(&self) -> Option<String> {
        self.wall().public_url.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Tells open wallboards that the guild's numbers changed (called after a commit).
    pub fn wall_changed(&self, guild: i64) {
        // No receiver (no wallboard open) is the common case, not an error.
        let _ = self.wall().changes.send(guild);
    }

    /// Guild ids as their numbers change, from now on.
    pub fn wall_changes(&self) -> tokio::sync::broadcast::Receiver<i64> {
        self.wall().changes.subscribe()
    }

    /// A new wallboard link for the guild, replacing the one live before (one link per guild: a
    /// manager who runs it again because a link leaked or got lost has only one to think about).
    /// Refused, creating nothing, when no public URL is configured.
    pub async fn wallboard_link(&self, guild: Snowflake, actor: String, now: DateTime<Utc>) -> AppResult<WallLink> {
        let Some(base) = self.public_url() else {
            return Err(AppError::User(
                "rally does not know the address people reach it at, so it cannot make a link yet. \
                 Whoever runs rally sets it with `--public-url https://rally.example.com` on \
                 `rally serve` or `rally run` (or the RALLY_PUBLIC_URL environment variable), \
                 then run `/wallboard link` again. Nothing was created."
                    .into(),
            ));
        };
        let token = new_token();
        let replaced = self.store.wallboard_link(guild.as_i64(), super::crm::secret_hash(&token), actor, now).await?;
        // Open boards on the old link learn they were revoked on their next frame.
        self.wall_changed(guild.as_i64());
        Ok(WallLink { url: format!("{base}/wall/{token}"), replaced })
    }

    /// Revokes the guild's wallboard link; how many links were live.
    pub async fn wallboard_revoke(&self, guild: Snowflake, actor: String, now: DateTime<Utc>) -> AppResult<usize> {
        let revoked = self.store.wallboard_revoke(guild.as_i64(), actor, now).await?;
        self.wall_changed(guild.as_i64());
        Ok(revoked)
    }

    /// The guild a live wallboard token opens, if any; `None` for anything else, a revoked token included.
    pub async fn wallboard_guild(&self, token: &str) -> AppResult<Option<i64>> {
        // Tokens are URL-safe base64 of 32 bytes; anything else is not worth a lookup.
        if token.len() != 43 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Ok(None);
        }
        Ok(self.store.wallboard_guild(super::crm::secret_hash(token)).await?)
    }

    /// The hashes of the guild's live links (what an open wallboard checks its own against).
    pub async fn wallboard_live(&self, guild: i64) -> AppResult<Vec<String>> {
        Ok(self.store.wallboard_live(guild).await?)
    }

    /// Another process may have written (the change marker moved): the settings this process
    /// cached (money privacy, the board exclusion role) are read again before the next render.
    pub fn wallboard_saw_a_write(&self) {
        self.store.forget_cached();
    }

    /// A marker that changes whenever anything is written for the guild, by any process.
    pub async fn wallboard_mark(&self, guild: i64, now: DateTime<Utc>) -> AppResult<(i64, i64)> {
        Ok(self.store.guild_change_mark(guild, now).await?)
    }

    /// What the guild's wallboard shows at `now`: this week's reps and teams by points (as
    /// `/leaderboard` ranks them, members left off boards left off), each running competition's
    /// standings, team and guild goals with their pace, and today's wins.
    pub async fn wallboard(&self, guild: i64, now: DateTime<Utc>) -> AppResult<WallData> {
        let g = Snowflake::new(guild as u64)?;
        let settings = self.store.guild_settings(guild).await?;
        let money = settings.money();
        let amounts = settings.money_privacy == MoneyPrivacy::Everyone;
        let tz = settings.timezone;
        let hhmm = |t: DateTime<Utc>| t.with_timezone(&tz).format("%H:%M").to_string();
        let boards = self.leaderboards_enabled(g).await?;
        let report = self.report_with(g, &PeriodSpec::ThisWeek, None, ReportNeeds::TOTALS, now).await?;
        let revenue = |cents: i64| amounts.then_some(cents);
        let team_names: HashMap<i64, String> = self.teams(g).await?.into_iter().map(|t| (t.id, t.name)).collect();
        let (reps, teams) = if boards {
            let mut members: Vec<_> = report.members.iter().collect();
            members.sort_by_key(|m| (m.rank, std::cmp::Reverse(m.points)));
            let reps = members
                .into_iter()
                .take(TOP)
                .map(|m| WallRow {
                    rank: m.rank,
                    name: m.user_name.clone(),
                    points: m.points,
                    deals_won: m.deals_won,
                    revenue: revenue(m.revenue_cents),
                })
                .collect();
            let mut teams: Vec<_> = report.teams.iter().collect();
            teams.sort_by_key(|t| (t.rank, std::cmp::Reverse(t.points)));
            let teams = teams
                .into_iter()
                .take(TOP)
                .map(|t| WallRow {
                    rank: t.rank,
                    name: t.name.clone(),
                    points: t.points,
                    deals_won: t.deals_won,
                    revenue: revenue(t.revenue_cents),
                })
                .collect();
            // A guild without teams gets no teams slide (rather than one that says nothing is logged).
            (Some(reps), (!report.teams.is_empty() || !team_names.is_empty()).then_some(teams))
        } else {
            (None, None)
        };

        let mut competitions = Vec::new();
        for comp in self.competitions(g, now).await?.into_iter().filter(|c| c.row.ended_at.is_none()) {
            let board = self.current_board(&comp, now).await?;
            if board.finished || board.window.start > now {
                continue;
            }
            let private = !amounts && comp.metric.is_money() && comp.scoring != Scoring::PercentOfGoal;
            let standings = board
                .standings
                .iter()
                .take(TOP)
                .map(|s| WallStanding {
                    rank: s.rank,
                    name: s.entry.name.clone(),
                    score: if private { None } else { s.score },
                })
                .collect();
            competitions.push(WallCompetition {
                name: comp.row.name.clone(),
                metric: comp.metric.clone(),
                scoring: comp.scoring,
                ends_at: board.ends_at,
                standings,
            });
        }

        let overview =
            self.goal_overview(g, &|k| matches!(k.subject, GoalSubject::Team(_) | GoalSubject::Guild), now).await?;
        let mut goals: Vec<WallGoal> = overview
            .in_force
            .into_iter()
            .filter(|p| p.target > 0)
            .map(|p| {
                let shown = amounts || !p.key.metric.is_money();
                WallGoal {
                    team: match p.key.subject {
                        GoalSubject::Team(id) => Some(team_names.get(&id).cloned().unwrap_or_default()),
                        _ => None,
                    },
                    attainment: p.actual as f64 / p.target as f64,
                    expected: p.pace.expected_by_now.map(|e| e / p.target as f64),
                    target: shown.then_some(p.target),
                    actual: shown.then_some(p.actual),
                    metric: p.key.metric,
                    period: p.key.period,
                }
            })
            .collect();
        goals.sort_by(|a, b| (a.team.is_some(), &a.team).cmp(&(b.team.is_some(), &b.team)));

        let today = local_date(tz, now);
        let excluded = self.board_excluded(g).await?;
        // Newest first; enough to fill the feed after leaving out members kept off the boards.
        let wins: Vec<WallWin> = self
            .store
            .latest_of_kind(guild, WON, today, now, WINS + excluded.len().min(100))
            .await?
            .into_iter()
            .filter(|a| !a.deleted && !excluded.contains(&a.user_id))
            .take(WINS)
            .map(|a| WallWin {
                rep: a.user_name,
                team: a.team,
                amount: a.amount.filter(|_| amounts),
                local_time: hhmm(a.occurred_at),
                at: a.occurred_at,
            })
            .collect();

        // The day's wins past the feed, by the same rules (live, up to now, none kept off the boards).
        let wins_today: u64 = self
            .store
            .count_of_kind_by_user(guild, WON, today, now)
            .await?
            .into_iter()
            .filter(|(user, _)| !excluded.contains(user))
            .map(|(_, n)| n)
            .sum();
        let more_wins = usize::try_from(wins_today).unwrap_or(usize::MAX).saturating_sub(wins.len());

        Ok(WallData {
            guild,
            as_of: now,
            local_time: hhmm(now),
            period_label: days(report.period.first_day, report.period.last_day),
            money,
            amounts,
            reps,
            teams,
            competitions,
            goals,
            wins,
            more_wins,
        })
    }
}

/// `23 – 29 Nov`, `30 Nov – 6 Dec`: local days, both included.
fn days(first: chrono::NaiveDate, last: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    if first.month() == last.month() {
        format!("{} – {}", first.format("%-d"), last.format("%-d %b"))
    } else {
        format!("{} – {}", first.format("%-d %b"), last.format("%-d %b"))
    }
}

/// 256 random bits, URL-safe base64 (43 characters): the wallboard token.
fn new_token() -> String {
    super::crm::random_secret().expose().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_reads_as_its_first_and_last_day() {
        let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        assert_eq!(days(d("2026-11-23"), d("2026-11-29")), "23 – 29 Nov");
        assert_eq!(days(d("2026-11-30"), d("2026-12-06")), "30 Nov – 6 Dec");
    }

    #[test]
    fn a_token_is_256_random_bits_in_43_url_safe_characters() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
        assert_ne!(a, b);
    }
}
