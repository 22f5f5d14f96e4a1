//! Pipedrive over HTTP (reqwest): v2 cursor paging of activities, deals, stages and pipelines, v1
//! users, activity types and webhooks, the `x-api-token` header, rate limits (`x-ratelimit-*`
//! headers and 429s) with backoff, and the parsing of Pipedrive's records and webhook v2 bodies into
//! rally's CRM records. The token is a [`Secret`]: it is sent in a header and never logged.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::app::crm::{
    CrmConnection, CrmSource, CrmWriter, DealChange, Feed, NewWebhook, Page, PipelineRef, SourceError, Usage, Webhook,
};
use crate::domain::crm::{
    CrmActivity, CrmDeal, CrmRecord, CrmStage, CrmType, CrmUser, DealStatus, Provider, Secret, Window, minor_units,
};
use crate::domain::money::Currency;

/// Pipedrive's own API host; a company domain (`https://acme.pipedrive.com`) works too.
pub const DEFAULT_API_URL: &str = "https://api.pipedrive.com";
/// The most records v2 returns per page.
pub const PAGE_LIMIT: u32 = 500;

/// How hard the client tries before a pass stops (it resumes at its cursor next time).
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// The first backoff after a network error or 5xx; it doubles each time.
    pub base: Duration,
    /// The longest wait for a rate-limit window to reset before giving up on the pass.
    pub max_wait: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 6, base: Duration::from_millis(500), max_wait: Duration::from_secs(60) }
    }
}

/// A Pipedrive company, reached with one API token.
pub struct Pipedrive {
    http: reqwest::Client,
    base: String,
    token: Secret,
    retry: Retry,
    calls: AtomicU64,
    cost: AtomicU64,
    /// Set from `x-ratelimit-remaining: 0`: don't send before this instant.
    paused_until: Mutex<Option<tokio::time::Instant>>,
}

/// Pipedrive's token cost of each operation rally uses (the `x-token-cost` of its OpenAPI
/// descriptions), for the usage a pass reports.
fn token_cost(method: &Method, path: &str) -> u64 {
    match (method.as_str(), path) {
        ("GET", "/api/v2/activities" | "/api/v2/deals") => 10,
        ("GET", "/api/v2/stages" | "/api/v2/pipelines") => 5,
        ("GET", "/v1/users" | "/v1/activityTypes") => 20,
        ("GET" | "POST", "/v1/webhooks") => 10,
        ("DELETE", _) => 6,
        ("PATCH", _) | ("POST", "/api/v2/activities") => 5,
        ("GET", p) if p.starts_with("/api/v2/deals/") => 1,
        _ => 10,
    }
}

fn unavailable(base: &str, what: impl std::fmt::Display) -> SourceError {
    SourceError::Unavailable(format!("Pipedrive at {base} could not be reached ({what})"))
}

impl Pipedrive {
    /// A client for the API under `base` (no trailing slash), authenticated with `token`.
    pub fn new(base: &str, token: Secret) -> Pipedrive {
        Pipedrive::with_retry(base, token, Retry::default())
    }

    /// A client that retries as `retry` says (tests and `rally crm connect` retry less).
    pub fn with_retry(base: &str, token: Secret, retry: Retry) -> Pipedrive {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("rally/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Pipedrive {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            retry,
            calls: AtomicU64::new(0),
            cost: AtomicU64::new(0),
            paused_until: Mutex::new(None),
        }
    }

