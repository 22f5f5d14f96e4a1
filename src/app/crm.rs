//! CRM sync: connecting a guild to its CRM, one sync pass (users, types, stages, then each feed of
//! records page by page with a stored cursor), full reconciliation, webhook events, links and
//! mappings. The CRM itself is reached through [`CrmSource`], which the `crm` edge implements
//! (Pipedrive over reqwest); `app` never speaks HTTP.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use super::{App, AppError, AppResult};
use crate::domain::activity::KindName;
use crate::domain::crm::{CrmRecord, CrmStage, CrmType, CrmUser, Object, Provider, Secret, Window, next_window};
use crate::store::crm::{CursorState, NewConnection};
// What the CRM use cases hand to the transports; they never name the store.
pub use crate::store::crm::{ApplyCounts, CrmConnection, CrmStatus, CrmTypeRow, CrmUserRow, Linked};

/// Which list of records a page comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Activities updated in the window (deleted ones are not listed).
    Activities,
    /// Open, won and lost deals updated in the window.
    Deals,
    /// Deals deleted (or merged away) in the window.
    DeletedDeals,
}

impl Feed {
    /// The cursor this feed keeps; a full pass keeps its own, so an interrupted one resumes too.
    fn cursor_name(self, full: bool) -> &'static str {
        match (self, full) {
            (Feed::Activities, false) => "activity",
            (Feed::Deals, false) => "deal",
            (Feed::DeletedDeals, _) => "deleted_deal",
            (Feed::Activities, true) => "full_activity",
            (Feed::Deals, true) => "full_deal",
        }
    }
}

/// One page of records and the cursor of the next (`None`: the last page).
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub records: Vec<CrmRecord>,
    pub next: Option<String>,
}

/// A webhook the CRM holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub event_action: String,
    pub event_object: String,
}

/// A webhook to register: the CRM posts `event_action`.`event_object` events to `url` with HTTP
/// Basic `user`/`password`.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub url: String,
    pub event_action: String,
    pub event_object: String,
    pub user: String,
    pub password: Secret,
}

/// A CRM pipeline: (id, name).
pub type PipelineRef = (String, String);

/// Why the CRM could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The CRM refused the credentials (HTTP 401/403): a new token is needed.
    #[error("{0}")]
    Unauthorized(String),
    /// A network error, a 5xx or a rate limit that outlasted the retries: the next pass resumes.
    #[error("{0}")]
    Unavailable(String),
    /// The CRM answered something rally cannot read.
    #[error("{0}")]
    Invalid(String),
}

/// API calls made and the CRM's token cost of them (Pipedrive's `x-token-cost`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub calls: u64,
    pub cost: u64,
}

/// A CRM as the sync sees it. Implementations retry transient failures themselves (backing off on
/// rate limits) and return an error only when a pass should stop and resume later.
pub trait CrmSource: Send + Sync {
    /// Which CRM this is (the keys of its records are prefixed with it).
    fn provider(&self) -> Provider;
    /// The CRM's users (seats), all of them.
    fn users(&self) -> impl Future<Output = Result<Vec<CrmUser>, SourceError>> + Send;
    /// The CRM's activity types, by key and label.
    fn activity_types(&self) -> impl Future<Output = Result<Vec<CrmType>, SourceError>> + Send;
    /// The CRM's pipelines: (id, name).
    fn pipelines(&self) -> impl Future<Output = Result<Vec<PipelineRef>, SourceError>> + Send;
    /// Every stage of every pipeline, with its order and win probability.
    fn stages(&self) -> impl Future<Output = Result<Vec<CrmStage>, SourceError>> + Send;
    /// One page of `feed` in `window`, from `cursor` (`None`: the first page).
    fn page(
        &self,
        feed: Feed,
        window: Window,
        cursor: Option<String>,
    ) -> impl Future<Output = Result<Page, SourceError>> + Send;
    /// The webhooks registered with the CRM (rally's and anyone else's).
    fn webhooks(&self) -> impl Future<Output = Result<Vec<Webhook>, SourceError>> + Send;
    /// Registers a webhook; returns it with the CRM's id.
    fn add_webhook(&self, hook: NewWebhook) -> impl Future<Output = Result<Webhook, SourceError>> + Send;
    /// Deletes the webhook with the CRM's id `id`.
    fn delete_webhook(&self, id: String) -> impl Future<Output = Result<(), SourceError>> + Send;
    /// Calls and cost so far (the sync reports the difference a pass made).
    fn usage(&self) -> Usage;
}

