//! The HTTP half of the loopback Pipedrive: finds each request's operation in the descriptions, checks it, applies
//! injected failures, the token and the burst limit, answers the endpoints rally uses in Pipedrive's shapes, and
//! records every request (and violation) under one lock.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use chrono::DateTime;
use serde::Serialize;
use serde_json::{Value, json};

use super::cursor::Cursor;
use super::spec::{self, Api, Miss};
use super::store::{self, DealJson, ListQuery, Page};
use super::{BURST_WINDOW, PdRecorded, Shared, State as Record, UNLIMITED_BUDGET, webhooks};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Activities,
    Deals,
    Stages,
    Pipelines,
    Users,
    ActivityTypes,
    Webhooks,
    AddWebhook,
    DeleteWebhook,
    UpdateDeal,
    GetDeal,
    AddActivity,
}

/// What the loopback serves, spelled as the descriptions' `paths` keys. The costs are the operations' `x-token-cost`,
/// used only when the descriptions are not loaded (a test checks they agree).
const SERVED: &[(Api, &str, &str, Endpoint, u32)] = &[
    (Api::V2, "GET", "/activities", Endpoint::Activities, 10),
    (Api::V2, "GET", "/deals", Endpoint::Deals, 10),
    (Api::V2, "GET", "/stages", Endpoint::Stages, 5),
    (Api::V2, "GET", "/pipelines", Endpoint::Pipelines, 5),
    (Api::V1, "GET", "/users", Endpoint::Users, 20),
    (Api::V1, "GET", "/activityTypes", Endpoint::ActivityTypes, 20),
    (Api::V1, "GET", "/webhooks", Endpoint::Webhooks, 10),
    (Api::V1, "POST", "/webhooks", Endpoint::AddWebhook, 10),
    (Api::V1, "DELETE", "/webhooks/{id}", Endpoint::DeleteWebhook, 6),
    (Api::V2, "PATCH", "/deals/{id}", Endpoint::UpdateDeal, 5),
    (Api::V2, "GET", "/deals/{id}", Endpoint::GetDeal, 1),
    (Api::V2, "POST", "/activities", Endpoint::AddActivity, 5),
];

#[cfg(test)]
pub(super) fn served() -> impl Iterator<Item = (Api, &'static str, &'static str, u32)> {
    SERVED.iter().map(|(api, method, template, _, cost)| (*api, *method, *template, *cost))
}

fn served_op(api: Api, method: &str, template: &str) -> Option<(Endpoint, u32)> {
    SERVED.iter().find(|(a, m, t, _, _)| *a == api && *m == method && *t == template).map(|(_, _, _, e, c)| (*e, *c))
}

/// Without the descriptions: the served route whose template fits, with its path parameters.
fn served_route(api: Api, method: &str, path: &str) -> Option<(Endpoint, u32, spec::Pairs)> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    SERVED.iter().filter(|(a, m, _, _, _)| *a == api && *m == method).find_map(|(_, _, template, e, cost)| {
        let pattern: Vec<&str> = template.split('/').skip(1).collect();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (p, s) in pattern.iter().zip(&segments) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => params.push((name.to_string(), spec::percent_decode(s)?)),
                None if p == s => {}
                None => return None,
            }
        }
        Some((*e, *cost, params))
    })
}

const ERROR_INFO: &str = "Please check developers.pipedrive.com for more information about Pipedrive API.";

struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        Reply { status, body: serde_json::to_vec(body).unwrap_or_default() }
    }

    /// Pipedrive's error body: `{"success": false, "error": ..., "error_info": ...}`.
    fn error(status: u16, message: &str) -> Reply {
        let body = json!({"success": false, "error": message, "error_info": ERROR_INFO, "data": null,
                          "additional_data": null});
        Reply::json(status, &body)
    }

    fn unauthorized() -> Reply {
        let body = json!({"success": false, "error": "unauthorized access", "errorCode": 401,
                          "error_info": ERROR_INFO});
        Reply::json(401, &body)
    }

    fn over_limit() -> Reply {
        let body = json!({"success": false, "error": "Request over limit", "errorCode": 429,
                          "error_info": ERROR_INFO});
        Reply::json(429, &body)
    }

    fn injected(status: u16) -> Reply {
        match status {
            401 => Reply::unauthorized(),
            429 => Reply::over_limit(),
            _ => {
                let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
                Reply::error(status, reason)
            }
        }
    }
}