    async fn wait_for_window(&self) {
        let until = *self.paused_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    fn note_limits(&self, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
        let number =
            |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        let reset = number("x-ratelimit-reset").or_else(|| number("retry-after")).map(Duration::from_secs);
        let mut paused = self.paused_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if number("x-ratelimit-remaining") == Some(0) {
            *paused =
                Some(tokio::time::Instant::now() + reset.unwrap_or(Duration::from_secs(2)).min(self.retry.max_wait));
        } else {
            *paused = None;
        }
        reset
    }

    /// Sends one request, retrying network errors and 5xx with doubling backoff and 429s after the
    /// rate-limit window resets. Returns the parsed JSON body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, SourceError> {
        let url = format!("{}{path}", self.base);
        let mut backoff = self.retry.base;
        let mut last = String::new();
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.retry.max_wait);
            }
            self.wait_for_window().await;
            let mut request =
                self.http.request(method.clone(), &url).header("x-api-token", self.token.expose()).query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.cost.fetch_add(token_cost(&method, path), Ordering::Relaxed);
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    // Only the kind of error: reqwest's text would hold the URL, never the token, but stays short.
                    last = if e.is_timeout() {
                        "the request timed out".into()
                    } else if e.is_connect() {
                        "the connection failed: is the address right, and is it up?".into()
                    } else {
                        "a network error".into()
                    };
                    tracing::info!(path, attempt, error = %last, "Pipedrive request failed; retrying");
                    continue;
                }
            };
            let status = response.status();
            let reset = self.note_limits(response.headers());
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                return serde_json::from_str(&text)
                    .map_err(|e| SourceError::Invalid(format!("Pipedrive answered {path} with unreadable JSON: {e}")));
            }
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(SourceError::Unauthorized(format!(
                        "Pipedrive refused the API token (HTTP {}{}); set PIPEDRIVE_API_TOKEN to a valid token and run \
                         `rally crm connect` again",
                        status.as_u16(),
                        if message.is_empty() { String::new() } else { format!(": {message}") }
                    )));
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = reset.unwrap_or(Duration::from_secs(2));
                    last = format!("rate limited (HTTP 429, window resets in {}s)", wait.as_secs());
                    if wait > self.retry.max_wait {
                        return Err(unavailable(&self.base, last));
                    }
                    tracing::info!(
                        path,
                        wait_s = wait.as_secs(),
                        "Pipedrive rate limit reached; waiting for the window to reset"
                    );
                    *self.paused_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(tokio::time::Instant::now() + wait);
                    backoff = self.retry.base;
                    continue;
                }
                s if s.is_server_error() => {
                    last = format!("HTTP {}", s.as_u16());
                    tracing::warn!(
                        path,
                        attempt,
                        status = s.as_u16(),
                        "Pipedrive answered with a server error; retrying"
                    );
                    continue;
                }
                s => {
                    let hint = if s == StatusCode::NOT_FOUND {
                        format!("; check --api-url ({}): rally requests /v1/... and /api/v2/... under it", self.base)
                    } else {
                        String::new()
                    };
                    return Err(SourceError::Invalid(format!(
                        "Pipedrive refused {method} {path} (HTTP {}){}{hint}",
                        s.as_u16(),
                        if message.is_empty() { String::new() } else { format!(": {message}") }
                    )));
                }
            }
        }
        Err(unavailable(&self.base, last))
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, SourceError> {
        self.send(Method::GET, path, query, None).await
    }

    /// Every item of a v2 list, following its cursor.
    async fn all_pages(&self, path: &str) -> Result<Vec<Value>, SourceError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", PAGE_LIMIT.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let body = self.get(path, &query).await?;
            items.extend(data_array(&body, path)?);
            match next_cursor(&body) {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }
}

fn data_array(body: &Value, path: &str) -> Result<Vec<Value>, SourceError> {
    match body.get("data") {
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(Value::Null) | None => Ok(Vec::new()),
        Some(_) => Err(SourceError::Invalid(format!("Pipedrive's answer to {path} has no list in `data`"))),
    }
}

fn next_cursor(body: &Value) -> Option<String> {
    body.pointer("/additional_data/next_cursor").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string)
}

/// An id as text, whether Pipedrive sent it as a number or a string.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => id_text(o.get("id").or_else(|| o.get("value"))),
        _ => None,
    }
}

fn text(v: &Value, field: &str) -> String {
    v.get(field).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A Pipedrive time: RFC 3339 (`2026-11-02T09:15:00Z`, v2) or `2026-11-02 09:15:00` in UTC (v1).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok().map(|n| n.and_utc()))
}

fn time_field(v: &Value, field: &str) -> Option<DateTime<Utc>> {
    v.get(field).and_then(Value::as_str).and_then(parse_time)
}

