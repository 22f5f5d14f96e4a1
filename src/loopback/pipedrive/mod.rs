//! A strict Pipedrive on 127.0.0.1 for the few endpoints rally uses (v2 activities, deals, stages, pipelines with
//! cursor paging; v1 users, activity types, webhooks), with Webhooks v2 delivered to registered URLs; used by
//! `rally demo` and the tests in place of the real Pipedrive, never by production code paths.
//!
//! Every request is recorded and checked against Pipedrive's own OpenAPI descriptions (`v1.yaml`, `v2.yaml`, read
//! at runtime from [`openapi_dir`]): the operation must exist, every query parameter must be declared and fit its
//! schema, a JSON body must fit the request schema. A request they do not allow is answered 400 (404 for an unknown
//! path or method) *and* recorded as a violation, so a test fails on anything Pipedrive would not accept. A missing
//! or wrong `x-api-token` is answered 401 and recorded, but is no violation: rally must cope with it.
//!
//! Rate limits follow Pipedrive's documentation rather than the descriptions: every answer carries
//! `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset`, and with [`PdOptions::burst_limit`] a rolling
//! 2-second window of token cost (each operation's `x-token-cost`) answers 429 once it would exceed the limit.
//!
//! Imports nothing of rally's own: it stands in for a service, not for a part of rally.
//!
//! ```ignore
//! let pd = PipedriveLoopback::start(PdOptions::default()).await?;
//! pd.add_user(1, "Alice", "alice@example.com");
//! pd.put_activity(PdActivity { subject: "Call Acme".into(), r#type: "call".into(), owner_id: 1, ..Default::default() });
//! // rally's client talks to pd.url() + "/api/v2/activities" with the header x-api-token: loopback-pipedrive-token
//! assert!(pd.violations().is_empty());
//! ```

#![warn(missing_docs)]

mod cursor;
mod routes;
mod spec;
mod store;
#[cfg(test)]
mod tests;
mod webhooks;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, SubsecRound, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use self::store::Store;

/// The token [`PdOptions::default`] accepts.
pub const DEFAULT_TOKEN: &str = "loopback-pipedrive-token";

/// The company every object belongs to (webhook `company_id`, `meta.company_id`).
pub const COMPANY_ID: i64 = 7_000_001;

/// How long a webhook delivery may take before it counts as failed, as Pipedrive documents.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Pipedrive's rate-limit window: the burst limit counts token cost over the last 2 seconds.
pub const BURST_WINDOW: Duration = Duration::from_secs(2);

/// What `x-ratelimit-limit` says when no burst limit is set: a budget no test reaches.
pub const UNLIMITED_BUDGET: u32 = 1_000_000;

/// `$RALLY_PIPEDRIVE_OPENAPI_DIR` if set, else the steering repo's `shared/pipedrive/` beside this crate: the folder
/// holding Pipedrive's `v1.yaml` and `v2.yaml`.
pub fn openapi_dir() -> PathBuf {
    match std::env::var_os("RALLY_PIPEDRIVE_OPENAPI_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/pipedrive")),
    }
}

/// The descriptions' folder for tests: [`openapi_dir`] when it holds both files. Without them (a clone without the
/// `shared/` folder beside it) the loopback runs without validation and says so on stderr, unless
/// `RALLY_REQUIRE_OPENAPI` is set, as CI does, which makes their absence a failure.
pub fn openapi_dir_for_tests() -> Option<PathBuf> {
    let dir = openapi_dir();
    if dir.join("v1.yaml").exists() && dir.join("v2.yaml").exists() {
        return Some(dir);
    }
    if std::env::var_os("RALLY_REQUIRE_OPENAPI").is_some_and(|v| !v.is_empty()) {
        panic!(
            "Pipedrive's OpenAPI descriptions are required (RALLY_REQUIRE_OPENAPI) but v1.yaml and v2.yaml are \
             missing in {}; set RALLY_PIPEDRIVE_OPENAPI_DIR to their folder",
            dir.display()
        );
    }
    eprintln!(
        "note: {} does not hold v1.yaml and v2.yaml, so requests to the loopback Pipedrive are not validated \
         against Pipedrive's OpenAPI descriptions (set RALLY_PIPEDRIVE_OPENAPI_DIR to their folder)",
        dir.display()
    );
    None
}

