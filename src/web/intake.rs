//! The intake API: `POST /api/v1/activities` and `POST /api/v1/deals` for any CRM or automation
//! tool, authenticated by a per-guild API key (`Authorization: Bearer rally_...`), rate limited per
//! key, described at `GET /api/v1/openapi.json`.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};

use crate::app::App;
use crate::app::intake::{FieldError, IntakeError};
use crate::discord::Clock;

/// rally's own description of the intake API (OpenAPI 3.0), served as is.
pub const OPENAPI: &str = include_str!("openapi.json");
/// Requests per second each key may make, and the burst it may save up.
pub const RATE_PER_SECOND: u32 = 50;
pub const BURST: u32 = 200;
/// One record per request: anything near this is not one.
pub const BODY_LIMIT: usize = 64 * 1024;

pub(super) struct Intake {
    app: App,
    clock: Clock,
    limiter: DefaultKeyedRateLimiter<i64>,
}

fn errors(status: StatusCode, errors: Vec<FieldError>) -> Response {
    (status, axum::Json(json!({ "errors": errors }))).into_response()
}

fn one(status: StatusCode, field: &str, message: &str) -> Response {
    errors(status, vec![FieldError { field: field.into(), message: message.into() }])
}

/// The routes, with their state.
pub fn router(app: App, clock: Clock) -> Router {
    let per_second = NonZeroU32::new(RATE_PER_SECOND).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
    let limiter = RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst));
    Router::new()
        .route("/api/v1/activities", post(activities))
        .route("/api/v1/deals", post(deals))
        .route("/api/v1/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::new(Intake { app, clock, limiter }))
}

/// The guild and key of a request, or the answer to send instead (401, 429).
async fn authorize(intake: &Intake, headers: &HeaderMap) -> Result<(i64, i64), Box<Response>> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer ").or_else(|| v.trim().strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let unauthorized = || {
        let mut r = one(
            StatusCode::UNAUTHORIZED,
            "Authorization",
            "send a live API key as `Authorization: Bearer rally_...` (rally api-key create)",
        );
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        r
    };
    let Some(presented) = presented else {
        return Err(Box::new(unauthorized()));
    };
    let (key, guild) = match intake.app.api_key_guild(presented).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(Box::new(unauthorized())),
        Err(e) => {
            tracing::error!(error = %e, "could not check an API key");
            return Err(Box::new(one(StatusCode::SERVICE_UNAVAILABLE, "(body)", "not stored; retry later")));
        }
    };
    if let Err(not_until) = intake.limiter.check_key(&key) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        let mut r = one(
            StatusCode::TOO_MANY_REQUESTS,
            "(body)",
            &format!(
                "more than {RATE_PER_SECOND} requests per second with this key; retry after the time in Retry-After"
            ),
        );
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = header::HeaderValue::from_str(&secs) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Err(Box::new(r));
    }
    Ok((guild, key))
}

/// The guild, key and JSON body of an authorized request, or the answer to send instead.
async fn receive(intake: &Intake, headers: &HeaderMap, body: &Bytes) -> Result<(i64, i64, Value), Box<Response>> {
    let (guild, key) = authorize(intake, headers).await?;
    let value = serde_json::from_slice(body)
        .map_err(|e| Box::new(one(StatusCode::BAD_REQUEST, "(body)", &format!("the body is not JSON: {e}"))))?;
    Ok((guild, key, value))
}

fn failed(e: IntakeError) -> Response {
    match e {
        IntakeError::Invalid(list) => errors(StatusCode::UNPROCESSABLE_ENTITY, list),
        IntakeError::App(e) => {
            tracing::error!(error = %e, "an intake request could not be stored");
            one(StatusCode::SERVICE_UNAVAILABLE, "(body)", "not stored; retry later")
        }
    }
}

fn created_or_ok(status: crate::app::intake::Upserted) -> StatusCode {
    if status == crate::app::intake::Upserted::Created { StatusCode::CREATED } else { StatusCode::OK }
}

async fn activities(State(intake): State<Arc<Intake>>, headers: HeaderMap, body: Bytes) -> Response {
    let (guild, key, body) = match receive(&intake, &headers, &body).await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    match intake.app.intake_activity(guild, key, &body, intake.clock.now()).await {
        Ok(done) => (created_or_ok(done.status), axum::Json(done)).into_response(),
        Err(e) => failed(e),
    }
}

async fn deals(State(intake): State<Arc<Intake>>, headers: HeaderMap, body: Bytes) -> Response {
    let (guild, key, body) = match receive(&intake, &headers, &body).await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    match intake.app.intake_deal(guild, key, &body, intake.clock.now()).await {
        Ok(done) => (created_or_ok(done.status), axum::Json(done)).into_response(),
        Err(e) => failed(e),
    }
}