/// A change a rep asks of a CRM deal from a hygiene DM's button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DealChange {
    /// A new expected close date, a local date.
    ExpectedClose(chrono::NaiveDate),
    /// The deal is lost.
    Lost,
}

/// Writes a rep's change to a deal in the guild's CRM and returns the deal as the CRM holds it
/// afterwards. Implemented by the `crm` edge (Pipedrive's `PATCH /api/v2/deals/{id}`, and
/// `POST /api/v2/activities` for a next step); `app` never speaks HTTP.
pub trait CrmWriter: Send + Sync {
    /// Changes deal `id` (the CRM's id) over `connection`.
    fn update_deal<'a>(
        &'a self,
        connection: &'a CrmConnection,
        id: &'a str,
        change: DealChange,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<CrmRecord, SourceError>> + Send + 'a>>;

    /// Plans a next step on deal `id` (the CRM's id): an activity with `subject` (1-200
    /// characters) due on `due` (a local date; none: undated). Returns the deal as the CRM holds
    /// it afterwards, its next activity included. Not retried: an error may mean it was not sent.
    fn add_next_step<'a>(
        &'a self,
        connection: &'a CrmConnection,
        id: &'a str,
        subject: &'a str,
        due: Option<chrono::NaiveDate>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<CrmRecord, SourceError>> + Send + 'a>>;
}

/// How a pass went: counts per feed, and the API calls it took.
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    pub activities: ApplyCounts,
    pub deals: ApplyCounts,
    /// Held records that count now (their owner was linked or their time came), or the reverse.
    pub reheld: ApplyCounts,
    /// Records found gone by a full pass.
    pub swept: ApplyCounts,
    pub usage: Usage,
    pub pages: u64,
    pub full: bool,
    /// Whether activities and deals were read from the beginning (a full or a first pass).
    pub read_everything: bool,
}

impl SyncReport {
    /// Everything the pass did, summed.
    pub fn total(&self) -> ApplyCounts {
        let mut t = self.activities;
        t.add(self.deals);
        t.add(self.reheld);
        t.add(self.swept);
        t
    }
}

/// The CRM's users as `rally crm users` prints them: id, name, email, link, records waiting.
pub fn users_table(users: &[CrmUserRow]) -> String {
    if users.is_empty() {
        return "no CRM users yet: connect, or run rally crm sync\n".to_string();
    }
    let mut s = format!("{:>10}  {:<24} {:<30} {}\n", "id", "name", "email", "member");
    for u in users {
        s.push_str(&format!(
            "{:>10}  {:<24} {:<30} {}{}\n",
            u.id,
            u.name,
            u.email,
            u.linked.map_or("not linked".to_string(), |id| format!("linked to {id}")),
            if u.held > 0 { format!(" ({} records waiting)", u.held) } else { String::new() }
        ));
    }
    s
}

/// What a batch of records did, on one line (as `rally crm` prints it).
pub fn counts_line(c: &ApplyCounts) -> String {
    format!(
        "{} imported, {} updated, {} removed, {} held, {} ignored, {} unchanged",
        c.imported,
        c.updated,
        c.removed,
        c.held,
        c.ignored,
        c.unchanged + c.stale
    )
}

impl SyncReport {
    /// The report as `rally crm sync` prints it: per feed, then the API usage.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("activities: {}\n", counts_line(&self.activities)));
        s.push_str(&format!("deals:      {}\n", counts_line(&self.deals)));
        if self.reheld.total() > 0 {
            s.push_str(&format!("re-read:    {}\n", counts_line(&self.reheld)));
        }
        if self.full {
            s.push_str(&format!("gone from the CRM: {} removed\n", self.swept.removed));
        }
        s.push_str(&format!(
            "{} pages, {} API calls, {} Pipedrive tokens\n",
            self.pages, self.usage.calls, self.usage.cost
        ));
        s
    }
}

