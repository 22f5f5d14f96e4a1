//! `rally serve`: Discord's HTTP interactions endpoint (axum). Every request must carry a valid
//! Ed25519 signature over `timestamp || body` made within the last 5 minutes; the interaction
//! response is the HTTP response body. Work that outlasts Discord's 3 seconds is deferred and
//! completed through REST, as are replies with attachments (a JSON body cannot carry files).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serenity::all::Interaction;
use serenity::builder::Builder;
use serenity::interactions_endpoint::Verifier;

use super::convert::Incoming;
use super::{Clock, convert, render};
use crate::app::App;
use crate::handlers::{self, Action, Response};

/// How old a signed request may be before it is refused as a possible replay.
pub const MAX_AGE: Duration = Duration::from_secs(5 * 60);

pub struct EndpointConfig {
    pub public_key: [u8; 32],
    pub clock: Clock,
    /// REST base for follow-ups (a loopback Discord in tests); discord.com when `None`.
    pub api_url: Option<String>,
}

struct Shared {
    app: App,
    verifier: Verifier,
    clock: Clock,
    http: serenity::http::Http,
}

/// Parses a 64-character hex public key.
pub fn parse_public_key(hex: &str) -> Result<[u8; 32], String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the public key must be 64 hexadecimal characters (from the Developer Portal)".into());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| "the public key is not hexadecimal".to_string())?;
    }
    Verifier::try_new(key).map_err(|_| "that is not a valid Ed25519 public key".to_string())?;
    Ok(key)
}

pub fn router(app: App, config: EndpointConfig) -> Result<Router, String> {
    let verifier = Verifier::try_new(config.public_key).map_err(|_| "invalid Ed25519 public key".to_string())?;
    // Follow-ups authenticate with the interaction token alone; no bot token is needed.
    let http = super::http_client("", config.api_url.as_deref());
    let shared = Arc::new(Shared { app, verifier, clock: config.clock, http });
    Ok(Router::new()
        .route("/", post(interaction))
        .route("/interactions", post(interaction))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(shared))
}

fn unauthorized(why: &'static str) -> HttpResponse {
    (StatusCode::UNAUTHORIZED, why).into_response()
}

/// Checks the signature and the timestamp's age; `Err` holds the reason for the 401.
fn verify(verifier: &Verifier, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (header("x-signature-ed25519"), header("x-signature-timestamp")) else {
        return Err("missing signature headers");
    };
    let sent: i64 = timestamp.parse().map_err(|_| "bad signature timestamp")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    if (now - sent).unsigned_abs() > MAX_AGE.as_secs() {
        return Err("signature timestamp too old");
    }
    verifier.verify(signature, timestamp, body).map_err(|_| "invalid request signature")
}

async fn interaction(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> HttpResponse {
    if let Err(why) = verify(&shared.verifier, &headers, &body) {
        return unauthorized(why);
    }
    let interaction = match convert::read(&body) {
        Ok(Incoming::Ping) => return Json(serde_json::json!({"type": 1})).into_response(),
        Ok(Incoming::Interaction(i)) => *i,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable interaction body");
            return (StatusCode::BAD_REQUEST, format!("unreadable interaction: {e}")).into_response();
        }
    };
    let inv = match convert::invocation(&interaction) {
        Ok(inv) => inv,
        Err(e) => return Json(render::interaction_json(&handlers::private(e.to_string()))).into_response(),
    };
    let token = match &interaction {
        Interaction::Command(c) | Interaction::Autocomplete(c) => c.token.clone(),
        Interaction::Component(c) => c.token.clone(),
        Interaction::Modal(m) => m.token.clone(),
        _ => String::new(),
    };
    if let Some(app_id) = application_id(&interaction) {
        shared.http.set_application_id(app_id);
    }
    let now = shared.clock.now();
    let shared2 = shared.clone();
    let inv2 = inv.clone();
    let mut work = tokio::spawn(async move { handlers::dispatch(&shared2.app, &inv2, now).await });
    let autocomplete = matches!(inv.action, Action::Autocomplete { .. });
    let early = if autocomplete {
        (&mut work).await.ok()
    } else {
        tokio::time::timeout(super::gateway::DEFER_AFTER, &mut work).await.ok().and_then(Result::ok)
    };
    match early {
        Some(Response::Message(m)) if !m.attachments.is_empty() => {
            // Files cannot ride in a JSON body: defer now, upload them with the edit.
            let body = if m.update { serde_json::json!({"type": 6}) } else { deferred(m.ephemeral) };
            tokio::spawn(async move { complete(&shared, &token, Response::Message(m)).await });
            Json(body).into_response()
        }
        Some(response) => Json(render::interaction_json(&response)).into_response(),
        None => {
            let body = if super::gateway::updates(&inv) {
                serde_json::json!({"type": 6})
            } else {
                deferred(!super::gateway::public(&inv))
            };
            tokio::spawn(async move {
                if let Ok(response) = work.await {
                    complete(&shared, &token, response).await;
                }
            });
            Json(body).into_response()
        }
    }
}

fn deferred(ephemeral: bool) -> serde_json::Value {
    serde_json::json!({"type": 5, "data": {"flags": if ephemeral { 64 } else { 0 }}})
}

fn application_id(i: &Interaction) -> Option<serenity::all::ApplicationId> {
    match i {
        Interaction::Command(c) | Interaction::Autocomplete(c) => Some(c.application_id),
        Interaction::Component(c) => Some(c.application_id),
        Interaction::Modal(m) => Some(m.application_id),
        _ => None,
    }
}

async fn complete(shared: &Shared, token: &str, response: Response) {
    if let Some(m) = render::late(&response)
        && let Err(e) = render::edit(&m).execute(&shared.http, token).await
    {
        tracing::error!(error = %e, "could not complete a deferred reply");
    }
}

/// Serves the endpoint until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
