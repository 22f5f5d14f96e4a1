//! rally's HTTP surface beside Discord's interactions endpoint: the CRM webhook receivers, the
//! intake API and the live TV wallboard. Parses and authenticates at the edge, then calls `app`
//! through the same ingestion path as the poll; imports `app`, `crm` and `domain`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use crate::app::App;
use crate::discord::Clock;
use crate::domain::crm::Provider;

pub mod intake;
pub mod wall;

/// Pipedrive's webhook bodies are one record each; anything near this is not one.
const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

struct Shared {
    app: App,
    clock: Clock,
}

/// The routes: `POST /crm/pipedrive/{guild}` (webhooks v2, HTTP Basic), the intake API
/// (`/api/v1/...`, see [`intake`]) and the wallboard (`GET /wall/{token}`, see [`wall`]).
pub fn router(app: App, clock: Clock) -> Router {
    Router::new()
        .route("/crm/pipedrive/{guild}", post(pipedrive_webhook))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .with_state(Arc::new(Shared { app: app.clone(), clock: clock.clone() }))
        .merge(intake::router(app.clone(), clock.clone()))
        .merge(wall::router(app, clock))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"rally\"")],
        axum::Json(json!({"error": "wrong or missing credentials"})),
    )
        .into_response()
}

/// The (user, password) of an `Authorization: Basic ...` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// One Pipedrive webhook v2 delivery. Wrong credentials get 401 and store nothing; a body rally
/// cannot read gets 400 (Pipedrive would only resend it); a stored event gets 200 once it is
/// durable, so an acknowledged event is never lost. A redelivery (`meta.attempt` > 1) or an event
/// the poll already read changes nothing.
async fn pipedrive_webhook(
    State(shared): State<Arc<Shared>>,
    Path(guild): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(guild) = guild.parse::<i64>() else {
        return unauthorized();
    };
    let Some((user, password)) = basic_credentials(&headers) else {
        return unauthorized();
    };
    match shared.app.crm_webhook_allows(guild, user, &password).await {
        Ok(true) => {}
        Ok(false) => return unauthorized(),
        Err(e) => {
            tracing::error!(guild, error = %e, "could not check webhook credentials");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let event = match crate::crm::pipedrive::parse_webhook(&body) {
        Ok(event) => event,
        Err(why) => {
            tracing::warn!(guild, error = %why, "refused an unreadable Pipedrive webhook body");
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": why}))).into_response();
        }
    };
    if event.records.is_empty() {
        return (StatusCode::OK, axum::Json(json!({"ok": true, "ignored": event.entity}))).into_response();
    }
    match shared.app.crm_apply(guild, Provider::Pipedrive, event.records, shared.clock.now()).await {
        Ok(counts) => (StatusCode::OK, axum::Json(json!({"ok": true, "counts": counts}))).into_response(),
        Err(e) => {
            // Pipedrive retries a non-2xx answer: nothing is lost while rally cannot store it.
            tracing::error!(guild, error = %e, "could not store a Pipedrive webhook event");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"error": "not stored; retry later"}))).into_response()
        }
    }
}