/// A rejection by the loopback: the reply, and the violation to record (if the request was not allowed).
struct Refusal {
    reply: Reply,
    violation: Option<String>,
}

impl Refusal {
    /// A request Pipedrive answers 400 and the descriptions do not allow.
    fn bad(violation: String) -> Refusal {
        Refusal { reply: Reply::error(400, &violation), violation: Some(violation) }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let method = method.as_str().to_string();
    let path = uri.path().to_string();
    let mut record = PdRecorded {
        method: method.clone(),
        path: path.clone(),
        query: uri.query().map(str::to_string),
        status: 0,
        token_cost: 0,
        at,
    };
    let (reply, violations, blocked) = respond(&shared, &method, &path, uri.query(), &headers, &body, &mut record);
    let mut state = shared.lock();
    record.status = reply.status;
    for v in &violations {
        tracing::warn!("loopback pipedrive violation: {v}");
    }
    state.violations.extend(violations);
    state.requests.push(record);
    let limits = rate_headers(&shared, &mut state, blocked);
    drop(state);
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in limits {
        if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
            h.insert(name, value);
        }
    }
    response
}

/// `x-ratelimit-*` as they stand after this request; `blocked`: the window is reported spent (a 429).
fn rate_headers(shared: &Shared, state: &mut Record, blocked: bool) -> [(&'static str, u64); 3] {
    let now = Instant::now();
    expire(state, now);
    let limit = shared.burst_limit.unwrap_or(UNLIMITED_BUDGET);
    let used: u64 = state.window.iter().map(|(_, c)| u64::from(*c)).sum();
    let remaining = if blocked { 0 } else { u64::from(limit).saturating_sub(used) };
    let reset = match state.window.front() {
        Some((t, _)) => (BURST_WINDOW.saturating_sub(now - *t)).as_secs_f64().ceil().max(1.0) as u64,
        None if blocked => BURST_WINDOW.as_secs(),
        None => 0,
    };
    [("x-ratelimit-limit", u64::from(limit)), ("x-ratelimit-remaining", remaining), ("x-ratelimit-reset", reset)]
}

fn expire(state: &mut Record, now: Instant) {
    while state.window.front().is_some_and(|(t, _)| now.duration_since(*t) >= BURST_WINDOW) {
        state.window.pop_front();
    }
}

/// Everything but the recording: (reply, violations, whether the rate-limit headers report the window spent).
fn respond(
    shared: &Arc<Shared>,
    method: &str,
    path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    record: &mut PdRecorded,
) -> (Reply, Vec<String>, bool) {
    let mut violations = Vec::new();
    let Some((api, rest)) = Api::of(path) else {
        let v = format!("{method} {path}: not a Pipedrive API path (Pipedrive serves /v1/... and /api/v2/...)");
        return (Reply::error(404, "Unknown method ."), vec![v], false);
    };

    // Which operation, by the descriptions when loaded, else by the loopback's own table.
    let (endpoint, path_params, operation) = match &shared.specs {
        Some(specs) => match specs.document(api).find(method, rest) {
            Ok(matched) => {
                let op = matched.operation;
                record.token_cost = op.token_cost;
                let endpoint = served_op(api, &op.method, &op.template).map(|(e, _)| e);
                (endpoint, matched.path_params, Some(op))
            }
            Err(Miss::NoPath) => {
                let v = format!("{method} {path}: no such path in Pipedrive's {api:?} description");
                return (Reply::error(404, "Unknown method ."), vec![v], false);
            }
            Err(Miss::NoMethod(template, methods)) => {
                let v =
                    format!("{method} {path}: {template} has only {} in Pipedrive's description", methods.join(", "));
                return (Reply::error(404, "Unknown method ."), vec![v], false);
            }
        },
        None => match served_route(api, method, rest) {
            Some((endpoint, cost, params)) => {
                record.token_cost = cost;
                (Some(endpoint), params, None)
            }
            None => {
                let v = format!("{method} {path}: not served by the loopback (descriptions not loaded)");
                return (Reply::error(404, "Unknown method ."), vec![v], false);
            }
        },
    };

    // Injected failures come first: they stand for Pipedrive failing whatever was asked.
    if let Some(status) = take_failure(shared, path) {
        return (Reply::injected(status), violations, status == 429);
    }

    let query = match spec::parse_query(raw_query.unwrap_or("")) {
        Ok(q) => q,
        Err(why) => {
            let v = format!("{method} {path}: {why}");
            return (Reply::error(400, &v), vec![v], false);
        }
    };
    if let Some(op) = &operation {
        violations.extend(op.check_params(&query, &path_params));
        if !op.takes_api_key {
            violations.push(format!("{}: the operation does not accept the x-api-token header", op.label()));
        }
    }
    let json_body = match read_body(method, path, headers, body, operation.as_deref()) {
        Ok(json) => json,
        Err(v) => {
            violations.push(v);
            None
        }
    };

    let authorized = headers.get("x-api-token").and_then(|v| v.to_str().ok()) == Some(shared.token.as_str());
    if !authorized {
        return (Reply::unauthorized(), violations, false);
    }
    if !admit(shared, record.token_cost) {
        return (Reply::over_limit(), violations, true);
    }
    if let Some(first) = violations.first() {
        return (Reply::error(400, first), violations, false);
    }
    let Some(endpoint) = endpoint else {
        let label = operation.as_ref().map_or_else(|| format!("{method} {path}"), |op| op.label());
        let v = format!("{label}: the loopback does not implement this operation (rally is not expected to use it)");
        return (Reply::error(501, &v), vec![v], false);
    };
    let q = Query(query);
    let result = match endpoint {
        Endpoint::Activities => list_activities(shared, &q),
        Endpoint::Deals => list_deals(shared, &q),
        Endpoint::Stages => list_stages(shared, &q),
        Endpoint::Pipelines => list_pipelines(shared, &q),
        Endpoint::Users => Ok(users(shared)),
        Endpoint::ActivityTypes => Ok(activity_types(shared)),
        Endpoint::Webhooks => Ok(list_webhooks(shared)),
        Endpoint::AddWebhook => add_webhook(shared, json_body.as_ref()),
        Endpoint::DeleteWebhook => delete_webhook(shared, &path_params),
        Endpoint::UpdateDeal => update_deal(shared, &path_params, json_body.as_ref()),
        Endpoint::GetDeal => get_deal(shared, &path_params, &q),
        Endpoint::AddActivity => add_activity(shared, json_body.as_ref()),
    };
    match result {
        Ok(reply) => (reply, violations, false),
        Err(refusal) => {
            let label = operation.as_ref().map_or_else(|| format!("{method} {path}"), |op| op.label());
            let violation = refusal.violation.map(|v| format!("{label}: {v}"));
            (refusal.reply, violation.into_iter().collect(), false)
        }
    }
}

fn take_failure(shared: &Shared, path: &str) -> Option<u16> {
    let mut state = shared.lock();
    let failure = state.failures.iter_mut().find(|f| f.remaining > 0 && path.contains(&f.path_contains))?;
    failure.remaining -= 1;
    Some(failure.status)
}

/// Admits `cost` into the rolling window unless it would exceed the burst limit.
fn admit(shared: &Shared, cost: u32) -> bool {
    let mut state = shared.lock();
    let now = Instant::now();
    expire(&mut state, now);
    if let Some(limit) = shared.burst_limit {
        let used: u64 = state.window.iter().map(|(_, c)| u64::from(*c)).sum();
        if used + u64::from(cost) > u64::from(limit) {
            return false;
        }
    }
    state.window.push_back((now, cost));
    true
}

/// The JSON body, when the operation takes one; a body it does not declare, or malformed JSON, is a violation.
fn read_body(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    operation: Option<&spec::Operation>,
) -> Result<Option<Value>, String> {
    let label = operation.map_or_else(|| format!("{method} {path}"), |op| op.label());
    let declared = operation.and_then(|op| op.body());
    if body.is_empty() {
        return match declared {
            Some(true) => Err(format!("{label}: the request body is required")),
            _ => Ok(None),
        };
    }
    if operation.is_some() && declared.is_none() {
        return Err(format!("{label}: the operation takes no request body, yet {} bytes came", body.len()));
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(format!("{label}: body sent as `{content_type}`; the operation takes application/json"));
    }
    let json: Value = serde_json::from_slice(body).map_err(|e| format!("{label}: the body is not JSON: {e}"))?;
    if let Some(op) = operation
        && let Some(first) = op.check_body(&json).into_iter().reduce(|a, b| format!("{a}; {b}"))
    {
        return Err(first);
    }
    Ok(Some(json))
}

/// Decoded query pairs, each name at most once (duplicates are violations already).
struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn int(&self, name: &str) -> Result<Option<i64>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| Refusal::bad(format!("`{name}`={v:?} is not an integer"))),
        }
    }

    fn flag(&self, name: &str) -> Result<Option<bool>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(Refusal::bad(format!("`{name}`={v:?} is not `true` or `false`"))),
        }
    }

    /// `updated_since` / `updated_until`: RFC 3339 as the descriptions say, as whole seconds rounded up.
    fn time(&self, name: &str) -> Result<Option<i64>, Refusal> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match DateTime::parse_from_rfc3339(v) {
            Ok(t) => Ok(Some(t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0))),
            Err(e) => Err(Refusal::bad(format!(
                "`{name}`={v:?} is not RFC 3339 ({e}); a `+` offset must be sent percent-encoded as %2B"
            ))),
        }
    }

    /// Parameters the loopback cannot honour; answering without them would be quietly wrong.
    fn unsupported(&self, names: &[&str]) -> Result<(), Refusal> {
        match names.iter().find(|n| self.get(n).is_some()) {
            Some(name) => {
                let v = format!("the loopback does not implement `{name}`");
                Err(Refusal { reply: Reply::error(501, &v), violation: Some(v) })
            }
            None => Ok(()),
        }
    }

    fn ids(&self) -> Result<Option<HashSet<i64>>, Refusal> {
        let Some(v) = self.get("ids") else {
            return Ok(None);
        };
        let ids: Result<HashSet<i64>, _> = v.split(',').map(|id| id.trim().parse::<i64>()).collect();
        match ids {
            Ok(ids) if ids.len() <= 100 => Ok(Some(ids)),
            Ok(_) => Err(Refusal::bad("`ids` lists more than 100 ids (the description's limit)".into())),
            Err(_) => Err(Refusal::bad(format!("`ids`={v:?} is not a comma-separated list of integer ids"))),
        }
    }

    /// Paging and sorting, with the cursor checked against the sort it was made for.
    fn listing(&self, sorts: &[&str]) -> Result<ListQuery, Refusal> {
        let limit = match self.int("limit")? {
            None => 100,
            Some(n) if (1..=500).contains(&n) => n as usize,
            Some(n) => return Err(Refusal::bad(format!("`limit`={n} is out of range: at most 500 are allowed"))),
        };
        let sort_by = self.get("sort_by").unwrap_or("id").to_string();
        if !sorts.contains(&sort_by.as_str()) {
            return Err(Refusal::bad(format!("`sort_by`={sort_by:?} is not one of {sorts:?}")));
        }
        let desc = match self.get("sort_direction") {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(v) => return Err(Refusal::bad(format!("`sort_direction`={v:?} is not `asc` or `desc`"))),
        };
        let after = match self.get("cursor") {
            None => None,
            Some(text) => match Cursor::decode(text) {
                Some(c) if c.field == sort_by && c.desc == desc => Some((c.key, c.id)),
                Some(c) => {
                    return Err(Refusal::bad(format!(
                        "the cursor was made for sort_by={} {}, not sort_by={sort_by} {}",
                        c.field,
                        if c.desc { "desc" } else { "asc" },
                        if desc { "desc" } else { "asc" }
                    )));
                }
                None => return Err(Refusal::bad(format!("`cursor`={text:?} is not a cursor this API issued"))),
            },
        };
        Ok(ListQuery {
            limit,
            sort_by,
            desc,
            after,
            since: self.time("updated_since")?,
            until: self.time("updated_until")?,
        })
    }
}