/// How a loopback Pipedrive behaves.
#[derive(Clone, Debug)]
pub struct PdOptions {
    /// The only `x-api-token` accepted; any other (or none) is answered 401.
    pub token: String,
    /// Token cost allowed per rolling 2-second window ([`BURST_WINDOW`]); `None`: unlimited.
    pub burst_limit: Option<u32>,
    /// Waits before the 2nd, 3rd, ... attempt of a failed webhook delivery. Pipedrive's are 3 s, 30 s and 150 s;
    /// tests pass milliseconds.
    pub retry_delays: Vec<Duration>,
}

impl Default for PdOptions {
    /// Token [`DEFAULT_TOKEN`], no burst limit, Pipedrive's retry delays.
    fn default() -> PdOptions {
        PdOptions {
            token: DEFAULT_TOKEN.to_string(),
            burst_limit: None,
            retry_delays: vec![Duration::from_secs(3), Duration::from_secs(30), Duration::from_secs(150)],
        }
    }
}

/// An activity as the loopback stores it; v2 serves it with Pipedrive's other fields set to null (or false/empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PdActivity {
    /// 0 when putting: the loopback assigns the next id.
    pub id: i64,
    /// The activity's title, e.g. `Call Acme`.
    pub subject: String,
    /// The activity type's `key_string`, e.g. `call`.
    pub r#type: String,
    /// The user who owns it.
    pub owner_id: i64,
    /// Whether it is marked done.
    pub done: bool,
    /// Set by the loopback to the put's time when `done` and left `None`; cleared when not done.
    pub marked_as_done_time: Option<DateTime<Utc>>,
    /// The day it is due; served as `YYYY-MM-DD`.
    pub due_date: Option<NaiveDate>,
    /// UTC, as Pipedrive stores it; served as `HH:MM:SS`.
    pub due_time: Option<NaiveTime>,
    /// The deal it belongs to, if any.
    pub deal_id: Option<i64>,
    /// Set by the loopback (the clock at creation, whole seconds); ignored when putting.
    pub add_time: Option<DateTime<Utc>>,
    /// Set by the loopback (the clock at the last put, whole seconds); ignored when putting.
    pub update_time: Option<DateTime<Utc>>,
}

/// A deal as the loopback stores it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PdDeal {
    /// 0 when putting: the loopback assigns the next id.
    pub id: i64,
    /// The deal's name, e.g. `Acme renewal`.
    pub title: String,
    /// The user who owns it.
    pub owner_id: i64,
    /// In major units of `currency` (`1234.5` is 1 234.50), as Pipedrive keeps it. Served as an integer when whole.
    pub value: f64,
    /// ISO 4217; empty means `USD`.
    pub currency: String,
    /// Its stage (see [`PipedriveLoopback::add_stage`]).
    pub stage_id: i64,
    /// The pipeline of its stage.
    pub pipeline_id: i64,
    /// `open`, `won` or `lost`; empty means `open`.
    pub status: String,
    /// Set to the put's time when `status` is `won` and this is `None`.
    pub won_time: Option<DateTime<Utc>>,
    /// Set to the put's time when `status` is `lost` and this is `None`.
    pub lost_time: Option<DateTime<Utc>>,
    /// Served as `YYYY-MM-DD`.
    pub expected_close_date: Option<NaiveDate>,
    /// Free text, when lost.
    pub lost_reason: Option<String>,
    /// The deal's own win probability in percent (0..=100); `None` when not set, which Pipedrive serves as null and
    /// then weighs the deal by its stage's `deal_probability`.
    pub probability: Option<i64>,
    /// Set by the loopback; ignored when putting.
    pub add_time: Option<DateTime<Utc>>,
    /// Set by the loopback; ignored when putting.
    pub update_time: Option<DateTime<Utc>>,
    /// Set by [`PipedriveLoopback::delete_deal`] and merges; a deleted deal is listed only with `status=deleted`.
    pub is_deleted: bool,
    /// The id of the next activity planned on the deal; listed only with `include_fields=next_activity_id`.
    pub next_activity_id: Option<i64>,
}

