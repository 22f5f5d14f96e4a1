//! The gateway half of the loopback: HELLO, IDENTIFY -> READY (or a close with 4010 Invalid shard / 4011 Sharding
//! required), RESUME -> RESUMED, heartbeat ACKs, and dispatches on the session whose shard owns the event's guild.
//! Plain text JSON frames only: serenity reads text frames and never needs zlib.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{APPLICATION_ID, Conn, Session, Shared, objects, rest};

/// Discord's usual interval; long enough that serenity never heartbeats during a test unless it wants to.
const HEARTBEAT_INTERVAL_MS: u64 = 41_250;

/// Discord's gateway close codes for a refused IDENTIFY (Discord's "Opcodes and Status Codes", Gateway Close
/// Event Codes; serenity 0.12.5 `constants::close_codes` has the same numbers). Neither may be reconnected with
/// the same payload.
pub(super) const INVALID_SHARD: u16 = 4010;
pub(super) const SHARDING_REQUIRED: u16 = 4011;

/// A connection the gateway ends with a close code and reason, as Discord does.
struct Close(u16, &'static str);

/// Serves the websocket at `/` (serenity appends `?v=10`); anything that is not an upgrade is an unknown route.
pub(super) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => ws.on_upgrade(move |socket| connection(shared, socket)),
        Err(_) => rest::respond(shared, method, uri, headers, Bytes::new()).await,
    }
}

async fn connection(shared: Arc<Shared>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let conn_id = shared.lock().next_conn();
    let mut stop = shared.shutdown.subscribe();
    // Either the loopback is shutting down or its sender is gone: both end the connection.
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}).to_string();
    if sink.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(Close(code, reason)) = on_frame(&shared, conn_id, &tx, text.as_str()) {
                        shared.lock().close_codes.push(code);
                        let frame = CloseFrame { code, reason: reason.into() };
                        let _ = sink.send(Message::Close(Some(frame))).await;
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    shared.lock().violations.push("gateway: binary frame from the client (Discord expects JSON text)".into());
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            () = &mut stopped => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        }
    }
    detach(&shared, conn_id);
}

/// The session outlives its connection so serenity can RESUME it on a new one.
fn detach(shared: &Shared, conn_id: u64) {
    let mut state = shared.lock();
    for session in state.sessions.values_mut() {
        if session.conn.as_ref().is_some_and(|c| c.id == conn_id) {
            session.conn = None;
        }
    }
}

/// Answers one frame; `Some` when the connection must be closed.
fn on_frame(shared: &Shared, conn_id: u64, tx: &mpsc::UnboundedSender<String>, text: &str) -> Option<Close> {
    let frame: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            shared.lock().violations.push(format!("gateway: frame is not JSON: {e}"));
            return None;
        }
    };
    // A failed send means the connection is closing; the read loop notices on its own.
    match frame.get("op").and_then(Value::as_u64) {
        Some(1) => {
            let _ = tx.send(json!({"op": 11}).to_string());
        }
        Some(2) => return identify(shared, conn_id, tx, frame.get("d").cloned().unwrap_or(Value::Null)),
        Some(6) => resume(shared, conn_id, tx, frame.get("d").cloned().unwrap_or(Value::Null)),
        // Presence (3), voice state (4), member requests (8) and the like need no answer here.
        Some(_) => {}
        None => {
            shared.lock().violations.push(format!("gateway: frame without op: {}", super::schema::shorten(text, 200)))
        }
    }
    None
}

/// IDENTIFY's `shard`, `[shard_id, num_shards]` with `shard_id < num_shards`; `[0, 1]` when absent (Discord's
/// default: one session gets every guild). `Err` says why Discord would close with 4010.
pub(super) fn identify_shard(d: &Value) -> Result<[u32; 2], String> {
    let Some(shard) = d.get("shard") else { return Ok([0, 1]) };
    let pair =
        shard.as_array().filter(|a| a.len() == 2).ok_or_else(|| format!("{shard} is not [shard_id, num_shards]"))?;
    // Discord's integers are 32-bit; serenity's ShardInfo holds u32s.
    let int = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| i32::try_from(*n).is_ok());
    let (Some(id), Some(total)) = (int(&pair[0]), int(&pair[1])) else {
        return Err(format!("{shard} is not two non-negative 32-bit integers"));
    };
    if total == 0 || id >= total {
        return Err(format!("{shard}: shard_id must be below num_shards, which must be at least 1"));
    }
    Ok([id, total])
}

fn identify(shared: &Shared, conn_id: u64, tx: &mpsc::UnboundedSender<String>, d: Value) -> Option<Close> {
    let mut state = shared.lock();
    if d.get("token").and_then(Value::as_str).is_none_or(str::is_empty) {
        state.violations.push("gateway: IDENTIFY without a token".into());
    }
    let mut recorded = d.clone();
    if let Some(obj) = recorded.as_object_mut() {
        obj.insert("token".into(), json!("<redacted>"));
    }
    state.identifies.push(recorded);
    let shard = match identify_shard(&d) {
        Ok(shard) => shard,
        Err(why) => {
            state.violations.push(format!("gateway: IDENTIFY with an invalid shard, closed with 4010: {why}"));
            return Some(Close(INVALID_SHARD, "Invalid shard."));
        }
    };
    if shard[1] < state.shard_rules.required {
        let required = state.shard_rules.required;
        state.violations.push(format!(
            "gateway: IDENTIFY on {shard:?} would hold too many guilds (at least {required} shards are required), \
             closed with 4011"
        ));
        return Some(Close(SHARDING_REQUIRED, "Sharding required."));
    }
    let session_id = state.next_session();
    let ready = json!({
        "op": 0,
        "s": 1,
        "t": "READY",
        "d": {
            "v": 10,
            "user": objects::bot_user(),
            "guilds": [],
            "session_id": session_id,
            "resume_gateway_url": shared.ws_url,
            "shard": shard,
            "application": {"id": APPLICATION_ID.to_string(), "flags": 0},
        },
    });
    let _ = tx.send(ready.to_string());
    let live_since = state.next_live();
    let conn = Some(Conn { id: conn_id, tx: tx.clone() });
    state.sessions.insert(session_id, Session { seq: 1, conn, shard, live_since });
    None
}

fn resume(shared: &Shared, conn_id: u64, tx: &mpsc::UnboundedSender<String>, d: Value) {
    let mut state = shared.lock();
    let session_id = d.get("session_id").and_then(Value::as_str).unwrap_or("").to_string();
    let Some(session) = state.sessions.get_mut(&session_id) else {
        // Not resumable: serenity then identifies again on a fresh connection.
        let _ = tx.send(json!({"op": 9, "d": false}).to_string());
        return;
    };
    // Events sent while the session was detached were never delivered; Discord would replay them, we have none.
    session.seq += 1;
    session.conn = Some(Conn { id: conn_id, tx: tx.clone() });
    let _ = tx.send(json!({"op": 0, "s": session.seq, "t": "RESUMED", "d": {}}).to_string());
    let live_since = state.next_live();
    if let Some(session) = state.sessions.get_mut(&session_id) {
        session.live_since = live_since;
    }
}