/// `{"success": true, "data": [...], "additional_data": {"next_cursor": ...}}`, each item written by `write`.
fn page_reply<'a, T>(page: Page<'a, T>, q: &ListQuery, write: impl Fn(&mut Vec<u8>, &'a T)) -> Reply {
    let mut out = Vec::with_capacity(64 + page.items.len() * 720);
    out.extend_from_slice(b"{\"success\":true,\"data\":[");
    for (n, item) in page.items.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write(&mut out, item);
    }
    out.extend_from_slice(b"],\"additional_data\":{\"next_cursor\":");
    match page.next {
        Some((key, id)) => {
            let cursor = Cursor { field: q.sort_by.clone(), desc: q.desc, key, id }.encode();
            // Cursors are URL-safe base64: nothing in them needs escaping.
            out.push(b'"');
            out.extend_from_slice(cursor.as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}}");
    Reply { status: 200, body: out }
}

/// Writes an item through serde, for the lists that are never long.
fn serde_item<J: Serialize>(out: &mut Vec<u8>, item: J) {
    // Writing into a Vec cannot fail, and these shapes have only string keys.
    let _ = serde_json::to_writer(out, &item);
}

/// Filters on a person, organization or lead match nothing: the loopback's objects have none.
fn links_nothing(q: &Query, names: &[&str]) -> bool {
    names.iter().any(|n| q.get(n).is_some())
}