/// One request as it arrived, with how it was answered.
#[derive(Clone, Debug)]
pub struct PdRecorded {
    /// Upper case, e.g. `GET`.
    pub method: String,
    /// Without the query, e.g. `/api/v2/activities`.
    pub path: String,
    /// The raw query string, e.g. `limit=500&cursor=...`.
    pub query: Option<String>,
    /// The status the loopback answered with.
    pub status: u16,
    /// The operation's `x-token-cost` (0 for an unknown route, or when the descriptions are not loaded and the route
    /// is not one the loopback serves).
    pub token_cost: u32,
    /// When it arrived.
    pub at: Instant,
}

/// One webhook delivery attempt.
#[derive(Clone, Debug)]
pub struct PdDelivery {
    /// The webhook's id, as `POST /v1/webhooks` returned it.
    pub webhook_id: i64,
    /// Its `subscription_url`.
    pub url: String,
    /// The JSON body sent, with `meta.attempt` as sent.
    pub body: Value,
    /// 1 for the first try, 2 for the first retry (or a duplicate), ...
    pub attempt: u32,
    /// The receiver's status, `None` when there was no answer.
    pub status: Option<u16>,
    /// Why there was no answer (connection refused, timed out after 10 s, ...).
    pub error: Option<String>,
    /// When the attempt completed.
    pub at: Instant,
}

/// A running loopback Pipedrive. Dropping it stops the server and pending webhook deliveries.
pub struct PipedriveLoopback {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub base_url: String,
    pub token: String,
    pub burst_limit: Option<u32>,
    pub retry_delays: Vec<Duration>,
    pub specs: Option<Arc<spec::Specs>>,
    pub shutdown: watch::Sender<bool>,
    pub http: reqwest::Client,
    state: Mutex<State>,
}

impl Shared {
    /// A poisoned lock only means a test thread panicked while holding it; the record is still worth reading.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct Failure {
    pub path_contains: String,
    pub status: u16,
    pub remaining: usize,
}

#[derive(Default)]
pub(crate) struct State {
    pub store: Store,
    pub requests: Vec<PdRecorded>,
    pub violations: Vec<String>,
    pub failures: Vec<Failure>,
    /// Token cost admitted within the last [`BURST_WINDOW`], oldest first.
    pub window: VecDeque<(Instant, u32)>,
    pub deliveries: Vec<PdDelivery>,
    pub drop_next: usize,
    pub duplicate_next: usize,
    pub clock: Option<DateTime<Utc>>,
    pub webhook_timeout: Option<Duration>,
    /// Each webhook's delivery queue; its worker ends when the sender is dropped.
    pub queues: HashMap<i64, mpsc::UnboundedSender<webhooks::Job>>,
    pub events: u64,
}

impl State {
    /// The loopback's clock, in whole seconds as Pipedrive stamps objects.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(Utc::now).trunc_subsecs(0)
    }

    /// The first user added, whose token the loopback's is.
    pub fn token_user(&self) -> i64 {
        self.store.users.keys().next().copied().unwrap_or(1)
    }
}

impl PipedriveLoopback {
    /// Binds 127.0.0.1:0 and serves `/v1` and `/api/v2`, validating against the descriptions in
    /// [`openapi_dir_for_tests`] (without them: no validation, with a note on stderr).
    pub async fn start(options: PdOptions) -> std::io::Result<PipedriveLoopback> {
        let dir = openapi_dir_for_tests();
        PipedriveLoopback::start_with(options, dir.as_deref()).await
    }