fn bool_field(v: &Value, field: &str) -> bool {
    match v.get(field) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

/// Reads a v2 activity (as listed, or as a webhook's `data`/`previous`).
pub fn parse_activity(v: &Value) -> Result<CrmActivity, String> {
    let id = id_text(v.get("id")).ok_or("an activity without an id")?;
    let updated_at = time_field(v, "update_time")
        .or_else(|| time_field(v, "add_time"))
        .ok_or_else(|| format!("activity {id} has no update_time"))?;
    let due_time =
        v.get("due_time").and_then(Value::as_str).filter(|t| !t.is_empty()).and_then(|t| {
            NaiveTime::parse_from_str(t, "%H:%M:%S").or_else(|_| NaiveTime::parse_from_str(t, "%H:%M")).ok()
        });
    Ok(CrmActivity {
        owner: id_text(v.get("owner_id").or_else(|| v.get("user_id"))).unwrap_or_default(),
        type_key: text(v, "type"),
        subject: text(v, "subject"),
        done: bool_field(v, "done"),
        done_at: time_field(v, "marked_as_done_time"),
        due_date: v.get("due_date").and_then(Value::as_str).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
        due_time,
        deal: id_text(v.get("deal_id")),
        updated_at,
        deleted: bool_field(v, "is_deleted"),
        id,
    })
}

/// Reads a v2 deal. Its value is read exactly in minor units of its own currency (`None` when
/// that is not possible: rally never rounds money).
pub fn parse_deal(v: &Value) -> Result<CrmDeal, String> {
    let id = id_text(v.get("id")).ok_or("a deal without an id")?;
    let updated_at = time_field(v, "update_time")
        .or_else(|| time_field(v, "add_time"))
        .ok_or_else(|| format!("deal {id} has no update_time"))?;
    let currency = text(v, "currency");
    let exponent = Currency::parse(&currency).ok().map(|c| c.exponent());
    let value = match (v.get("value"), exponent) {
        (Some(Value::Number(n)), Some(e)) => n.as_f64().and_then(|f| minor_units(f, e)),
        (None | Some(Value::Null), Some(_)) => Some(0),
        _ => None,
    };
    let status_text = text(v, "status");
    let status = match status_text.as_str() {
        "won" => DealStatus::Won,
        "lost" => DealStatus::Lost,
        _ => DealStatus::Open,
    };
    let closed_at = match status {
        DealStatus::Won => time_field(v, "won_time").or_else(|| time_field(v, "close_time")),
        DealStatus::Lost => time_field(v, "lost_time").or_else(|| time_field(v, "close_time")),
        DealStatus::Open => None,
    };
    Ok(CrmDeal {
        owner: id_text(v.get("owner_id").or_else(|| v.get("user_id"))).unwrap_or_default(),
        title: text(v, "title"),
        value,
        currency,
        stage: id_text(v.get("stage_id")).unwrap_or_default(),
        pipeline: id_text(v.get("pipeline_id")).unwrap_or_default(),
        status,
        closed_at,
        added_at: time_field(v, "add_time").unwrap_or(updated_at),
        expected_close: v
            .get("expected_close_date")
            .and_then(Value::as_str)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
        lost_reason: v.get("lost_reason").and_then(Value::as_str).filter(|r| !r.is_empty()).map(str::to_string),
        updated_at,
        deleted: bool_field(v, "is_deleted") || status_text == "deleted",
        merged_into: None,
        // Listed only when asked for (`include_fields`); null when nothing is planned.
        next_activity: match v.get("next_activity_id") {
            None => None,
            Some(Value::Null) => Some(String::new()),
            Some(other) => id_text(Some(other)),
        },
        id,
    })
}

/// A webhook v2 delivery, read: the records it carries (none for entities rally does not sync),
/// and the delivery's attempt number.
#[derive(Clone, Debug)]
pub struct WebhookEvent {
    /// The activity or deal the event carries (its last state on a delete); empty for others.
    pub records: Vec<CrmRecord>,
    /// `meta.attempt`: above 1 for a retry of a delivery that may already have arrived.
    pub attempt: u64,
    /// `meta.entity`: `activity`, `deal`, `person`, ...
    pub entity: String,
    /// `meta.action`: `create`, `change` or `delete`.
    pub action: String,
}

/// Reads a Pipedrive webhook v2 body (`{"meta": {...}, "data": {...} | null, "previous": ...}`).
/// A delete carries the last state in `previous`; a merge arrives as a delete with
/// `meta.merged_to_id` (and a change of the deal it went into).
pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let meta = v.get("meta").filter(|m| m.is_object()).ok_or("the body has no `meta` object")?;
    let entity =
        meta.get("entity").or_else(|| meta.get("object")).and_then(Value::as_str).unwrap_or_default().to_string();
    let action = meta.get("action").and_then(Value::as_str).unwrap_or_default().to_string();
    let attempt = meta.get("attempt").and_then(Value::as_u64).unwrap_or(1);
    let deleted = matches!(action.as_str(), "delete" | "deleted");
    let timestamp = meta.get("timestamp").and_then(Value::as_str).and_then(parse_time);
    let state = match v.get("data") {
        Some(d) if d.is_object() => Some(d),
        _ => v.get("previous").filter(|p| p.is_object()),
    };
    let mut records = Vec::new();
    if let Some(state) = state {
        match entity.as_str() {
            "activity" => {
                let mut a = parse_activity(state)?;
                if deleted {
                    a.deleted = true;
                    // The deletion is newer than the last state it carries.
                    a.updated_at = timestamp.unwrap_or(a.updated_at).max(a.updated_at);
                }
                records.push(CrmRecord::Activity(a));
            }
            "deal" => {
                let mut d = parse_deal(state)?;
                if deleted {
                    d.deleted = true;
                    d.updated_at = timestamp.unwrap_or(d.updated_at).max(d.updated_at);
                    d.merged_into = id_text(meta.get("merged_to_id"));
                }
                records.push(CrmRecord::Deal(d));
            }
            _ => {}
        }
    }
    Ok(WebhookEvent { records, attempt, entity, action })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Pipedrive {
    /// Changes one deal (`PATCH /api/v2/deals/{id}`) and returns it as Pipedrive holds it after.
    pub async fn update_deal(&self, id: &str, change: &DealChange) -> Result<CrmDeal, SourceError> {
        let id: u64 = id.parse().map_err(|_| SourceError::Invalid(format!("`{id}` is not a Pipedrive deal id")))?;
        let body = match change {
            DealChange::ExpectedClose(day) => json!({"expected_close_date": day.format("%Y-%m-%d").to_string()}),
            DealChange::Lost => json!({"status": "lost"}),
        };
        let path = format!("/api/v2/deals/{id}");
        let answer = self.send(Method::PATCH, &path, &[], Some(&body)).await?;
        let data = answer
            .get("data")
            .ok_or_else(|| SourceError::Invalid(format!("Pipedrive answered {path} without data")))?;
        parse_deal(data).map_err(|e| SourceError::Invalid(format!("Pipedrive answered {path} with {e}")))
    }
}

impl Pipedrive {
    /// Plans a next step on a deal: `POST /api/v2/activities` with `deal_id`, `subject` and
    /// `due_date` (omitted without one), sent once (never retried: a retry could plan it twice),
    /// then reads the deal back (`GET /api/v2/deals/{id}` with its `next_activity_id`) and returns
    /// it as Pipedrive holds it after.
    pub async fn add_next_step(&self, id: &str, subject: &str, due: Option<NaiveDate>) -> Result<CrmDeal, SourceError> {
        let deal: u64 = id.parse().map_err(|_| SourceError::Invalid(format!("`{id}` is not a Pipedrive deal id")))?;
        let mut body = json!({"deal_id": deal, "subject": subject});
        if let Some(day) = due {
            body["due_date"] = json!(day.format("%Y-%m-%d").to_string());
        }
        let once = Pipedrive::with_retry(&self.base, self.token.clone(), Retry { attempts: 1, ..self.retry });
        let path = "/api/v2/activities";
        let answer = once.send(Method::POST, path, &[], Some(&body)).await?;
        if answer.get("data").and_then(|d| d.get("id")).is_none() {
            return Err(SourceError::Invalid(format!("Pipedrive answered {path} without the activity")));
        }
        let path = format!("/api/v2/deals/{deal}");
        let answer = self.get(&path, &[("include_fields", "next_activity_id".into())]).await?;
        let data = answer
            .get("data")
            .ok_or_else(|| SourceError::Invalid(format!("Pipedrive answered {path} without data")))?;
        parse_deal(data).map_err(|e| SourceError::Invalid(format!("Pipedrive answered {path} with {e}")))
    }
}

/// Writes a rep's hygiene change to a guild's Pipedrive, with a client per call made from the
/// guild's connection (its URL and token).
#[derive(Clone, Debug, Default)]
pub struct PipedriveWriter {
    /// How requests are retried.
    pub retry: Retry,
}

impl CrmWriter for PipedriveWriter {
    fn update_deal<'a>(
        &'a self,
        connection: &'a CrmConnection,
        id: &'a str,
        change: DealChange,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<CrmRecord, SourceError>> + Send + 'a>> {
        Box::pin(async move {
            let client = Pipedrive::with_retry(&connection.api_url, connection.api_token.clone(), self.retry);
            client.update_deal(id, &change).await.map(CrmRecord::Deal)
        })
    }

    fn add_next_step<'a>(
        &'a self,
        connection: &'a CrmConnection,
        id: &'a str,
        subject: &'a str,
        due: Option<NaiveDate>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<CrmRecord, SourceError>> + Send + 'a>> {
        Box::pin(async move {
            let client = Pipedrive::with_retry(&connection.api_url, connection.api_token.clone(), self.retry);
            client.add_next_step(id, subject, due).await.map(CrmRecord::Deal)
        })
    }
}