fn list_activities(shared: &Shared, q: &Query) -> Result<Reply, Refusal> {
    q.unsupported(&["filter_id", "include_fields"])?;
    let listing = q.listing(&["id", "update_time", "add_time", "due_date"])?;
    let (owner, deal, done, ids) = (q.int("owner_id")?, q.int("deal_id")?, q.flag("done")?, q.ids()?);
    let none = links_nothing(q, &["person_id", "org_id", "lead_id"]);
    let keep = |a: &super::PdActivity| {
        !none
            && owner.is_none_or(|o| a.owner_id == o)
            && deal.is_none_or(|d| a.deal_id == Some(d))
            && done.is_none_or(|d| a.done == d)
            && ids.as_ref().is_none_or(|ids| ids.contains(&a.id))
    };
    let state = shared.lock();
    let page = state.store.activity_page(&listing, &keep);
    Ok(page_reply(page, &listing, store::write_activity))
}

fn list_deals(shared: &Shared, q: &Query) -> Result<Reply, Refusal> {
    q.unsupported(&["filter_id", "custom_fields"])?;
    let next_activity = match q.get("include_fields") {
        None => false,
        Some("next_activity_id") => true,
        Some(other) => return q.unsupported(&["include_fields"]).and(Err(Refusal::bad(format!("{other:?}")))),
    };
    let listing = q.listing(&["id", "update_time", "add_time"])?;
    let (owner, pipeline, stage, ids) = (q.int("owner_id")?, q.int("pipeline_id")?, q.int("stage_id")?, q.ids()?);
    let status = q.get("status").map(str::to_string);
    let none = links_nothing(q, &["person_id", "org_id"]);
    let keep = |d: &super::PdDeal| {
        let status_fits = match status.as_deref() {
            None => !d.is_deleted,
            Some("deleted") => d.is_deleted,
            Some(s) => !d.is_deleted && d.status == s,
        };
        !none
            && status_fits
            && owner.is_none_or(|o| d.owner_id == o)
            && pipeline.is_none_or(|p| d.pipeline_id == p)
            && stage.is_none_or(|s| d.stage_id == s)
            && ids.as_ref().is_none_or(|ids| ids.contains(&d.id))
    };
    let state = shared.lock();
    let store = &state.store;
    let page = store.deal_page(&listing, &keep);
    Ok(page_reply(page, &listing, |out, d| {
        let json = DealJson::of(d, store.stage_change_time(d.id));
        serde_item(out, if next_activity { json.with_next_activity(d) } else { json })
    }))
}