impl Connected {
    /// What `rally crm connect` prints.
    pub fn summary(&self, guild: i64) -> String {
        let c = &self.connection;
        let mut s =
            format!("guild {guild}: connected to {} at {} ({} users)\n", c.provider.label(), c.api_url, self.users);
        if let Some(p) = &c.pipeline {
            let name = self.pipelines.iter().find(|(id, _)| id == p).map_or("", |(_, n)| n.as_str());
            s.push_str(&format!("pipeline: {p} ({name}): its stages are the server's pipeline\n"));
        }
        if self.webhooks_added > 0 {
            s.push_str(&format!(
                "webhooks: {} registered{}\n",
                self.webhooks_added,
                if self.webhooks_found > 0 {
                    format!(" (replacing {} rally had registered before)", self.webhooks_found)
                } else {
                    String::new()
                }
            ));
        } else {
            s.push_str("webhooks: none (rally polls; add --webhook-url for changes within seconds)\n");
        }
        s.push_str(&format!(
            "next: link users (rally crm users, rally crm link) and run rally crm sync --guild {guild}\n"
        ));
        s
    }
}

/// Progress of a running pass, for a progress bar: the feed and the records read so far.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub feed: Feed,
    pub records: u64,
    pub pages: u64,
}

/// What `connect` did.
#[derive(Clone, Debug)]
pub struct Connected {
    pub connection: CrmConnection,
    pub users: usize,
    pub pipelines: Vec<PipelineRef>,
    /// Webhooks registered now, and ones found already registered for this URL (not doubled).
    pub webhooks_added: usize,
    pub webhooks_found: usize,
}

/// What the operator asks of `connect`.
#[derive(Clone, Debug)]
pub struct ConnectRequest {
    pub guild: i64,
    pub provider: Provider,
    pub api_url: String,
    pub token: Secret,
    /// The CRM pipeline whose stages become the guild's; required when the CRM has several.
    pub pipeline: Option<String>,
    /// rally's public base URL (`https://rally.example.com`): webhooks are registered at
    /// `<base>/crm/<provider>/<guild>`. `None`: the poll alone.
    pub webhook_base: Option<String>,
}

/// Records stored per transaction during a pass (a few pages): fewer commits, and a crash loses at
/// most this much reading, never anything stored.
pub const APPLY_BATCH: usize = 2_000;

/// The result of a batch stored on its own task.
async fn joined(handle: tokio::task::JoinHandle<crate::store::Result<ApplyCounts>>) -> AppResult<ApplyCounts> {
    match handle.await {
        Ok(result) => Ok(result?),
        Err(e) => Err(AppError::User(format!("storing a page of CRM records stopped: {e}"))),
    }
}

/// The path under rally's base URL that receives a guild's webhooks.
pub fn webhook_path(provider: Provider, guild: i64) -> String {
    format!("/crm/{}/{guild}", provider.as_str())
}

