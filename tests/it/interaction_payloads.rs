//! Interactions shaped like the examples in Discord's documentation — abridged as the docs abridge
//! them: no `entitlements`, no `attachment_size_limit`, a member without `flags` — through the real
//! `rally serve` router (signed, over HTTP), and through the gateway client's reading of the events
//! serenity drops. Fields rally does not read never make an interaction unreadable; a field it needs
//! that is missing is a 400 naming the field.

use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use rally::discord::endpoint::{self, EndpointConfig};
use rally::discord::{Clock, convert, gateway};
use rally::domain::period::PeriodSpec;
use rally::loopback::{Loopback, openapi_for_tests, payload};
use serde_json::{Value, json};

use crate::helpers::*;

const NOW: &str = "2026-11-27T15:00:00Z";
/// The guild, member and channel of Discord's examples.
const GUILD: u64 = 290_926_798_626_357_999;
const MASON: u64 = 53_908_232_506_183_680;

/// Discord's "Receiving an interaction" slash-command example, with `/cardsearch` swapped for
/// `/log kind:call`. The docs leave out `application_id`, which every real interaction carries and
/// rally needs (deferred replies are completed at `/webhooks/{application_id}/{token}`), so it is added.
fn docs_slash_command() -> Value {
    json!({
        "type": 2,
        "token": "A_UNIQUE_TOKEN",
        "application_id": rally::loopback::APPLICATION_ID.to_string(),
        "member": {
            "user": {
                "id": "53908232506183680",
                "username": "Mason",
                "avatar": "a_d5efa99b3eeaa7dd43acca82f5692432",
                "discriminator": "1337",
                "public_flags": 131141
            },
            "roles": ["539082325061836999"],
            "premium_since": null,
            "permissions": "2147483647",
            "pending": false,
            "nick": null,
            "mute": false,
            "joined_at": "2017-03-13T19:19:14.040000+00:00",
            "is_pending": false,
            "deaf": false
        },
        "id": "786008729715212338",
        "guild_id": "290926798626357999",
        "app_permissions": "442368",
        "guild_locale": "en-US",
        "locale": "en-US",
        "data": {
            "options": [{"type": 3, "name": "kind", "value": "call"}],
            "type": 1,
            "name": "log",
            "id": "771825006014889984"
        },
        "channel_id": "645027906669510667"
    })
}

/// Discord's autocomplete example (its `data`, `airhorn`'s `variant` swapped for `/log`'s `kind`),
/// around the rest of the slash-command example, as the docs leave it to the reader.
fn docs_autocomplete() -> Value {
    let mut body = docs_slash_command();
    body["type"] = json!(4);
    body["id"] = json!("786008729715212339");
    body["data"] = json!({
        "id": "816437322781949972",
        "name": "log",
        "type": 1,
        "version": "825092641544650752",
        "options": [{"type": 3, "name": "kind", "value": "ca", "focused": true}]
    });
    body
}

/// Discord's "Sample Component Interaction" (a button press), for the button `custom_id`.
fn docs_button(custom_id: &str) -> Value {
    let mason = json!({
        "username": "Mason",
        "public_flags": 131141,
        "id": "53908232506183680",
        "discriminator": "1337",
        "avatar": "a_d5efa99b3eeaa7dd43acca82f5692432"
    });
    json!({
        "version": 1,
        "type": 3,
        "token": "unique_interaction_token",
        "message": {
            "type": 0,
            "tts": false,
            "timestamp": "2021-05-19T02:12:51.710000+00:00",
            "pinned": false,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": false,
            "id": "844397162624450620",
            "flags": 0,
            "embeds": [],
            "edited_timestamp": null,
            "content": "This is a message with components.",
            "components": [{
                "type": 1,
                "components": [{"type": 2, "label": "Click me!", "style": 1, "custom_id": custom_id}]
            }],
            "channel_id": "345626669114982402",
            "author": mason,
            "attachments": []
        },
        "member": {
            "user": mason,
            "roles": ["290926798626357999"],
            "premium_since": null,
            "permissions": "17179869183",
            "pending": false,
            "nick": null,
            "mute": false,
            "joined_at": "2017-03-13T19:19:14.040000+00:00",
            "is_pending": false,
            "deaf": false,
            "avatar": null
        },
        "id": "846462639134605312",
        "guild_id": "290926798626357999",
        "data": {"custom_id": custom_id, "component_type": 2},
        "channel_id": "345626669114982999",
        "application_id": "290926444748734465"
    })
}