fn list_stages(shared: &Shared, q: &Query) -> Result<Reply, Refusal> {
    let listing = q.listing(&["id", "update_time", "add_time", "order_nr"])?;
    let pipeline = q.int("pipeline_id")?;
    let keep = |s: &store::Stage| pipeline.is_none_or(|p| s.pipeline_id == p);
    let state = shared.lock();
    let page = state.store.stage_page(&listing, &keep);
    Ok(page_reply(page, &listing, |out, s| serde_item(out, store::stage_value(s))))
}

fn list_pipelines(shared: &Shared, q: &Query) -> Result<Reply, Refusal> {
    let listing = q.listing(&["id", "update_time", "add_time"])?;
    let state = shared.lock();
    let order: Vec<i64> = state.store.pipelines.keys().copied().collect();
    let page = state.store.pipeline_page(&listing);
    Ok(page_reply(page, &listing, |out, p| {
        let order_nr = order.iter().position(|id| *id == p.id).unwrap_or(0) + 1;
        serde_item(out, store::pipeline_value(p, order_nr))
    }))
}

fn users(shared: &Shared) -> Reply {
    let state = shared.lock();
    let me = state.token_user();
    let data: Vec<Value> = state.store.users.values().map(|u| store::user_value(u, u.id == me)).collect();
    Reply::json(200, &json!({"success": true, "data": data}))
}

