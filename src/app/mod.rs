//! Use cases shared by every transport: the CLI today, Discord and the scheduler next. Each takes
//! `now` as an argument and speaks domain types; errors are either the user's (shown as is) or
//! internal (logged with their cause, shown with an error id).

pub mod celebrations;
pub mod comp;
pub mod competitions;
pub mod crm;
pub mod csv_dialect;
pub mod db;
pub mod deals;
pub mod forecast;
pub mod goals;
pub mod history;
pub mod hygiene;
pub mod import;
pub mod intake;
pub mod log;
pub mod milestones;
pub mod nudges;
pub mod report;
pub mod review;
pub mod rewards;
pub mod schedules;
pub mod settings;
pub mod teams;
pub mod wallboard;

use crate::domain::DomainError;
use crate::domain::activity::Snowflake;
/// Where the database lives (`--db`): a SQLite file or a PostgreSQL URL.
pub use crate::store::Location;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input broke a rule; the message is written for the person who sent it.
    #[error("{0}")]
    User(String),
    #[error(transparent)]
    Internal(StoreError),
}

impl AppError {
    /// Whether the process is stopping and the read was never made (a background task meeting
    /// the end of the runtime): not a failure worth a log line.
    pub fn is_shutting_down(&self) -> bool {
        matches!(self, AppError::Internal(StoreError::ShuttingDown))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(rule) => AppError::User(rule.message),
            other => AppError::Internal(other),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::User(e.message)
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The application: a store plus the rules applied on top of it.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    /// Wakes the scheduler when something it must act on changes (a schedule, a competition, a
    /// milestone waiting to be announced), so it never sleeps past a new first slot or a post.
    scheduler_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Wakes the CRM poller for a sync now (`/crm sync`).
    crm_wake: std::sync::Arc<tokio::sync::Notify>,
    /// The roles last stored per (guild, member), so that an interaction writes only on a change.
    roles_seen: std::sync::Arc<std::sync::Mutex<RolesSeen>>,
    /// Writes a rep's change to a CRM deal back to the CRM (the `crm` edge installs it at start,
    /// see [`App::set_crm_writer`]); none: rally never writes to a CRM.
    crm_writer: std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<dyn crm::CrmWriter>>>>,
    /// Reads a guild's roles and the bot's own for `/reward add` (the Discord edge installs it, see
    /// [`App::set_role_directory`]); none: the hierarchy cannot be checked (`rally exec`).
    role_directory: std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<dyn rewards::RoleDirectory>>>>,
    /// Guilds whose members' figures changed since the scheduler last evaluated role rewards.
    reward_dirty: std::sync::Arc<std::sync::Mutex<rewards::RewardDirty>>,
    /// The guilds with a live celebration rule, read once (`None`: not read yet), so that an
    /// ingestion wakes the scheduler only where something may be celebrated.
    celebrating: std::sync::Arc<std::sync::Mutex<Option<std::collections::HashSet<i64>>>>,
    /// Open wallboards' "guild changed" signal and the public URL their links are built from.
    wall: std::sync::Arc<wallboard::WallState>,
}

/// Each (guild, member)'s roles as last stored.
type RolesSeen = std::collections::HashMap<(i64, u64), Vec<u64>>;

impl App {
    pub fn new(store: Store) -> App {
        App {
            store,
            scheduler_wake: std::sync::Arc::new(tokio::sync::Notify::new()),
            crm_wake: std::sync::Arc::new(tokio::sync::Notify::new()),
            roles_seen: Default::default(),
            crm_writer: Default::default(),
            role_directory: Default::default(),
            reward_dirty: Default::default(),
            celebrating: Default::default(),
            wall: Default::default(),
        }
    }

    /// Installs the writer that sends a rep's change to a CRM deal to the CRM (for guilds whose
    /// connection allows it, `rally crm write-back`).
    pub fn set_crm_writer(&self, writer: std::sync::Arc<dyn crm::CrmWriter>) {
        *self.crm_writer.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(writer);
    }