impl CrmSource for Pipedrive {
    fn provider(&self) -> Provider {
        Provider::Pipedrive
    }

    async fn users(&self) -> Result<Vec<CrmUser>, SourceError> {
        let body = self.get("/v1/users", &[]).await?;
        let mut users = Vec::new();
        for u in data_array(&body, "/v1/users")? {
            let Some(id) = id_text(u.get("id")) else { continue };
            users.push(CrmUser {
                name: text(&u, "name"),
                email: text(&u, "email"),
                active: u.get("active_flag").is_none_or(|_| bool_field(&u, "active_flag")),
                id,
            });
        }
        Ok(users)
    }

    async fn activity_types(&self) -> Result<Vec<CrmType>, SourceError> {
        let body = self.get("/v1/activityTypes", &[]).await?;
        Ok(data_array(&body, "/v1/activityTypes")?
            .iter()
            .filter(|t| !text(t, "key_string").is_empty())
            .map(|t| CrmType { key: text(t, "key_string"), name: text(t, "name") })
            .collect())
    }

    async fn pipelines(&self) -> Result<Vec<PipelineRef>, SourceError> {
        Ok(self
            .all_pages("/api/v2/pipelines")
            .await?
            .iter()
            .filter_map(|p| Some((id_text(p.get("id"))?, text(p, "name"))))
            .collect())
    }

