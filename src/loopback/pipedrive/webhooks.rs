//! Webhooks v2: events from puts, deletes and merges become JSON bodies (`meta`, `data`, `previous`) queued per
//! webhook; a tokio worker per webhook POSTs them with HTTP Basic auth, and a failed attempt (non-2xx, no answer, or
//! no answer within the timeout) is retried after each of the configured delays on a task of its own, so neither a
//! slow receiver nor a retry ever blocks the caller of `put_*`. Every attempt is recorded.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::store::{self, Webhook};
use super::{COMPANY_ID, PdActivity, PdDeal, PdDelivery, Shared, State, WEBHOOK_TIMEOUT};

/// One body bound for one webhook.
pub(crate) struct Job {
    webhook_id: i64,
    url: String,
    auth: Option<(String, Option<String>)>,
    body: Value,
    /// `meta.attempt` of the next try.
    attempt: u32,
    /// Retries already waited for, indexing `retry_delays`.
    retries: usize,
}

/// What changed, before it is addressed to webhooks.
struct Event {
    action: &'static str,
    entity: &'static str,
    entity_id: i64,
    user_id: i64,
    data: Value,
    previous: Value,
    extra: Vec<(&'static str, Value)>,
}

pub(crate) fn activity_put(state: &mut State, stored: &PdActivity, previous: Option<&PdActivity>) {
    if !wanted(state, "activity") {
        return;
    }
    let data = store::activity_value(stored);
    let (action, previous) = match previous {
        Some(p) => ("change", changed_fields(&store::activity_value(p), &data)),
        None => ("create", Value::Null),
    };
    let event = Event {
        action,
        entity: "activity",
        entity_id: stored.id,
        user_id: stored.owner_id,
        data,
        previous,
        extra: Vec::new(),
    };
    emit(state, event);
}

pub(crate) fn activity_deleted(state: &mut State, gone: &PdActivity, merged_to: Option<i64>) {
    if !wanted(state, "activity") {
        return;
    }
    let event = Event {
        action: "delete",
        entity: "activity",
        entity_id: gone.id,
        user_id: gone.owner_id,
        data: Value::Null,
        previous: store::activity_value(gone),
        extra: merged_to.map(|to| ("merged_to_id", json!(to.to_string()))).into_iter().collect(),
    };
    emit(state, event);
}

pub(crate) fn deal_put(state: &mut State, stored: &PdDeal, previous: Option<&PdDeal>, merged_from: Option<i64>) {
    if !wanted(state, "deal") {
        return;
    }
    let data = store::deal_value(&state.store, stored);
    let (action, previous) = match previous {
        Some(p) => ("change", changed_fields(&store::deal_value(&state.store, p), &data)),
        None => ("create", Value::Null),
    };
    let event = Event {
        action,
        entity: "deal",
        entity_id: stored.id,
        user_id: stored.owner_id,
        data,
        previous,
        extra: merged_from.map(|from| ("merged_from_id", json!(from.to_string()))).into_iter().collect(),
    };
    emit(state, event);
}

/// `stored` is the deal as marked deleted, `last` its state before: what `previous` carries.
pub(crate) fn deal_deleted(state: &mut State, stored: &PdDeal, last: &PdDeal, merged_to: Option<i64>) {
    if !wanted(state, "deal") {
        return;
    }
    let event = Event {
        action: "delete",
        entity: "deal",
        entity_id: stored.id,
        user_id: stored.owner_id,
        data: Value::Null,
        previous: store::deal_value(&state.store, last),
        extra: merged_to.map(|to| ("merged_to_id", json!(to.to_string()))).into_iter().collect(),
    };
    emit(state, event);
}

/// Skips building bodies (and consuming drop/duplicate counts) when no webhook listens: bulk puts stay cheap.
fn wanted(state: &State, entity: &str) -> bool {
    state.store.webhooks.values().any(|w| w.event_object == "*" || w.event_object == entity)
}

/// Webhooks v2 sends in `previous` only the fields a change touched, with their old values.
fn changed_fields(before: &Value, after: &Value) -> Value {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return before.clone();
    };
    let changed: Map<String, Value> =
        before.iter().filter(|(k, v)| after.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    Value::Object(changed)
}

fn emit(state: &mut State, event: Event) {
    let targets: Vec<Webhook> =
        state.store.webhooks.values().filter(|w| w.wants(event.action, event.entity)).cloned().collect();
    if targets.is_empty() {
        return;
    }
    if state.drop_next > 0 {
        state.drop_next -= 1;
        return;
    }
    let twice = state.duplicate_next > 0;
    state.duplicate_next = state.duplicate_next.saturating_sub(1);
    state.events += 1;
    let now = state.clock.unwrap_or_else(Utc::now);
    let event_id = uuid_like(state.events, now);
    for webhook in targets {
        let body = body(&event, &webhook, &event_id, now);
        let Some(queue) = state.queues.get(&webhook.id) else {
            continue;
        };
        let auth = webhook.http_auth_user.clone().map(|user| (user, webhook.http_auth_password.clone()));
        for attempt in if twice { 1..=2 } else { 1..=1 } {
            let job = Job {
                webhook_id: webhook.id,
                url: webhook.subscription_url.clone(),
                auth: auth.clone(),
                body: body.clone(),
                attempt,
                retries: 0,
            };
            // A send fails only when the worker is gone, i.e. the loopback is shutting down.
            let _ = queue.send(job);
        }
    }
}

fn body(event: &Event, webhook: &Webhook, event_id: &str, now: DateTime<Utc>) -> Value {
    let mut meta = json!({
        "action": event.action,
        "entity": event.entity,
        "entity_id": event.entity_id.to_string(),
        "id": event_id,
        "attempt": 1,
        "timestamp": now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "webhook_id": webhook.id.to_string(),
        "webhook_owner_id": webhook.user_id.to_string(),
        "company_id": COMPANY_ID.to_string(),
        "user_id": event.user_id.to_string(),
        "permitted_user_ids": [event.user_id.to_string()],
        "correlation_id": event_id,
        "is_bulk_edit": false,
        "type": "general",
        "host": "loopback.pipedrive.com",
        "change_source": "app",
        "version": "2.0",
    });
    if let Some(map) = meta.as_object_mut() {
        for (k, v) in &event.extra {
            map.insert((*k).to_string(), v.clone());
        }
    }
    json!({"meta": meta, "data": event.data, "previous": event.previous})
}

/// Shaped like a UUID (what Pipedrive puts in `meta.id`), unique within the process.
fn uuid_like(seq: u64, now: DateTime<Utc>) -> String {
    let nanos = now.timestamp_nanos_opt().unwrap_or_default() as u64;
    let mixed = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ nanos;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (mixed >> 32) as u32,
        (mixed >> 16) as u16,
        (seq >> 48) as u16 & 0xfff,
        (seq >> 36) as u16 & 0xfff,
        seq & 0xffff_ffff_ffff
    )
}