    /// Like [`PipedriveLoopback::start`] with the descriptions' folder given: `Some(dir)` must hold readable
    /// `v1.yaml` and `v2.yaml` (else an error); `None` serves without validation.
    pub async fn start_with(options: PdOptions, openapi: Option<&Path>) -> std::io::Result<PipedriveLoopback> {
        let specs = match openapi {
            Some(dir) => {
                let dir = dir.to_path_buf();
                Some(
                    tokio::task::spawn_blocking(move || spec::Specs::load(&dir))
                        .await
                        .map_err(std::io::Error::other)??,
                )
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let (shutdown, _) = watch::channel(false);
        let http = reqwest::Client::builder().no_proxy().build().map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            base_url: format!("http://127.0.0.1:{port}"),
            token: options.token,
            burst_limit: options.burst_limit,
            retry_delays: options.retry_delays,
            specs,
            shutdown,
            http,
            state: Mutex::new(State::default()),
        });
        let app = routes::router(shared.clone());
        let mut stop = shared.shutdown.subscribe();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // An error means the sender is gone, which is a shutdown too.
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("loopback pipedrive server ended: {e}");
            }
        });
        Ok(PipedriveLoopback { shared })
    }

    /// `http://127.0.0.1:PORT`; rally requests `{url}/api/v2/...` and `{url}/v1/...`.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Fixes the clock that stamps `add_time`/`update_time` (whole seconds) and webhook timestamps; `None`: the
    /// real clock.
    pub fn set_clock(&self, now: Option<DateTime<Utc>>) {
        self.shared.lock().clock = now;
    }

    /// How long a webhook receiver may take to answer before the attempt fails ([`WEBHOOK_TIMEOUT`] by default).
    pub fn set_webhook_timeout(&self, timeout: Duration) {
        self.shared.lock().webhook_timeout = Some(timeout);
    }

    /// Adds (or replaces) a user, listed by `GET /v1/users`. The first user added owns the token (`is_you`).
    pub fn add_user(&self, id: i64, name: &str, email: &str) {
        let mut state = self.shared.lock();
        let added = state.now();
        state.store.users.insert(id, store::User { id, name: name.into(), email: email.into(), added });
    }

    /// Adds an activity type (ids 1, 2, ... in order of adding), listed by `GET /v1/activityTypes`. A `key_string`
    /// already there is renamed instead.
    pub fn add_activity_type(&self, key_string: &str, name: &str) {
        let mut state = self.shared.lock();
        let added = state.now();
        let types = &mut state.store.activity_types;
        if let Some(existing) = types.iter_mut().find(|t| t.key_string == key_string) {
            existing.name = name.to_string();
            return;
        }
        let id = types.iter().map(|t| t.id).max().unwrap_or(0) + 1;
        types.push(store::ActivityType { id, key_string: key_string.into(), name: name.into(), added });
    }

    /// Adds (or replaces) a pipeline, listed by `GET /api/v2/pipelines`.
    pub fn add_pipeline(&self, id: i64, name: &str) {
        let mut state = self.shared.lock();
        let added = state.now();
        state.store.pipelines.insert(id, store::Pipeline { id, name: name.into(), added });
    }

    /// Adds (or replaces) a stage of a pipeline; `deal_probability` is a percentage.
    pub fn add_stage(&self, id: i64, pipeline_id: i64, name: &str, order_nr: i64, deal_probability: i64) {
        let mut state = self.shared.lock();
        let added = state.now();
        let stage = store::Stage { id, pipeline_id, name: name.into(), order_nr, deal_probability, added };
        state.store.stages.insert(id, stage);
    }

    /// Creates (`id` 0 or unknown) or replaces an activity, stamping `update_time` (and `add_time` on create), and
    /// fires `create` or `change` webhooks. Returns its id.
    pub fn put_activity(&self, a: PdActivity) -> i64 {
        let mut state = self.shared.lock();
        let now = state.now();
        let (stored, previous) = state.store.put_activity(a, now);
        webhooks::activity_put(&mut state, &stored, previous.as_ref());
        stored.id
    }

    /// Deletes an activity: gone from lists; fires a `delete` webhook (`data` null, `previous` its last state).
    pub fn delete_activity(&self, id: i64) {
        let mut state = self.shared.lock();
        if let Some(gone) = state.store.remove_activity(id) {
            webhooks::activity_deleted(&mut state, &gone, None);
        }
    }

    /// Creates or replaces a deal, like [`PipedriveLoopback::put_activity`]. Returns its id.
    pub fn put_deal(&self, d: PdDeal) -> i64 {
        let mut state = self.shared.lock();
        let now = state.now();
        let (stored, previous) = state.store.put_deal(d, now);
        webhooks::deal_put(&mut state, &stored, previous.as_ref(), None);
        stored.id
    }

    /// Marks a deal deleted: listed only with `status=deleted` afterwards; fires a `delete` webhook.
    pub fn delete_deal(&self, id: i64) {
        let mut state = self.shared.lock();
        delete_deal_in(&mut state, id, None);
    }

    /// Merges deal `from` into `into`: `from` is deleted (webhook `delete` with `meta.merged_to_id`), its activities
    /// move to `into` (each a `change`), and `into` changes (webhook `change` with `meta.merged_from_id`).
    pub fn merge_deals(&self, from: i64, into: i64) {
        let mut state = self.shared.lock();
        if from == into || !state.store.deals.contains_key(&into) || !state.store.deals.contains_key(&from) {
            return;
        }
        delete_deal_in(&mut state, from, Some(into));
        let now = state.now();
        let moved: Vec<PdActivity> =
            state.store.activities.values().filter(|a| a.deal_id == Some(from)).cloned().collect();
        for mut a in moved {
            a.deal_id = Some(into);
            let (stored, previous) = state.store.put_activity(a, now);
            webhooks::activity_put(&mut state, &stored, previous.as_ref());
        }
        if let Some(target) = state.store.deals.get(&into).cloned() {
            let (stored, previous) = state.store.put_deal(target, now);
            webhooks::deal_put(&mut state, &stored, previous.as_ref(), Some(from));
        }
    }

    /// Loads activities fast, without webhooks (a 1,000,000-activity benchmark): ids 0 get fresh ones, all are
    /// stamped with the clock's current time.
    pub fn bulk_activities(&self, items: impl IntoIterator<Item = PdActivity>) {
        let mut state = self.shared.lock();
        let now = state.now();
        state.store.bulk_activities(items, now);
    }

    /// Answers the next `n` requests whose path contains `path_contains` with `status` (429 with rate-limit headers
    /// saying the window is spent, others with Pipedrive's error body), before any other check.
    pub fn fail_next(&self, path_contains: &str, status: u16, n: usize) {
        let failure = Failure { path_contains: path_contains.to_string(), status, remaining: n };
        self.shared.lock().failures.push(failure);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<PdRecorded> {
        let mut list = self.shared.lock().requests.clone();
        // Recorded as answered; concurrent requests may finish out of order.
        list.sort_by_key(|r| r.at);
        list
    }

    /// Every request the descriptions (or Pipedrive's documented rules) do not allow, each naming the operation and
    /// parameter and saying why.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// The registered webhooks, as `GET /v1/webhooks` shows them.
    pub fn webhooks(&self) -> Vec<Value> {
        self.shared.lock().store.webhooks.values().map(store::webhook_value).collect()
    }

    /// Every webhook delivery attempt so far, in the order they completed.
    pub fn deliveries(&self) -> Vec<PdDelivery> {
        self.shared.lock().deliveries.clone()
    }

    /// The next `n` events are lost for every webhook, as Pipedrive sometimes loses them.
    pub fn drop_next_webhooks(&self, n: usize) {
        self.shared.lock().drop_next += n;
    }

    /// The next `n` events are delivered twice; the second copy carries `meta.attempt` 2 and the same `meta.id`.
    pub fn duplicate_next_webhooks(&self, n: usize) {
        self.shared.lock().duplicate_next += n;
    }

    /// The stored activity, `None` once deleted.
    pub fn activity(&self, id: i64) -> Option<PdActivity> {
        self.shared.lock().store.activities.get(&id).cloned()
    }

    /// The stored deal, deleted ones included (`is_deleted`).
    pub fn deal(&self, id: i64) -> Option<PdDeal> {
        self.shared.lock().store.deals.get(&id).cloned()
    }

    /// Waits until `n` delivery attempts have completed, or `timeout` passed; returns those there are.
    pub async fn wait_deliveries(&self, n: usize, timeout: Duration) -> Vec<PdDelivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= n || Instant::now() >= deadline {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn delete_deal_in(state: &mut State, id: i64, merged_to: Option<i64>) {
    let Some(mut deal) = state.store.deals.get(&id).cloned() else {
        return;
    };
    if deal.is_deleted {
        return;
    }
    deal.is_deleted = true;
    let now = state.now();
    let (stored, previous) = state.store.put_deal(deal, now);
    if let Some(previous) = previous {
        webhooks::deal_deleted(state, &stored, &previous, merged_to);
    }
}

impl Drop for PipedriveLoopback {
    /// Signals only: the server shuts down gracefully on its own, and delivery workers stop at their next step.
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}