    /// The installed CRM writer, if any.
    pub(crate) fn crm_writer(&self) -> Option<std::sync::Arc<dyn crm::CrmWriter>> {
        self.crm_writer.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Tells a sleeping scheduler to look at the schedules again.
    pub fn schedules_changed(&self) {
        self.scheduler_wake.notify_one();
    }

    /// Called by every path that changes members' figures in `guild`, once what it changed is
    /// stored: a `/log` and its undo, an import and its removal, a CRM sync or webhook, the intake
    /// API, a deal closed, a review decision. What follows the figures hears of it: open
    /// wallboards (re-rendered once for all their screens), role rewards (the guild is evaluated
    /// again) and celebrations (the scheduler woken where a rule exists). Cheap: no database
    /// access once the guilds with rewards and rules are known.
    pub async fn figures_changed(&self, guild: i64) {
        self.wall_changed(guild);
        self.activity_changed(guild);
        self.celebration_wake(guild).await;
    }

    /// Keeps the Discord roles a member holds, as their interaction showed them, for the guild's
    /// board exclusion (see `GuildSettings::board_exclude_role`). Writes only when they changed
    /// since they were last stored; a member rally does not know yet is skipped (their next
    /// interaction stores them).
    pub async fn note_roles(&self, guild: Snowflake, user: Snowflake, roles: &[u64]) -> AppResult<()> {
        let key = (guild.as_i64(), user.get());
        let mut sorted = roles.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if self.roles_seen.lock().unwrap_or_else(|e| e.into_inner()).get(&key) == Some(&sorted) {
            return Ok(());
        }
        // A read first: the writer is taken only when the roles really changed, and not at all for
        // someone who is not a member yet (their interaction after their first log stores them).
        let Some(stored) = self.store.member_roles(key.0, user.as_i64()).await? else {
            return Ok(());
        };
        if stored != sorted {
            self.store.set_member_roles(key.0, user.as_i64(), &sorted).await?;
        }
        self.roles_seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key, sorted);
        Ok(())
    }

    /// The members the guild leaves off its boards: those last seen holding its exclusion role.
    pub async fn board_excluded(&self, guild: Snowflake) -> AppResult<std::collections::HashSet<u64>> {
        match self.store.guild_settings(guild.as_i64()).await?.board_exclude_role {
            Some(role) => Ok(self.store.members_with_role(guild.as_i64(), role).await?),
            None => Ok(Default::default()),
        }
    }

    /// The poller's wake-up: notified, it runs a sync round now.
    pub fn crm_wake(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.crm_wake.clone()
    }

    /// The scheduler's wake-up: notified, it steps now (`Scheduler::run`, and `rally demo`'s clock).
    pub fn scheduler_wake(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.scheduler_wake.clone()
    }

    /// Opens the database at `location` (a SQLite file, created if needed, or PostgreSQL): for
    /// commands that write.
    pub fn open_at(location: &Location) -> AppResult<App> {
        Ok(App::new(Store::open_at(location)?))
    }

    /// Opens the database at `location` only if it holds rally's data (`None` if not): for
    /// commands that only read.
    pub fn open_existing_at(location: &Location) -> AppResult<Option<App>> {
        Ok(Store::open_existing_at(location)?.map(App::new))
    }

    /// Opens the database at `path`, creating it if needed: for commands that write.
    pub fn open(path: impl AsRef<std::path::Path>) -> AppResult<App> {
        Ok(App::new(Store::open(path)?))
    }

    /// Opens the database at `path` only if it exists (`None` if not): for commands that only
    /// read, where a new empty file would hide a mistyped path behind an empty answer.
    pub fn open_existing(path: impl AsRef<std::path::Path>) -> AppResult<Option<App>> {
        Ok(Store::open_existing(path)?.map(App::new))
    }
}

/// A guild id from user input, checked like any Discord id.
pub fn guild_id(id: u64) -> AppResult<i64> {
    Ok(crate::domain::activity::Snowflake::new(id)?.as_i64())
}