/// Starts the delivery worker of a newly registered webhook and returns its queue.
pub(crate) fn start_worker(shared: &Arc<Shared>) -> mpsc::UnboundedSender<Job> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let shared = shared.clone();
    let stop = shared.shutdown.subscribe();
    tokio::spawn(async move {
        let stop = stopped(stop);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => deliver(&shared, job).await,
                    None => break,
                },
                _ = &mut stop => break,
            }
        }
    });
    tx
}

/// Resolves once the loopback shuts down (or is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    // An error means the sender is gone, which is a shutdown too.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// One attempt; a failure schedules the next on a task of its own while retries remain.
async fn deliver(shared: &Arc<Shared>, mut job: Job) {
    if attempt(shared, &mut job).await {
        return;
    }
    let Some(delay) = shared.retry_delays.get(job.retries).copied() else {
        return;
    };
    let shared = shared.clone();
    let stop = shared.shutdown.subscribe();
    tokio::spawn(async move {
        let stop = stopped(stop);
        tokio::pin!(stop);
        let mut job = job;
        let mut delay = delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut stop => return,
            }
            job.retries += 1;
            job.attempt += 1;
            if attempt(&shared, &mut job).await {
                return;
            }
            match shared.retry_delays.get(job.retries) {
                Some(next) => delay = *next,
                None => return,
            }
        }
    });
}

/// POSTs the job's body with `meta.attempt` set; records the attempt; true on a 2xx answer.
async fn attempt(shared: &Arc<Shared>, job: &mut Job) -> bool {
    if let Some(meta) = job.body.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("attempt".into(), json!(job.attempt));
    }
    let timeout = shared.lock().webhook_timeout.unwrap_or(WEBHOOK_TIMEOUT);
    let mut request = shared.http.post(&job.url).timeout(timeout).json(&job.body);
    if let Some((user, password)) = &job.auth {
        request = request.basic_auth(user, password.as_deref());
    }
    let (status, error) = match request.send().await {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(e) if e.is_timeout() => (None, Some(format!("no answer within {} ms", timeout.as_millis()))),
        Err(e) => (None, Some(format!("{e}"))),
    };
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let mut state = shared.lock();
    let now = state.now();
    if let Some(webhook) = state.store.webhooks.get_mut(&job.webhook_id) {
        webhook.last_delivery_time = Some(now);
        webhook.last_http_status = status;
    }
    state.deliveries.push(PdDelivery {
        webhook_id: job.webhook_id,
        url: job.url.clone(),
        body: job.body.clone(),
        attempt: job.attempt,
        status,
        error,
        at: Instant::now(),
    });
    ok
}