/// A fresh random credential: 32 bytes (256 bits) as URL-safe base64.
pub fn random_secret() -> Secret {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a secret, lowercase hex: how webhook passwords and API keys are kept.
pub fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// How often a connected guild gets a full reconciliation pass (which finds deletions the CRM
/// does not list), beside the incremental passes.
pub const FULL_EVERY: Duration = Duration::hours(24);

/// Refuses a chat entry of a kind the guild takes from its CRM: counting it here too would count it
/// twice. `what` names the entry (`calls`, `deals`).
pub fn refuse_crm_fed(settings: &crate::domain::settings::GuildSettings, kind: &KindName, what: &str) -> AppResult<()> {
    if settings.is_crm_fed(kind) {
        return Err(AppError::User(format!(
            "{what} arrive from Pipedrive on this server, so they are not logged here (that would count them twice): \
             record it in Pipedrive and it shows up with the next sync. A manager can change where `{kind}` comes \
             from with `rally crm source`."
        )));
    }
    Ok(())
}

fn source_error(e: SourceError) -> AppError {
    AppError::User(e.to_string())
}

/// A sync pass stopped by the CRM: what happened, and that nothing read is lost.
fn sync_error(e: SourceError) -> AppError {
    match e {
        SourceError::Unavailable(why) => AppError::User(format!("{why}; the next sync resumes where this one stopped")),
        other => source_error(other),
    }
}

/// A base URL typed by the operator: http(s), a host, no query; without its trailing `/`. `what`
/// says what it should be, for the refusal.
fn base_url(text: &str, what: &str) -> AppResult<String> {
    let t = text.trim().trim_end_matches('/');
    let ok = (t.starts_with("https://") || t.starts_with("http://"))
        && reqwest::Url::parse(t).is_ok_and(|u| u.host_str().is_some() && u.query().is_none());
    if !ok {
        return Err(AppError::User(format!("`{}` is not {what}", crate::domain::activity::shorten(text, 80))));
    }
    Ok(t.to_string())
}

const API_URL: &str = "an API base URL; give one like https://api.pipedrive.com or https://yourcompany.pipedrive.com";
const PUBLIC_URL: &str = "a public base URL; give the address where `rally serve` is reachable from the internet, \
                          like https://rally.example.com";

impl App {
    /// Connects a guild to its CRM: checks the token (by listing the CRM's users), picks the
    /// pipeline, registers webhooks (listing them first, so a reconnection never doubles them), and
    /// stores the connection. Nothing is stored when any step fails.
    pub async fn crm_connect<S: CrmSource>(
        &self,
        source: &S,
        request: ConnectRequest,
        now: DateTime<Utc>,
    ) -> AppResult<Connected> {
        let url = base_url(&request.api_url, API_URL)?;
        // Everything typed is checked before the CRM is asked anything.
        let webhook_base = request.webhook_base.as_deref().map(|b| base_url(b, PUBLIC_URL)).transpose()?;
        let users = source.users().await.map_err(source_error)?;
        let pipelines = source.pipelines().await.map_err(source_error)?;
        let pipeline = match (&request.pipeline, pipelines.as_slice()) {
            (Some(p), _) => {
                let found = pipelines.iter().find(|(id, name)| id == p || name.eq_ignore_ascii_case(p));
                match found {
                    Some((id, _)) => Some(id.clone()),
                    None => {
                        return Err(AppError::User(format!(
                            "{} has no pipeline `{}`; it has {}",
                            request.provider.label(),
                            crate::domain::activity::shorten(p, 40),
                            list_pipelines(&pipelines)
                        )));
                    }
                }
            }
            (None, []) => None,
            (None, [(id, _)]) => Some(id.clone()),
            (None, _) => {
                return Err(AppError::User(format!(
                    "{} has {} pipelines: {}. Choose the one whose stages rally's funnel and forecast follow with \
                     --pipeline ID (won and lost deals count from every pipeline)",
                    request.provider.label(),
                    pipelines.len(),
                    list_pipelines(&pipelines)
                )));
            }
        };
        let previous = self.store.crm_connection(request.guild).await?;
        let mut webhook_user = None;
        let mut webhook_hash = None;
        let mut webhook_ids = Vec::new();
        let (mut added, mut found) = (0, 0);
        if let Some(base) = &webhook_base {
            let url = format!("{base}{}", webhook_path(request.provider, request.guild));
            let existing = source.webhooks().await.map_err(source_error)?;
            let mine: Vec<&Webhook> = existing.iter().filter(|w| w.url == url).collect();
            // A webhook rally registered before holds a password rally no longer knows (only its
            // hash is kept): it is replaced, never doubled.
            for w in &mine {
                source.delete_webhook(w.id.clone()).await.map_err(source_error)?;
            }
            found = mine.len();
            let user = format!("rally-{}", request.guild);
            let password = random_secret();
            for object in ["activity", "deal"] {
                let hook = source
                    .add_webhook(NewWebhook {
                        url: url.clone(),
                        event_action: "*".into(),
                        event_object: object.into(),
                        user: user.clone(),
                        password: password.clone(),
                    })
                    .await
                    .map_err(source_error)?;
                webhook_ids.push(hook.id);
                added += 1;
            }
            webhook_hash = Some(secret_hash(password.expose()));
            webhook_user = Some(user);
        } else if let Some(prev) = &previous {
            // Reconnecting without a webhook URL keeps the webhooks registered before.
            webhook_ids = prev.webhook_ids.clone();
            webhook_user = prev.webhook_user.clone();
            webhook_hash = self.store.crm_webhook_hash(request.guild).await?;
        }
        let connection = self
            .store
            .crm_connect(
                NewConnection {
                    guild: request.guild,
                    provider: request.provider,
                    api_url: url,
                    api_token: request.token,
                    pipeline: pipeline.clone(),
                    webhook_user,
                    webhook_hash,
                    webhook_ids,
                },
                now,
            )
            .await?;
        self.store.crm_save_users(request.guild, users.clone()).await?;
        // The types too, so that a type can be mapped before the first sync.
        match source.activity_types().await {
            Ok(types) => self.store.crm_save_types(request.guild, types).await?,
            Err(e) => {
                tracing::info!(guild = request.guild, error = %e, "activity types not read at connect; the first sync reads them")
            }
        }
        Ok(Connected { connection, users: users.len(), pipelines, webhooks_added: added, webhooks_found: found })
    }

    /// Forgets the guild's connection and token, and deletes the webhooks rally registered (best
    /// effort: the CRM may already have dropped them). Synced activities and deals stay.
    /// Returns the connection it forgot and the webhooks it removed and could not remove (those
    /// are left for the operator to delete in the CRM).
    pub async fn crm_disconnect<S: CrmSource>(
        &self,
        source: Option<&S>,
        guild: i64,
        now: DateTime<Utc>,
    ) -> AppResult<Option<(CrmConnection, usize, usize)>> {
        let Some(connection) = self.store.crm_connection(guild).await? else {
            return Ok(None);
        };
        let (mut removed, mut failed) = (0, 0);
        for id in &connection.webhook_ids {
            match source {
                Some(source) => match source.delete_webhook(id.clone()).await {
                    Ok(()) => removed += 1,
                    Err(e) => {
                        tracing::info!(guild, webhook = %id, error = %e, "could not delete a webhook while disconnecting");
                        failed += 1;
                    }
                },
                None => failed += 1,
            }
        }
        Ok(self.store.crm_disconnect(guild, now).await?.map(|c| (c, removed, failed)))
    }

    /// Every guild connected to a CRM (the poller's round).
    pub async fn crm_guilds(&self) -> AppResult<Vec<i64>> {
        Ok(self.store.crm_guilds().await?)
    }

    /// Turns writing a rep's hygiene changes back to the guild's CRM on or off.
    pub async fn crm_set_write_back(&self, guild: i64, on: bool, actor: String, now: DateTime<Utc>) -> AppResult<()> {
        match self.store.crm_set_write_back(guild, on, actor, now).await? {
            Some(_) => Ok(()),
            None => Err(AppError::User(format!(
                "guild {guild} is not connected to a CRM; connect it with `rally crm connect --guild {guild}` first"
            ))),
        }
    }

    /// The guild's connection (with its token: for building a client, never for showing).
    pub async fn crm_connection(&self, guild: i64) -> AppResult<CrmConnection> {
        self.store.crm_connection(guild).await?.ok_or_else(|| {
            AppError::User(
                "this server is not connected to a CRM; connect it with `rally crm connect --guild ID --provider pipedrive`"
                    .into(),
            )
        })
    }

    /// One sync pass: the CRM's users, activity types and stages, then activities, deals and
    /// deleted deals updated since each feed's watermark (less the overlap), page by page, each page
    /// stored with the cursor after it. `since` reaches back further (a backfill from a date);
    /// `full` reads everything and then removes what the CRM no longer holds. An interrupted pass
    /// (crash, network, rate limit) resumes at its stored cursor.
    pub async fn crm_sync<S: CrmSource>(
        &self,
        source: &S,
        guild: i64,
        since: Option<DateTime<Utc>>,
        full: bool,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> AppResult<SyncReport> {
        let connection = self.crm_connection(guild).await?;
        let before = source.usage();
        let result = self.sync_pass(source, &connection, since, full, now, progress).await;
        let used = source.usage();
        let usage = Usage { calls: used.calls - before.calls, cost: used.cost - before.cost };
        let error = result.as_ref().err().map(ToString::to_string);
        // A first pass reads everything too: it counts as a full one.
        let complete = full || result.as_ref().is_ok_and(|r| r.read_everything);
        self.store.crm_record_pass(guild, complete, usage.calls, usage.cost, error, now).await?;
        // Even a pass that failed part way stored what it read: a deal won in the CRM rings the bell too.
        self.figures_changed(guild).await;
        let mut report = result?;
        report.usage = usage;
        Ok(report)
    }

    async fn sync_pass<S: CrmSource>(
        &self,
        source: &S,
        connection: &CrmConnection,
        since: Option<DateTime<Utc>>,
        full: bool,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> AppResult<SyncReport> {
        let guild = connection.guild;
        let provider = connection.provider;
        let users = source.users().await.map_err(sync_error)?;
        self.store.crm_save_users(guild, users).await?;
        let types = source.activity_types().await.map_err(sync_error)?;
        self.store.crm_save_types(guild, types).await?;
        let stages = source.stages().await.map_err(sync_error)?;
        self.store.crm_save_stages(guild, provider, stages, connection.pipeline.clone(), now).await?;
        let mut report = SyncReport { full, read_everything: true, ..SyncReport::default() };
        for feed in [Feed::Activities, Feed::Deals, Feed::DeletedDeals] {
            let name = feed.cursor_name(full && feed != Feed::DeletedDeals);
            let state = self.store.crm_cursor(guild, name).await?;
            let fresh = if full && feed != Feed::DeletedDeals {
                Window { since: None, until: now }
            } else {
                next_window(state.watermark, since, now)
            };
            // A pass in progress resumes, unless the operator now reaches back further than it does.
            let (window, mut cursor) = match state.pass.clone() {
                Some((w, c)) if !(since.is_some() && fresh.since < w.since) => (w, c),
                _ => (fresh, None),
            };
            let checked = (full && feed != Feed::DeletedDeals).then_some(window.until);
            if feed != Feed::DeletedDeals && window.since.is_some() {
                report.read_everything = false;
            }
            let mut read = 0u64;
            // Pages are read while the previous batch is being stored (one write in flight), and
            // stored a few at a time with the cursor after the last of them.
            let mut batch: Vec<CrmRecord> = Vec::new();
            let mut in_flight: Option<tokio::task::JoinHandle<crate::store::Result<ApplyCounts>>> = None;
            let tally = |report: &mut SyncReport, counts: ApplyCounts| match feed {
                Feed::Activities => report.activities.add(counts),
                Feed::Deals | Feed::DeletedDeals => report.deals.add(counts),
            };
            loop {
                let page = match source.page(feed, window, cursor.clone()).await {
                    Ok(page) => page,
                    Err(e) => {
                        // What was read is stored, with the cursor of the page that failed: the
                        // next pass starts there.
                        if let Some(h) = in_flight.take() {
                            tally(&mut report, joined(h).await?);
                        }
                        if !batch.is_empty() {
                            let resume =
                                CursorState { watermark: state.watermark, pass: Some((window, cursor.clone())) };
                            let counts = self
                                .store
                                .crm_apply_page(
                                    guild,
                                    provider,
                                    std::mem::take(&mut batch),
                                    Some((name, resume)),
                                    checked,
                                    now,
                                )
                                .await?;
                            tally(&mut report, counts);
                        }
                        return Err(sync_error(e));
                    }
                };
                read += page.records.len() as u64;
                report.pages += 1;
                progress(Progress { feed, records: read, pages: report.pages });
                batch.extend(page.records);
                if batch.len() >= APPLY_BATCH || page.next.is_none() {
                    let after = match &page.next {
                        Some(next) => {
                            CursorState { watermark: state.watermark, pass: Some((window, Some(next.clone()))) }
                        }
                        None => CursorState {
                            watermark: Some(state.watermark.map_or(window.until, |w| w.max(window.until))),
                            pass: None,
                        },
                    };
                    if let Some(h) = in_flight.take() {
                        tally(&mut report, joined(h).await?);
                    }
                    let store = self.store.clone();
                    let records = std::mem::take(&mut batch);
                    in_flight = Some(tokio::spawn(async move {
                        store.crm_apply_page(guild, provider, records, Some((name, after)), checked, now).await
                    }));
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            if let Some(h) = in_flight.take() {
                tally(&mut report, joined(h).await?);
            }
            if let Some(checked) = checked {
                let object = if feed == Feed::Activities { Object::Activity } else { Object::Deal };
                report.swept.add(self.store.crm_sweep_unchecked(guild, provider, object, checked, now).await?);
            }
        }
        // `crm_sync` tells what follows the figures once the pass is over, whether it failed or not.
        report.reheld = self.store.crm_reapply_held(guild, provider, now).await?;
        Ok(report)
    }

    /// Applies records that arrived by webhook (or any push) through the same path as the poll:
    /// a redelivered or older event changes nothing.
    pub async fn crm_apply(
        &self,
        guild: i64,
        provider: Provider,
        records: Vec<CrmRecord>,
        now: DateTime<Utc>,
    ) -> AppResult<ApplyCounts> {
        let counts = self.store.crm_apply_page(guild, provider, records, None, None, now).await?;
        self.figures_changed(guild).await;
        Ok(counts)
    }

    /// Links a CRM user (by id, or by exact name or email) to a member; their held records count.
    /// An empty member name means the CRM user's name.
    pub async fn crm_link(
        &self,
        guild: i64,
        crm_user: &str,
        user: Option<(u64, String)>,
        actor: i64,
        now: DateTime<Utc>,
    ) -> AppResult<Linked> {
        let connection = self.crm_connection(guild).await?;
        let users = self.crm_users(guild).await?;
        let wanted = crm_user.trim();
        let matches: Vec<_> = users
            .iter()
            .filter(|u| u.id == wanted || u.email.eq_ignore_ascii_case(wanted) || u.name.eq_ignore_ascii_case(wanted))
            .collect();
        let (id, crm_name) = match matches.as_slice() {
            [one] => (one.id.clone(), Some(one.name.clone())),
            [] => (wanted.to_string(), None),
            many => {
                return Err(AppError::User(format!(
                    "`{}` names {} {} users ({}); give the id instead",
                    crate::domain::activity::shorten(wanted, 40),
                    many.len(),
                    connection.provider.label(),
                    many.iter().map(|u| format!("{} {}", u.id, u.name)).collect::<Vec<_>>().join(", ")
                )));
            }
        };
        // A member rally has not seen, with no name given, takes the CRM user's name.
        let user = user.map(|(id, name)| {
            let name = match name.trim() {
                "" => crm_name.clone().unwrap_or_else(|| format!("user {id}")),
                given => given.to_string(),
            };
            (id as i64, name)
        });
        Ok(self.store.crm_link(guild, connection.provider, id, user, actor, now).await?)
    }

    /// Maps a CRM activity type to a kind (`None`: ignore it).
    pub async fn crm_map(
        &self,
        guild: i64,
        type_key: &str,
        kind: Option<&str>,
        actor: i64,
        now: DateTime<Utc>,
    ) -> AppResult<ApplyCounts> {
        let connection = self.crm_connection(guild).await?;
        let kind = kind.map(KindName::parse).transpose()?;
        let types = self.crm_types(guild).await?;
        let key = types
            .iter()
            .find(|t| t.key == type_key.trim() || t.name.eq_ignore_ascii_case(type_key.trim()))
            .map_or_else(|| type_key.trim().to_string(), |t| t.key.clone());
        Ok(self.store.crm_map_type(guild, connection.provider, key, kind, actor, now).await?)
    }

    /// Chooses whether `kind` comes from the CRM or from chat.
    pub async fn crm_source(
        &self,
        guild: i64,
        kind: &str,
        from_crm: bool,
        actor: i64,
        now: DateTime<Utc>,
    ) -> AppResult<ApplyCounts> {
        let connection = self.crm_connection(guild).await?;
        let kind = KindName::parse(kind)?;
        let deals = [crate::domain::activity::WON, crate::domain::activity::LOST].contains(&kind.as_str());
        if from_crm && !deals {
            let types = self.crm_types(guild).await?;
            if !types.iter().any(|t| t.kind.as_deref() == Some(kind.as_str())) {
                return Err(AppError::User(format!(
                    "no {} activity type counts as `{kind}` yet, so /log would refuse {kind} with nothing to replace it; \
                     map a type to it first (rally crm map --guild {guild} --type TYPE --kind {kind}), which also takes \
                     {kind} from {} (rally crm types lists the types)",
                    connection.provider.label(),
                    connection.provider.label()
                )));
            }
        }
        Ok(self.store.crm_set_source(guild, connection.provider, kind, from_crm, actor, now).await?)
    }

    /// Whether `user` and `password` are the guild's webhook credentials (the password is compared
    /// as its SHA-256, in constant time). `false` without a connection or webhook.
    pub async fn crm_webhook_allows(&self, guild: i64, user: String, password: &str) -> AppResult<bool> {
        Ok(self.store.crm_webhook_allows(guild, user, secret_hash(password)).await?)
    }

    /// The CRM's users with their links and records waiting, by name.
    pub async fn crm_users(&self, guild: i64) -> AppResult<Vec<CrmUserRow>> {
        Ok(self.store.crm_users(guild).await?)
    }

    /// The CRM's activity types and the kinds they map to.
    pub async fn crm_types(&self, guild: i64) -> AppResult<Vec<CrmTypeRow>> {
        Ok(self.store.crm_types(guild).await?)
    }

    /// The guild's CRM sync at a glance (no secrets): see [`CrmStatus`].
    pub async fn crm_status(&self, guild: i64) -> AppResult<CrmStatus> {
        Ok(self.store.crm_status(guild).await?)
    }
}

fn list_pipelines(pipelines: &[PipelineRef]) -> String {
    pipelines.iter().map(|(id, name)| format!("{id} ({name})")).collect::<Vec<_>>().join(", ")
}