    async fn stages(&self) -> Result<Vec<CrmStage>, SourceError> {
        let pipelines = self.pipelines().await?;
        let name_of = |id: &str| pipelines.iter().find(|(p, _)| p == id).map(|(_, n)| n.clone()).unwrap_or_default();
        Ok(self
            .all_pages("/api/v2/stages")
            .await?
            .iter()
            .filter_map(|s| {
                let pipeline = id_text(s.get("pipeline_id"))?;
                Some(CrmStage {
                    id: id_text(s.get("id"))?,
                    pipeline_name: name_of(&pipeline),
                    pipeline,
                    name: text(s, "name"),
                    order: s.get("order_nr").and_then(Value::as_i64).unwrap_or(0),
                    probability: s.get("deal_probability").and_then(Value::as_i64).unwrap_or(100).clamp(0, 100) as u8,
                })
            })
            .collect())
    }

    async fn page(&self, feed: Feed, window: Window, cursor: Option<String>) -> Result<Page, SourceError> {
        let path = match feed {
            Feed::Activities => "/api/v2/activities",
            Feed::Deals | Feed::DeletedDeals => "/api/v2/deals",
        };
        // No `updated_until`: a record updated while the pass pages is read now or by the next pass
        // (whose window starts before this one's end), and one stamped in this very second is not
        // put off to the next pass.
        let mut query = vec![("limit", PAGE_LIMIT.to_string())];
        if let Some(since) = window.since {
            query.push(("updated_since", rfc3339(since)));
        }
        if feed == Feed::DeletedDeals {
            query.push(("status", "deleted".into()));
        }
        if feed == Feed::Deals {
            // What the hygiene rule `no-next-activity` reads.
            query.push(("include_fields", "next_activity_id".into()));
        }
        if let Some(c) = cursor {
            query.push(("cursor", c));
        }
        let body = self.get(path, &query).await?;
        let mut records = Vec::new();
        for item in data_array(&body, path)? {
            let record = match feed {
                Feed::Activities => parse_activity(&item).map(CrmRecord::Activity),
                Feed::Deals => parse_deal(&item).map(CrmRecord::Deal),
                Feed::DeletedDeals => parse_deal(&item).map(|mut d| {
                    d.deleted = true;
                    CrmRecord::Deal(d)
                }),
            };
            match record {
                Ok(r) => records.push(r),
                Err(e) => tracing::warn!(path, error = %e, "skipped a Pipedrive record rally cannot read"),
            }
        }
        Ok(Page { records, next: next_cursor(&body) })
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, SourceError> {
        let body = self.get("/v1/webhooks", &[]).await?;
        Ok(data_array(&body, "/v1/webhooks")?
            .iter()
            .filter_map(|w| {
                Some(Webhook {
                    id: id_text(w.get("id"))?,
                    url: text(w, "subscription_url"),
                    event_action: text(w, "event_action"),
                    event_object: text(w, "event_object"),
                })
            })
            .collect())
    }

    async fn add_webhook(&self, hook: NewWebhook) -> Result<Webhook, SourceError> {
        let body = json!({
            "subscription_url": hook.url,
            "event_action": hook.event_action,
            "event_object": hook.event_object,
            "name": format!("rally {} events", hook.event_object),
            "http_auth_user": hook.user,
            "http_auth_password": hook.password.expose(),
            "version": "2.0",
        });
        let answer = self.send(Method::POST, "/v1/webhooks", &[], Some(&body)).await?;
        let id = id_text(answer.pointer("/data/id"))
            .ok_or_else(|| SourceError::Invalid("Pipedrive created a webhook without an id".into()))?;
        Ok(Webhook { id, url: hook.url, event_action: hook.event_action, event_object: hook.event_object })
    }

    async fn delete_webhook(&self, id: String) -> Result<(), SourceError> {
        let id: u64 = id.parse().map_err(|_| SourceError::Invalid(format!("`{id}` is not a Pipedrive webhook id")))?;
        self.send(Method::DELETE, &format!("/v1/webhooks/{id}"), &[], None).await.map(|_| ())
    }

    fn usage(&self) -> Usage {
        Usage { calls: self.calls.load(Ordering::Relaxed), cost: self.cost.load(Ordering::Relaxed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v2_activity_reads_with_its_done_time_owner_and_type() {
        let a = parse_activity(&json!({"id": 7, "owner_id": 3, "type": "call", "subject": "Intro", "done": true,
            "marked_as_done_time": "2026-11-02T09:15:00Z", "due_date": "2026-11-02", "due_time": "08:00:00",
            "update_time": "2026-11-02T09:15:01Z", "deal_id": null}))
        .unwrap();
        assert_eq!((a.id.as_str(), a.owner.as_str(), a.type_key.as_str()), ("7", "3", "call"));
        assert_eq!(a.done_at, parse_time("2026-11-02T09:15:00Z"));
        assert_eq!(a.due_time, NaiveTime::from_hms_opt(8, 0, 0));
        assert_eq!(a.deal, None);
    }

    #[test]
    fn a_deal_value_is_read_exactly_in_its_currency_or_not_at_all() {
        let d = parse_deal(&json!({"id": 1, "owner_id": 2, "title": "Acme", "value": 1250.5, "currency": "EUR",
            "stage_id": 3, "pipeline_id": 1, "status": "won", "won_time": "2026-11-02T10:00:00Z",
            "add_time": "2026-10-01T10:00:00Z", "update_time": "2026-11-02T10:00:00Z"}))
        .unwrap();
        assert_eq!(d.value, Some(125_050));
        assert_eq!(d.status, DealStatus::Won);
        assert_eq!(d.closed_at, parse_time("2026-11-02T10:00:00Z"));
        let yen =
            parse_deal(&json!({"id": 2, "value": 10.5, "currency": "JPY", "update_time": "2026-11-02T10:00:00Z"}))
                .unwrap();
        assert_eq!(yen.value, None, "yen have no minor units: 10.5 JPY is not a value rally can keep");
    }

    #[test]
    fn a_webhook_delete_carries_the_last_state_and_the_merge_target() {
        let body = json!({"meta": {"action": "delete", "entity": "deal", "entity_id": "5", "attempt": 2,
            "merged_to_id": 9, "timestamp": "2026-11-02T12:00:00Z"},
            "data": null,
            "previous": {"id": 5, "owner_id": 2, "title": "Old", "value": 10, "currency": "USD", "status": "open",
                "stage_id": 1, "pipeline_id": 1, "update_time": "2026-11-01T12:00:00Z"}});
        let event = parse_webhook(body.to_string().as_bytes()).unwrap();
        assert_eq!(event.attempt, 2);
        let CrmRecord::Deal(d) = &event.records[0] else { panic!("a deal") };
        assert!(d.deleted);
        assert_eq!(d.merged_into.as_deref(), Some("9"));
        assert_eq!(d.updated_at, parse_time("2026-11-02T12:00:00Z").unwrap());
    }

    #[test]
    fn unreadable_webhook_bodies_are_refused_with_a_reason() {
        assert!(parse_webhook(b"not json").unwrap_err().contains("not JSON"));
        assert!(parse_webhook(b"{}").unwrap_err().contains("meta"));
        let person = json!({"meta": {"action": "change", "entity": "person"}, "data": {"id": 1}});
        assert!(parse_webhook(person.to_string().as_bytes()).unwrap().records.is_empty());
    }
}