fn activity_types(shared: &Shared) -> Reply {
    let state = shared.lock();
    let data: Vec<Value> =
        state.store.activity_types.iter().enumerate().map(|(i, t)| store::activity_type_value(t, i + 1)).collect();
    Reply::json(200, &json!({"success": true, "data": data}))
}

fn list_webhooks(shared: &Shared) -> Reply {
    let state = shared.lock();
    let data: Vec<Value> = state.store.webhooks.values().map(store::webhook_value).collect();
    Reply::json(200, &json!({"status": "ok", "success": true, "data": data}))
}

/// Pipedrive allows 40 webhooks per user.
const MAX_WEBHOOKS: usize = 40;

fn add_webhook(shared: &Arc<Shared>, body: Option<&Value>) -> Result<Reply, Refusal> {
    let Some(body) = body else {
        return Err(Refusal::bad("the request body is required".into()));
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let version = text("version").unwrap_or_else(|| "2.0".into());
    if version != "2.0" {
        let v = format!("version {version:?}: the loopback delivers Webhooks v2 only");
        return Err(Refusal { reply: Reply::error(501, &v), violation: Some(v) });
    }
    let url = text("subscription_url").unwrap_or_default();
    let host_ok = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !host_ok {
        let body = json!({"status": "error", "success": false,
                          "errors": {"subscription_url": ["invalid or non-reachable URL"]}});
        return Err(Refusal {
            reply: Reply::json(400, &body),
            violation: Some(format!("`subscription_url`={url:?} is not an http(s) URL")),
        });
    }
    let mut state = shared.lock();
    if state.store.webhooks.len() >= MAX_WEBHOOKS {
        return Err(Refusal::bad(format!("more than {MAX_WEBHOOKS} webhooks: Pipedrive's limit per user")));
    }
    let id = state.store.next_webhook_id();
    let user_id = body.get("user_id").and_then(Value::as_i64).unwrap_or_else(|| state.token_user());
    let webhook = store::Webhook {
        id,
        name: text("name").unwrap_or_default(),
        subscription_url: url,
        event_action: text("event_action").unwrap_or_else(|| "*".into()),
        event_object: text("event_object").unwrap_or_else(|| "*".into()),
        user_id,
        http_auth_user: text("http_auth_user"),
        http_auth_password: text("http_auth_password"),
        version,
        added: state.now(),
        last_delivery_time: None,
        last_http_status: None,
    };
    let shown = store::webhook_value(&webhook);
    state.store.webhooks.insert(id, webhook);
    let queue = webhooks::start_worker(shared);
    state.queues.insert(id, queue);
    Ok(Reply::json(201, &json!({"status": "ok", "success": true, "data": shown})))
}

/// `PATCH /api/v2/deals/{id}`: the fields rally changes (the expected close date; the status, to
/// `lost`), others refused as not implemented; answers the deal as listed, and fires a `change`
/// webhook like any edit.
fn update_deal(shared: &Shared, params: &[(String, String)], body: Option<&Value>) -> Result<Reply, Refusal> {
    let id = params.iter().find(|(n, _)| n == "id").and_then(|(_, v)| v.parse::<i64>().ok());
    let Some(id) = id else {
        return Err(Refusal::bad("path parameter `id` is not an integer".into()));
    };
    let Some(body) = body.and_then(Value::as_object) else {
        return Err(Refusal::bad("the request body is required".into()));
    };
    if let Some(other) = body.keys().find(|k| !["expected_close_date", "status"].contains(&k.as_str())) {
        let v = format!("the loopback does not implement changing `{other}`");
        return Err(Refusal { reply: Reply::error(501, &v), violation: Some(v) });
    }
    let mut state = shared.lock();
    let Some(mut deal) = state.store.deals.get(&id).filter(|d| !d.is_deleted).cloned() else {
        return Err(Refusal { reply: Reply::error(404, "Deal not found"), violation: None });
    };
    if let Some(date) = body.get("expected_close_date") {
        let day = date.as_str().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        match (date, day) {
            (Value::Null, _) => deal.expected_close_date = None,
            (_, Some(day)) => deal.expected_close_date = Some(day),
            _ => return Err(Refusal::bad(format!("`expected_close_date`={date} is not a date"))),
        }
    }
    if let Some(status) = body.get("status") {
        match status.as_str() {
            Some(s @ ("open" | "won" | "lost")) => deal.status = s.to_string(),
            _ => return Err(Refusal::bad(format!("`status`={status} is not open, won or lost"))),
        }
    }
    let now = state.now();
    let (stored, previous) = state.store.put_deal(deal, now);
    webhooks::deal_put(&mut state, &stored, previous.as_ref(), None);
    let data = store::deal_value(&state.store, &stored);
    Ok(Reply::json(200, &json!({"success": true, "data": data})))
}

/// `GET /api/v2/deals/{id}`: the deal as listed (with its `next_activity_id` when asked for with
/// `include_fields=next_activity_id`); 404 for an unknown or deleted one.
fn get_deal(shared: &Shared, params: &[(String, String)], q: &Query) -> Result<Reply, Refusal> {
    q.unsupported(&["custom_fields"])?;
    let next_activity = match q.get("include_fields") {
        None => false,
        Some("next_activity_id") => true,
        Some(other) => return q.unsupported(&["include_fields"]).and(Err(Refusal::bad(format!("{other:?}")))),
    };
    let id = params.iter().find(|(n, _)| n == "id").and_then(|(_, v)| v.parse::<i64>().ok());
    let Some(id) = id else {
        return Err(Refusal::bad("path parameter `id` is not an integer".into()));
    };
    let state = shared.lock();
    let Some(deal) = state.store.deals.get(&id).filter(|d| !d.is_deleted) else {
        return Err(Refusal { reply: Reply::error(404, "Deal not found"), violation: None });
    };
    let json = DealJson::of(deal, state.store.stage_change_time(deal.id));
    let data =
        serde_json::to_value(if next_activity { json.with_next_activity(deal) } else { json }).unwrap_or(Value::Null);
    Ok(Reply::json(200, &json!({"success": true, "data": data})))
}

/// `POST /api/v2/activities`: an activity on a deal with the fields rally sends (`subject`,
/// `deal_id`, `due_date`; others refused as not implemented), not done, owned by the deal's owner,
/// of type `task`. An undone activity due sooner than the deal's next one (or the first) becomes
/// its `next_activity_id`, as in Pipedrive. Fires the activity's `create` webhook and the deal's
/// `change`.
fn add_activity(shared: &Shared, body: Option<&Value>) -> Result<Reply, Refusal> {
    let Some(body) = body.and_then(Value::as_object) else {
        return Err(Refusal::bad("the request body is required".into()));
    };
    if let Some(other) = body.keys().find(|k| !["subject", "deal_id", "due_date"].contains(&k.as_str())) {
        let v = format!("the loopback does not implement adding an activity with `{other}`");
        return Err(Refusal { reply: Reply::error(501, &v), violation: Some(v) });
    }
    let subject = body.get("subject").and_then(Value::as_str).unwrap_or_default().to_string();
    if subject.trim().is_empty() {
        return Err(Refusal::bad("`subject` is required".into()));
    }
    let due_date = match body.get("due_date") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
            Some(day) => Some(day),
            None => return Err(Refusal::bad(format!("`due_date`={v} is not a date"))),
        },
    };
    let Some(deal_id) = body.get("deal_id").and_then(Value::as_i64) else {
        return Err(Refusal::bad("the loopback needs `deal_id`".into()));
    };
    let mut state = shared.lock();
    let Some(mut deal) = state.store.deals.get(&deal_id).filter(|d| !d.is_deleted).cloned() else {
        return Err(Refusal { reply: Reply::error(404, "Deal not found"), violation: None });
    };
    let now = state.now();
    let activity = super::PdActivity {
        subject,
        r#type: "task".into(),
        owner_id: deal.owner_id,
        due_date,
        deal_id: Some(deal_id),
        ..super::PdActivity::default()
    };
    let (stored, previous) = state.store.put_activity(activity, now);
    webhooks::activity_put(&mut state, &stored, previous.as_ref());
    let current = deal.next_activity_id.and_then(|id| state.store.activities.get(&id)).filter(|a| !a.done);
    let sooner = match current {
        None => true,
        Some(a) => match (stored.due_date, a.due_date) {
            (Some(new), Some(old)) => new < old,
            (Some(_), None) => true,
            (None, _) => false,
        },
    };
    if sooner {
        deal.next_activity_id = Some(stored.id);
        let (after, before) = state.store.put_deal(deal, now);
        webhooks::deal_put(&mut state, &after, before.as_ref(), None);
    }
    Ok(Reply::json(200, &json!({"success": true, "data": store::activity_value(&stored)})))
}

fn delete_webhook(shared: &Shared, params: &[(String, String)]) -> Result<Reply, Refusal> {
    let id = params.iter().find(|(n, _)| n == "id").and_then(|(_, v)| v.parse::<i64>().ok());
    let Some(id) = id else {
        return Err(Refusal::bad("path parameter `id` is not an integer".into()));
    };
    let mut state = shared.lock();
    if state.store.webhooks.remove(&id).is_none() {
        // Not a violation: a webhook Pipedrive removed itself (after 3 days of failures) is gone this way too.
        return Err(Refusal { reply: Reply::error(404, "Webhook not found"), violation: None });
    }
    state.queues.remove(&id);
    Ok(Reply::json(200, &json!({"status": "ok", "success": true})))
}