/// `rally serve`'s router on 127.0.0.1, its follow-ups going to a loopback Discord.
struct Served {
    t: TestApp,
    lb: Loopback,
    base: String,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Discord signs, rally verifies with the public half.
fn key() -> SigningKey {
    SigningKey::from_bytes(&[11u8; 32])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn serve() -> Served {
    let t = spawn_app();
    let lb = Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts");
    let config = EndpointConfig {
        public_key: key().verifying_key().to_bytes(),
        clock: Clock::starting_at(at(NOW)),
        api_url: Some(lb.url()),
    };
    let router = endpoint::router(t.app.clone(), config).expect("a valid key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(endpoint::serve(listener, router));
    Served { t, lb, base, client: reqwest::Client::new(), server }
}

impl Served {
    /// POSTs `body` signed as Discord signs it; returns the status and the response body.
    async fn post(&self, body: &Value) -> (u16, String) {
        let body = body.to_string();
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
        let sig = key().sign(format!("{ts}{body}").as_bytes());
        let res = self
            .client
            .post(format!("{}/interactions", self.base))
            .header("content-type", "application/json")
            .header("x-signature-ed25519", hex(&sig.to_bytes()))
            .header("x-signature-timestamp", ts)
            .body(body)
            .send()
            .await
            .expect("rally serve answers");
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn answered(&self, body: &Value) -> Value {
        let (status, text) = self.post(body).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn points(&self, user: u64) -> i64 {
        let r = self.t.app.report(id(GUILD), &PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap();
        r.members.iter().find(|m| m.user_id == user.to_string()).map_or(0, |m| m.points)
    }

    async fn shutdown(self) {
        assert!(self.lb.violations().is_empty(), "Discord would have rejected: {:#?}", self.lb.violations());
        self.server.abort();
        self.lb.shutdown().await;
    }
}

/// Removes the field at a dotted path (`member.user.id`, `data.options.0.value`).
fn without(mut body: Value, path: &str) -> Value {
    let (parent, last) = path.rsplit_once('.').map_or(("", path), |(p, l)| (p, l));
    let pointer = if parent.is_empty() { String::new() } else { format!("/{}", parent.replace('.', "/")) };
    let target = body.pointer_mut(&pointer).unwrap_or_else(|| panic!("no {parent} in the example"));
    let removed = match target {
        Value::Object(map) => map.remove(last),
        Value::Array(items) => Some(items.remove(last.parse().unwrap())),
        _ => None,
    };
    assert!(removed.is_some(), "the example has a {path} to remove");
    body
}

#[tokio::test]
async fn a_ping_gets_a_pong_even_abridged() {
    let s = serve().await;
    assert_eq!(s.answered(&json!({"type": 1})).await, json!({"type": 1}));
    let docs_ping = json!({"id": "1", "application_id": "2", "type": 1, "token": "t", "version": 1});
    assert_eq!(s.answered(&docs_ping).await, json!({"type": 1}));
    assert_eq!(s.answered(&payload::ping(3)).await, json!({"type": 1}));
    s.shutdown().await;
}

#[tokio::test]
async fn a_slash_command_shaped_like_discords_docs_example_is_answered() {
    let s = serve().await;
    let reply = s.answered(&docs_slash_command()).await;
    assert_eq!(reply["type"], 4, "{reply}");
    let content = reply["data"]["content"].as_str().unwrap_or_default();
    assert!(content.starts_with("✅ Logged **1 × call**"), "{reply}");
    assert_eq!(s.points(MASON).await, 1, "Mason's call is counted in the docs' guild");
    s.shutdown().await;
}

#[tokio::test]
async fn an_autocomplete_shaped_like_discords_docs_example_gets_suggestions() {
    let s = serve().await;
    let reply = s.answered(&docs_autocomplete()).await;
    assert_eq!(reply["type"], 8, "{reply}");
    let choices: Vec<&str> =
        reply["data"]["choices"].as_array().unwrap().iter().filter_map(|c| c["value"].as_str()).collect();
    assert_eq!(choices, ["call"], "{reply}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_button_press_shaped_like_discords_docs_example_is_answered() {
    let s = serve().await;
    let logged = s.answered(&docs_slash_command()).await;
    let custom_id = logged["data"]["components"][0]["components"][0]["custom_id"].as_str().expect("an undo button");
    let reply = s.answered(&docs_button(custom_id)).await;
    assert_eq!(reply["type"], 4, "{reply}");
    assert!(reply["data"]["content"].as_str().unwrap_or_default().starts_with("↩️ Undone: **1 × call**"), "{reply}");
    assert_eq!(s.points(MASON).await, 0);
    s.shutdown().await;
}

#[tokio::test]
async fn fields_rally_does_not_read_may_be_missing_or_malformed() {
    let s = serve().await;
    let mut body = docs_slash_command();
    for unread in ["locale", "guild_locale"] {
        body = without(body, unread);
    }
    for unread in ["joined_at", "deaf", "mute", "premium_since", "pending"] {
        body = without(body, &format!("member.{unread}"));
    }
    body = without(body, "data.id");
    body = without(body, "data.type");
    // Discord adds fields over time, and serenity reads some of them more strictly than rally needs.
    body["entitlements"] = json!([{"id": "not a snowflake"}]);
    body["authorizing_integration_owners"] = json!("not a map");
    body["member"]["flags"] = json!("not a number");
    body["member"]["user"]["avatar"] = json!("not a hash");
    body["member"]["avatar_decoration_data"] = json!(17);
    body["channel"] = json!({"id": "645027906669510667", "type": "a new kind of channel"});
    body["context"] = json!(99);
    body["attachment_size_limit"] = json!(-1);
    let reply = s.answered(&body).await;
    assert!(reply["data"]["content"].as_str().unwrap_or_default().starts_with("✅ Logged"), "{reply}");

    // A button's message is not read at all: one with none of its fields is as good as the docs'.
    let custom_id = reply["data"]["components"][0]["components"][0]["custom_id"].as_str().unwrap().to_string();
    let mut press = docs_button(&custom_id);
    press["message"] = json!({});
    press = without(press, "version");
    let reply = s.answered(&press).await;
    assert!(reply["data"]["content"].as_str().unwrap_or_default().starts_with("↩️ Undone"), "{reply}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_german_servers_first_command_reads_and_shows_money_as_germans_write_it() {
    let s = serve().await;
    let mut body = docs_slash_command();
    body["guild_locale"] = json!("de");
    body["data"]["options"] =
        json!([{"type": 3, "name": "kind", "value": "won"}, {"type": 3, "name": "amount", "value": "1.250,50"}]);
    let reply = s.answered(&body).await;
    let content = reply["data"]["content"].as_str().unwrap_or_default();
    assert!(content.contains("1.250,50\u{a0}EUR"), "{reply}");
    // A locale of another shape is no reason to refuse the interaction: the defaults apply.
    let mut odd = docs_slash_command();
    odd["guild_id"] = json!("290926798626357998");
    odd["id"] = json!("786008729715212339");
    odd["guild_locale"] = json!(17);
    let reply = s.answered(&odd).await;
    assert!(reply["data"]["content"].as_str().unwrap_or_default().starts_with("✅ Logged"), "{reply}");
    s.shutdown().await;
}

#[tokio::test]
async fn channel_id_may_come_as_the_channel_object_alone() {
    let s = serve().await;
    let mut body = without(docs_slash_command(), "channel_id");
    body["channel"] = json!({"id": "645027906669510667", "type": 0});
    let reply = s.answered(&body).await;
    assert!(reply["data"]["content"].as_str().unwrap_or_default().starts_with("✅ Logged"), "{reply}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_field_rally_needs_that_is_missing_is_a_400_naming_it() {
    let s = serve().await;
    let command = docs_slash_command;
    let cases: Vec<(Value, &str)> = vec![
        (without(command(), "data.name"), "missing field data.name"),
        (without(command(), "data"), "missing field data"),
        (without(command(), "id"), "missing field id"),
        (without(command(), "token"), "missing field token"),
        (without(command(), "application_id"), "missing field application_id"),
        (without(command(), "type"), "missing field type"),
        (without(command(), "guild_id"), "missing field guild_id"),
        (without(command(), "member"), "missing field member"),
        (without(command(), "member.user"), "missing field member.user"),
        (without(command(), "member.user.id"), "missing field member.user.id"),
        (without(command(), "member.user.username"), "missing field member.user.username"),
        (without(command(), "member.roles"), "missing field member.roles"),
        (without(command(), "channel_id"), "missing field channel_id"),
        (without(command(), "data.options.0.value"), "missing field data.options[0].value"),
        (without(command(), "data.options.0.name"), "missing field data.options[0].name"),
        (without(docs_autocomplete(), "data.name"), "missing field data.name"),
        (without(docs_button("undo:1"), "data.custom_id"), "missing field data.custom_id"),
        (without(docs_button("undo:1"), "member.user.id"), "missing field member.user.id"),
    ];
    for (body, field) in cases {
        let (status, text) = s.post(&body).await;
        assert_eq!((status, text.as_str()), (400, format!("unreadable interaction: {field}").as_str()));
    }
    assert_eq!(s.points(MASON).await, 0, "nothing unreadable was stored");
    s.shutdown().await;
}

#[tokio::test]
async fn a_malformed_field_rally_needs_is_a_400_naming_it() {
    let s = serve().await;
    let mut cases: Vec<(Value, String)> = Vec::new();
    let mut bad = |path: &str, value: Value| {
        let mut body = docs_slash_command();
        *body.pointer_mut(&format!("/{}", path.replace('.', "/"))).unwrap() = value;
        cases.push((body, path.to_string()));
    };
    bad("member.user.id", json!("Mason"));
    bad("member.roles", json!("admins"));
    bad("guild_id", json!(["290926798626357999"]));
    bad("data.name", json!(7));
    bad("data.options", json!({"kind": "call"}));
    bad("type", json!("two"));
    cases.push((json!({"type": 9, "id": "1"}), "type".into()));
    for (body, field) in cases {
        let (status, text) = s.post(&body).await;
        assert_eq!(status, 400, "{body}: {text}");
        let why = text.strip_prefix("unreadable interaction: ").unwrap_or_else(|| panic!("{text}"));
        assert!(why.starts_with(&format!("{field}: ")), "{field}: {text}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_body_that_is_not_an_interaction_is_a_400_not_a_crash() {
    let s = serve().await;
    for body in [json!(null), json!([1, 2]), json!("hello"), json!({}), json!({"type": null})] {
        let (status, text) = s.post(&body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.starts_with("unreadable interaction: "), "{text}");
    }
    s.shutdown().await;
}

/// Drops the fields the docs' examples leave out, from a payload carrying all of them.
fn abridged(mut full: Value) -> Value {
    for field in ["entitlements", "attachment_size_limit", "authorizing_integration_owners", "context", "version"] {
        full = without(full, field);
    }
    without(without(full, "member.flags"), "member.joined_at")
}

#[test]
fn an_abridged_interaction_converts_exactly_like_the_full_one() {
    let rep = payload::Member { user_id: 42, username: "rep".into(), roles: vec![5], permissions: 1 << 5 };
    let call = rally::handlers::cmdline::parse("/kpi rep user:<@43> period:last-month").unwrap();
    let options = rally::handlers::cmdline::discord_options(&call);
    let autocomplete = json!([{"name": "kind", "type": 3, "value": "ca", "focused": true}]);
    for full in [
        payload::command(21, 1, 2, &rep, &call.name, options),
        payload::autocomplete(22, 1, 2, &rep, "log", autocomplete),
        payload::button(23, 1, 2, &rep, "undo:9"),
    ] {
        let whole = convert::invocation(&convert::parse(full.to_string().as_bytes()).unwrap()).unwrap();
        let short = abridged(full.clone());
        let short = convert::invocation(&convert::parse(short.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(whole, short, "{full}");
        // And serenity's own reading of the full payload (what the gateway client hands rally) agrees.
        let serenity = serde_json::from_value(full.clone()).unwrap();
        assert_eq!(convert::invocation(&serenity).unwrap(), whole, "{full}");
    }
}

#[tokio::test]
async fn an_abridged_interaction_over_the_gateway_is_answered_not_dropped() {
    let t = spawn_app();
    let lb = Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts");
    let mut d = docs_slash_command();
    // The loopback accepts a callback for an interaction it never dispatched if its token is this.
    d["token"] = json!(payload::token(786008729715212338));
    let frame = json!({"op": 0, "s": 7, "t": "INTERACTION_CREATE", "d": d});
    let serenity::model::event::GatewayEvent::Dispatch(_, event) = serde_json::from_value(frame).unwrap() else {
        panic!("a dispatch")
    };
    assert!(
        matches!(event, serenity::model::event::Event::Unknown(_)),
        "serenity cannot read the docs' example, so it would call no handler"
    );
    let interaction = gateway::read_unknown(&event).expect("an interaction").expect("readable");
    let http = rally::discord::http_client("test-token", Some(&lb.url()));
    gateway::answer(&t.app, &http, &interaction, at(NOW), gateway::DEFER_AFTER).await;
    let callback = lb
        .wait_for(
            |r| {
                r.method == "POST"
                    && r.path.ends_with("/interactions/786008729715212338/tok786008729715212338/callback")
            },
            Duration::from_secs(10),
        )
        .await
        .expect("rally answered the interaction");
    let answer = callback.body.unwrap_or_default();
    assert_eq!(answer["type"], 4);
    assert!(answer["data"]["content"].as_str().unwrap_or_default().starts_with("✅ Logged"), "{answer}");
    assert_eq!(t.app.report(id(GUILD), &PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap().members.len(), 1);

    let mut broken = docs_slash_command();
    broken["data"].as_object_mut().unwrap().remove("name");
    let frame = json!({"op": 0, "s": 8, "t": "INTERACTION_CREATE", "d": broken});
    let serenity::model::event::GatewayEvent::Dispatch(_, event) = serde_json::from_value(frame).unwrap() else {
        panic!("a dispatch")
    };
    let why = gateway::read_unknown(&event).expect("an interaction").expect_err("unreadable");
    assert_eq!(why.to_string(), "missing field data.name");
    let other: serenity::model::event::Event = serde_json::from_value(json!({"t": "SOMETHING_NEW", "d": {}})).unwrap();
    assert!(gateway::read_unknown(&other).is_none(), "other events are not interactions");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}
