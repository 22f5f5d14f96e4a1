//! Checks of the loopback against the real serenity 0.12.5 client: its `Http` over REST and its `Client` over the
//! gateway, and its models for everything the loopback answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use serenity::all::{
    ChannelId, Command, CommandInteraction, ComponentInteraction, Context, CreateActionRow, CreateAttachment,
    CreateAutocompleteResponse, CreateButton, CreateCommand, CreateCommandOption, CreateEmbed,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    EditInteractionResponse, EventHandler, GatewayIntents, GuildId, Http, HttpBuilder, Interaction, Message, Nonce,
    PrivateChannel, Ready, RoleId, ShardManager, UserId,
};
use serenity::async_trait;

use super::payload::{self, Member};
use super::*;

const QUICK: Duration = Duration::from_secs(2);

async fn start() -> Loopback {
    let path = openapi_for_tests();
    match Loopback::start(path.as_deref()).await {
        Ok(lb) => lb,
        Err(e) => panic!("the loopback did not start with {path:?}: {e}"),
    }
}

/// Tests of the schema check itself have nothing to test without the schema.
fn validating() -> bool {
    openapi_for_tests().is_some()
}

fn http(lb: &Loopback) -> Arc<Http> {
    let http = HttpBuilder::new("test-token")
        .proxy(lb.url())
        .ratelimiter_disabled(true)
        .application_id(APPLICATION_ID.into())
        .build();
    Arc::new(http)
}

fn assert_clean(lb: &Loopback) {
    assert_eq!(lb.violations(), Vec::<String>::new(), "unexpected violations");
}

fn status_of(err: &serenity::Error) -> Option<u16> {
    match err {
        serenity::Error::Http(e) => e.status_code().map(|s| s.as_u16()),
        _ => None,
    }
}

fn alice() -> Member {
    Member::new(4242, "alice")
}

// ---- REST with serenity's Http ----

#[tokio::test]
async fn serenity_fetches_the_gateway_url_and_the_bot_user() {
    let lb = start().await;
    let http = http(&lb);
    let gateway = http.get_gateway().await.expect("GET /gateway");
    assert_eq!(gateway.url, lb.gateway_url());
    let bot_gateway = http.get_bot_gateway().await.expect("GET /gateway/bot");
    assert_eq!((bot_gateway.url, bot_gateway.shards), (lb.gateway_url(), 1));
    let me = http.get_current_user().await.expect("GET /users/@me");
    assert_eq!(me.id.get(), BOT_USER_ID);
    assert!(me.bot);
    let paths: Vec<String> = lb.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(paths, ["GET /api/v10/gateway", "GET /api/v10/gateway/bot", "GET /api/v10/users/@me"]);
    assert_clean(&lb);
}

#[tokio::test]
async fn a_bulk_overwrite_is_stored_and_answered_with_commands_serenity_parses() {
    let lb = start().await;
    let http = http(&lb);
    let body = json!([
        {
            "name": "log", "type": 1, "description": "Log an activity", "default_member_permissions": "32",
            "contexts": [0], "integration_types": [0],
            "options": [
                {"type": 3, "name": "kind", "description": "What you did", "required": true,
                 "choices": [{"name": "Call", "value": "call"}, {"name": "Demo", "value": "demo"}]},
                {"type": 4, "name": "quantity", "description": "How many", "min_value": 1, "max_value": 1000},
                {"type": 3, "name": "period", "description": "When", "autocomplete": true, "max_length": 40}
            ]
        },
        {"name": "help", "description": "How to use rally"}
    ]);
    let commands = http.create_global_commands(&body).await.expect("bulk overwrite");
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[0].id.get(), payload::command_id("log"));
    assert_eq!(commands[0].options.len(), 3);
    assert_eq!(lb.registered_commands(None), Some(body));

    let guild = http.create_guild_commands(GuildId::new(77), &json!([{"name": "team", "description": "Teams"}])).await;
    let guild = guild.expect("guild bulk overwrite");
    assert_eq!(guild[0].guild_id, Some(GuildId::new(77)));
    assert!(lb.registered_commands(Some(77)).is_some());
    assert_clean(&lb);
}

#[tokio::test]
async fn commands_built_with_serenitys_builders_pass_the_schema() {
    let lb = start().await;
    let http = http(&lb);
    let log = CreateCommand::new("log")
        .description("Log an activity")
        .default_member_permissions(serenity::all::Permissions::MANAGE_GUILD)
        .add_option(
            CreateCommandOption::new(serenity::all::CommandOptionType::String, "kind", "What you did")
                .required(true)
                .add_string_choice("Call", "call"),
        );
    let commands = Command::set_global_commands(&http, vec![log]).await.expect("bulk overwrite");
    assert_eq!(commands[0].name, "log");
    assert_clean(&lb);
}

#[tokio::test]
async fn an_invalid_command_is_refused_and_recorded() {
    if !validating() {
        return;
    }
    let lb = start().await;
    let http = http(&lb);
    let err = http
        .create_global_commands(
            &json!([{"name": "Bad Name!", "description": "x"}, {"name": "ok", "description": "y".repeat(101)}]),
        )
        .await
        .expect_err("Discord refuses these");
    assert_eq!(status_of(&err), Some(400));
    let violations = lb.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("/1/description"), "{violations:?}");
    assert_eq!(lb.registered_commands(None), None);
}

#[tokio::test]
async fn a_channel_message_is_recorded_without_violation() {
    let lb = start().await;
    let http = http(&lb);
    let msg = ChannelId::new(5).say(&http, "hi").await.expect("post");
    assert_eq!(msg.content, "hi");
    assert_eq!(msg.channel_id.get(), 5);
    assert_eq!(msg.author.id.get(), BOT_USER_ID);
    let rich = CreateMessage::new()
        .embed(
            CreateEmbed::new()
                .title("Leaderboard")
                .field("alice", "42 pts", true)
                .timestamp(serenity::all::Timestamp::now()),
        )
        .components(vec![CreateActionRow::Buttons(vec![CreateButton::new("lb:next").label("Next")])]);
    let msg = ChannelId::new(5).send_message(&http, rich).await.expect("post an embed with a button");
    assert_eq!(msg.embeds.len(), 1);
    assert_eq!(msg.components.len(), 1);
    let posted = lb.channel_messages(5);
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0]["content"], "hi");
    let last = lb.requests().pop().expect("recorded");
    assert_eq!((last.method.as_str(), last.path.as_str(), last.status), ("POST", "/api/v10/channels/5/messages", 200));
    assert_clean(&lb);
}

#[tokio::test]
async fn content_over_2000_characters_is_a_violation_answered_400() {
    let lb = start().await;
    let http = http(&lb);
    let err = http
        .send_message(ChannelId::new(5), vec![], &json!({"content": "x".repeat(2001)}))
        .await
        .expect_err("Discord refuses it");
    assert_eq!(status_of(&err), Some(400));
    // serenity parsed Discord's error tree: the field path is in its message.
    assert!(err.to_string().contains("content"), "{err}");
    let violations = lb.violations();
    assert_eq!(violations.len(), 1);
    assert!(violations[0].contains("/content"), "{violations:?}");
    assert!(lb.channel_messages(5).is_empty());
}

#[tokio::test]
async fn an_embed_with_26_fields_is_refused_by_the_schema() {
    if !validating() {
        return;
    }
    let lb = start().await;
    let http = http(&lb);
    let fields: Vec<Value> = (0..26).map(|i| json!({"name": format!("f{i}"), "value": "v"})).collect();
    let err = http
        .send_message(ChannelId::new(5), vec![], &json!({"embeds": [{"title": "t", "fields": fields}]}))
        .await
        .expect_err("Discord refuses it");
    assert_eq!(status_of(&err), Some(400));
    assert!(err.to_string().contains("embeds.0.fields"), "{err}");
    assert!(lb.violations()[0].contains("/embeds/0/fields"), "{:?}", lb.violations());
}

#[tokio::test]
async fn an_empty_message_is_refused() {
    let lb = start().await;
    let http = http(&lb);
    let err = http.send_message(ChannelId::new(5), vec![], &json!({"content": ""})).await.expect_err("empty");
    assert_eq!(status_of(&err), Some(400));
    assert!(lb.violations()[0].contains("empty message"));
}

#[tokio::test]
async fn an_unknown_route_is_a_violation_answered_404() {
    let lb = start().await;
    let http = http(&lb);
    let err = http.get_channel(ChannelId::new(5)).await.expect_err("not served");
    assert_eq!(status_of(&err), Some(404));
    assert_eq!(lb.violations(), ["unknown route GET /api/v10/channels/5"]);
    assert_eq!(lb.requests()[0].status, 404);
}

#[tokio::test]
async fn a_malformed_body_is_a_violation() {
    let lb = start().await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/api/v10/channels/5/messages", lb.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    assert!(lb.violations()[0].starts_with("malformed body on POST /channels/{channel_id}/messages"));
}

#[tokio::test]
async fn enforce_nonce_returns_the_earlier_message_instead_of_posting_twice() {
    let lb = start().await;
    let http = http(&lb);
    let post = || CreateMessage::new().content("standings").nonce(Nonce::String("slot-1".into())).enforce_nonce(true);
    let first = ChannelId::new(9).send_message(&http, post()).await.expect("first");
    let again = ChannelId::new(9).send_message(&http, post()).await.expect("retry");
    assert_eq!(first.id, again.id);
    assert_eq!(lb.channel_messages(9).len(), 1);
    // Without enforce_nonce Discord posts again.
    ChannelId::new(9)
        .send_message(&http, CreateMessage::new().content("standings").nonce(Nonce::String("slot-1".into())))
        .await
        .expect("third");
    assert_eq!(lb.channel_messages(9).len(), 2);
    assert_clean(&lb);
}

#[tokio::test]
async fn a_dm_is_opened_and_its_messages_are_found_by_user() {
    let lb = start().await;
    let http = http(&lb);
    let dm: PrivateChannel = UserId::new(4242).create_dm_channel(&http).await.expect("open DM");
    assert_eq!(dm.recipient.id.get(), 4242);
    dm.say(&http, "You are 3 calls behind pace").await.expect("DM");
    let again = UserId::new(4242).create_dm_channel(&http).await.expect("reopen DM");
    assert_eq!(again.id, dm.id, "Discord returns the same DM channel");
    assert_eq!(lb.dm_messages(4242).len(), 1);
    assert_eq!(lb.dm_messages(4242)[0]["content"], "You are 3 calls behind pace");
    assert_eq!(lb.dm_channel(4242), Some(dm.id.get()));
    assert_clean(&lb);
}

#[tokio::test]
async fn a_multipart_message_records_payload_json_and_files() {
    let lb = start().await;
    let http = http(&lb);
    let csv = CreateAttachment::bytes(b"kind,qty\ncall,3\n".to_vec(), "activities.csv");
    let msg = ChannelId::new(5)
        .send_message(&http, CreateMessage::new().content("export").add_file(csv))
        .await
        .expect("post with a file");
    assert_eq!(msg.attachments.len(), 1);
    assert_eq!(msg.attachments[0].filename, "activities.csv");
    let recorded = lb.requests().pop().expect("recorded");
    assert_eq!(recorded.files, vec![("activities.csv".to_string(), b"kind,qty\ncall,3\n".to_vec())]);
    assert_eq!(recorded.body.as_ref().and_then(|b| b.get("content")), Some(&json!("export")));
    assert_eq!(lb.channel_messages(5)[0]["content"], "export");
    assert_clean(&lb);
}

#[tokio::test]
async fn member_roles_are_added_and_removed() {
    let lb = start().await;
    let http = http(&lb);
    http.add_member_role(GuildId::new(1), UserId::new(2), RoleId::new(3), Some("top closer")).await.expect("add");
    http.add_member_role(GuildId::new(1), UserId::new(2), RoleId::new(4), None).await.expect("add");
    http.remove_member_role(GuildId::new(1), UserId::new(2), RoleId::new(3), None).await.expect("remove");
    assert_eq!(lb.member_roles(1, 2), vec![4]);
    assert_clean(&lb);
}

#[tokio::test]
async fn a_modelled_guild_lists_its_roles_and_refuses_changes_above_the_bots_highest_role() {
    let lb = start().await;
    let http = http(&lb);
    let role = |id: u64, position: u16, managed: bool, manage_roles: bool| GuildRole {
        id,
        name: format!("role{id}"),
        position,
        managed,
        manage_roles,
    };
    lb.set_guild_roles(1, &[role(10, 4, true, true), role(11, 2, false, false), role(12, 6, false, false)], &[10]);
    let roles = http.get_guild_roles(GuildId::new(1)).await.expect("the roles parse as serenity's Role");
    let positions: Vec<(u64, u16, bool)> = roles.iter().map(|r| (r.id.get(), r.position, r.managed)).collect();
    assert_eq!(positions, vec![(1, 0, false), (10, 4, true), (11, 2, false), (12, 6, false)]);
    let bot = http.get_member(GuildId::new(1), UserId::new(BOT_USER_ID)).await.expect("the bot's member parses");
    assert_eq!(bot.roles, vec![RoleId::new(10)]);
    http.add_member_role(GuildId::new(1), UserId::new(2), RoleId::new(11), None).await.expect("below the bot's role");
    let above = http.add_member_role(GuildId::new(1), UserId::new(2), RoleId::new(12), None).await;
    assert_eq!(above.as_ref().err().and_then(status_of), Some(403), "{above:?}");
    assert_eq!(lb.member_roles(1, 2), vec![11]);
    assert_clean(&lb);
}

#[tokio::test]
async fn injected_failures_hit_the_next_matching_requests_only() {
    let lb = start().await;
    let http = http(&lb);
    lb.fail_next("/channels/5/messages", 500, 1);
    let err = ChannelId::new(5).say(&http, "a").await.expect_err("injected 500");
    assert_eq!(status_of(&err), Some(500));
    ChannelId::new(5).say(&http, "b").await.expect("the next one goes through");
    assert_eq!(lb.channel_messages(5).len(), 1);

    lb.fail_next("/channels/6/", 429, 1);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v10/channels/6/messages", lb.url()))
        .json(&json!({"content": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("0.05"));
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["retry_after"], 0.05);
    assert_eq!(body["global"], false);
    assert_clean(&lb);
}

#[tokio::test]
async fn an_invalid_interaction_callback_reports_the_closest_response_type() {
    if !validating() {
        return;
    }
    let lb = start().await;
    let http = http(&lb);
    let body = json!({"type": 4, "data": {"content": "x", "embeds": [{"title": "t".repeat(300)}]}});
    let err = http.create_interaction_response(7.into(), &payload::token(7), &body, vec![]).await.expect_err("400");
    assert_eq!(status_of(&err), Some(400));
    let violations = lb.violations();
    assert!(violations[0].contains("/data/embeds/0/title"), "{violations:?}");
}

#[tokio::test]
async fn a_callback_for_an_interaction_never_sent_is_refused() {
    let lb = start().await;
    let http = http(&lb);
    let body = json!({"type": 4, "data": {"content": "hi"}});
    let err = http.create_interaction_response(7.into(), "forged", &body, vec![]).await.expect_err("404");
    assert_eq!(status_of(&err), Some(404));
    assert!(lb.violations()[0].contains("unknown interaction 7"));
}

// ---- objects and payloads fit serenity's models ----

#[test]
fn every_payload_builder_yields_an_interaction_serenity_parses() {
    let m = alice();
    let options = json!([{"name": "kind", "type": 3, "value": "call"}, {"name": "rep", "type": 6, "value": "99"}]);
    let parsed: Interaction = serde_json::from_value(payload::command(11, 1, 2, &m, "log", options)).expect("command");
    let Interaction::Command(cmd) = parsed else { panic!("not a command") };
    assert_eq!(cmd.data.name, "log");
    assert_eq!(cmd.data.id.get(), payload::command_id("log"));
    assert_eq!(cmd.member.as_ref().map(|m| m.user.id.get()), Some(4242));
    assert!(cmd.data.resolved.users.contains_key(&UserId::new(99)));

    let auto = payload::autocomplete(12, 1, 2, &m, "log", json!([{"name": "period", "type": 3, "value": "th"}]));
    let Ok(Interaction::Autocomplete(auto)) = serde_json::from_value(auto) else { panic!("not autocomplete") };
    assert_eq!(auto.data.autocomplete().map(|a| a.value), Some("th"));

    let button = serde_json::from_value(payload::button(13, 1, 2, &m, "undo:5"));
    let Ok(Interaction::Component(button)) = button else { panic!("not a component: {button:?}") };
    assert_eq!(button.data.custom_id, "undo:5");

    assert!(matches!(serde_json::from_value(payload::ping(14)), Ok(Interaction::Ping(_))));
    let dm = serde_json::from_value(payload::dm_command(15, 3, 4242, "alice", "me", json!([])));
    let Ok(Interaction::Command(dm)) = dm else { panic!("not a DM command: {dm:?}") };
    assert_eq!(dm.user.id.get(), 4242);
    assert!(dm.guild_id.is_none());
}

#[test]
fn answered_objects_fit_serenitys_models() {
    let body = json!({
        "content": "hi",
        "embeds": [{"title": "t", "fields": [{"name": "a", "value": "b", "inline": true}], "color": 3447003}],
        "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Next", "custom_id": "n"}]}],
        "nonce": "n1",
    });
    let files = vec![("a.csv".to_string(), b"x".to_vec())];
    for origin in [objects::Origin::Channel, objects::Origin::Interaction] {
        let msg = objects::message(10, 5, origin, &body, &files, 11, "http://127.0.0.1:1");
        let parsed: Message = serde_json::from_value(msg.clone()).expect("a Message");
        assert_eq!(parsed.embeds.len(), 1, "embeds survive: {msg}");
        assert_eq!(parsed.components.len(), 1, "components survive: {msg}");
        assert_eq!(parsed.attachments[0].size, 1);
    }
    let commands = json!([objects::command(
        5,
        Some(1),
        &json!({"name": "x", "description": "y", "default_member_permissions": 8})
    )]);
    let parsed: Vec<Command> = serde_json::from_value(commands).expect("commands");
    assert_eq!(parsed[0].default_member_permissions, Some(serenity::all::Permissions::ADMINISTRATOR));
    let _: PrivateChannel = serde_json::from_value(objects::dm_channel(3, 4)).expect("a PrivateChannel");
    let _: serenity::model::user::CurrentUser = serde_json::from_value(objects::bot_user()).expect("a CurrentUser");
}

#[tokio::test]
async fn a_payload_serenity_would_drop_is_refused_before_dispatch() {
    let lb = start().await;
    let mut bad = payload::command(1, 1, 2, &alice(), "log", json!([]));
    if let Some(obj) = bad.as_object_mut() {
        obj.remove("locale");
    }
    assert!(matches!(lb.interact(bad, QUICK).await, Err(LoopbackError::BadPayload(_))));
    let good = payload::command(1, 1, 2, &alice(), "log", json!([]));
    assert!(matches!(lb.interact(good, QUICK).await, Err(LoopbackError::NoSession)));
}

// ---- the gateway with serenity's Client ----

#[derive(Default)]
struct Bot {
    ready: AtomicUsize,
    commands: AtomicUsize,
}

struct Handler(Arc<Bot>);

async fn answer_command(ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    match cmd.data.name.as_str() {
        "slow" => {
            tokio::time::sleep(Duration::from_millis(120)).await;
            let reply = CreateInteractionResponseMessage::new().content("late");
            cmd.create_response(&ctx.http, CreateInteractionResponse::Message(reply)).await
        }
        "report" => {
            cmd.defer(&ctx.http).await?;
            cmd.edit_response(&ctx.http, EditInteractionResponse::new().content("report ready")).await?;
            let csv = CreateAttachment::bytes(b"a,b\n".to_vec(), "report.csv");
            cmd.create_followup(&ctx.http, CreateInteractionResponseFollowup::new().content("file").add_file(csv))
                .await?;
            Ok(())
        }
        name => {
            let reply = CreateInteractionResponseMessage::new().content(format!("pong from {name}")).ephemeral(true);
            cmd.create_response(&ctx.http, CreateInteractionResponse::Message(reply)).await?;
            // Answering twice is a bug Discord refuses; the test for it sends "twice".
            if name == "twice" {
                let again = CreateInteractionResponseMessage::new().content("again");
                let _ = cmd.create_response(&ctx.http, CreateInteractionResponse::Message(again)).await;
            }
            Ok(())
        }
    }
}

async fn answer_component(ctx: &Context, press: &ComponentInteraction) -> serenity::Result<()> {
    let reply = CreateInteractionResponseMessage::new().content(format!("pressed {}", press.data.custom_id));
    press.create_response(&ctx.http, CreateInteractionResponse::UpdateMessage(reply)).await
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, _: Ready) {
        self.0.ready.fetch_add(1, Ordering::SeqCst);
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let result = match &interaction {
            Interaction::Command(cmd) => {
                self.0.commands.fetch_add(1, Ordering::SeqCst);
                answer_command(&ctx, cmd).await
            }
            Interaction::Autocomplete(auto) => {
                let choices = CreateAutocompleteResponse::new().add_string_choice("this week", "this-week");
                auto.create_response(&ctx.http, CreateInteractionResponse::Autocomplete(choices)).await
            }
            Interaction::Component(press) => answer_component(&ctx, press).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!("test handler failed: {e}");
        }
    }
}

/// Starts a real serenity client against the loopback and waits for READY.
async fn spawn_bot(lb: &Loopback) -> (Arc<Bot>, Arc<ShardManager>) {
    let bot = Arc::new(Bot::default());
    let http = HttpBuilder::new("test-token").proxy(lb.url()).ratelimiter_disabled(true).build();
    let builder =
        serenity::all::ClientBuilder::new_with_http(http, GatewayIntents::empty()).event_handler(Handler(bot.clone()));
    let mut client = builder.await.expect("client");
    let manager = client.shard_manager.clone();
    tokio::spawn(async move {
        if let Err(e) = client.start().await {
            tracing::warn!("test client ended: {e}");
        }
    });
    lb.wait_ready(QUICK).await.expect("READY");
    (bot, manager)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_client_reaches_ready_and_its_answers_resolve_interact() {
    let lb = start().await;
    let (bot, manager) = spawn_bot(&lb).await;
    let m = alice();
    let answer = lb.interact(payload::command(101, 1, 2, &m, "kpi", json!([])), QUICK).await.expect("answered");
    assert_eq!(answer.body["type"], 4);
    assert_eq!(answer.body["data"]["content"], "pong from kpi");
    assert_eq!(answer.body["data"]["flags"], 64);
    assert!(answer.elapsed < QUICK);
    assert_eq!(bot.commands.load(Ordering::SeqCst), 1, "the handler ran");
    assert!(bot.ready.load(Ordering::SeqCst) >= 1);
    assert_eq!(lb.original_response(&payload::token(101)).map(|m| m["content"].clone()), Some(json!("pong from kpi")));

    let auto = payload::autocomplete(102, 1, 2, &m, "log", json!([{"name": "period", "type": 3, "value": "th"}]));
    let answer = lb.interact(auto, QUICK).await.expect("autocomplete answered");
    assert_eq!(answer.body, json!({"type": 8, "data": {"choices": [{"name": "this week", "value": "this-week"}]}}));

    let answer = lb.interact(payload::button(103, 1, 2, &m, "lb:next"), QUICK).await.expect("button answered");
    assert_eq!(answer.body["type"], 7);
    assert_eq!(answer.body["data"]["content"], "pressed lb:next");

    let identify = &lb.identifies()[0];
    assert_eq!(identify["token"], "<redacted>");
    assert_eq!(identify["intents"], 0);
    assert_clean(&lb);
    manager.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_reply_is_edited_and_followed_up() {
    let lb = start().await;
    let (_bot, manager) = spawn_bot(&lb).await;
    let answer =
        lb.interact(payload::command(201, 1, 2, &alice(), "report", json!([])), QUICK).await.expect("deferred");
    assert_eq!(answer.body["type"], 5);
    let token = payload::token(201);
    let followup = format!("/api/v10/webhooks/{APPLICATION_ID}/{token}");
    let posted = lb.wait_for(|r| r.method == "POST" && r.path == followup, QUICK).await.expect("a follow-up");
    assert_eq!(posted.files[0].0, "report.csv");
    let original = lb.original_response(&token).expect("an original response");
    assert_eq!(original["content"], "report ready");
    assert_eq!(original["flags"], 0, "the edit ends the deferred reply's loading state");
    assert_eq!(lb.followups(&token).len(), 1);
    assert_clean(&lb);
    manager.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_twice_or_too_late_is_a_violation() {
    let lb = start().await;
    let (_bot, manager) = spawn_bot(&lb).await;
    lb.interact(payload::command(301, 1, 2, &alice(), "twice", json!([])), QUICK).await.expect("first answer");
    let twice = lb.wait_for(|r| r.status == 400, QUICK).await.expect("the second callback");
    assert!(twice.path.contains("/interactions/301/"));
    assert!(lb.violations()[0].contains("already acknowledged"), "{:?}", lb.violations());

    lb.set_interaction_deadline(Duration::from_millis(50));
    let late = lb.interact(payload::command(302, 1, 2, &alice(), "slow", json!([])), QUICK).await.expect("answered");
    assert!(late.elapsed >= Duration::from_millis(100));
    assert!(lb.violations().iter().any(|v| v.contains("interaction 302 answered after")), "{:?}", lb.violations());
    manager.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_bot_gets_a_new_session_and_interactions_reach_it() {
    let lb = start().await;
    let (first, manager) = spawn_bot(&lb).await;
    manager.shutdown_all().await;
    let deadline = std::time::Instant::now() + QUICK;
    while lb.wait_ready(Duration::ZERO).await.is_ok() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (second, manager) = spawn_bot(&lb).await;
    lb.interact(payload::command(401, 1, 2, &alice(), "kpi", json!([])), QUICK).await.expect("answered");
    assert_eq!(first.commands.load(Ordering::SeqCst), 0);
    assert_eq!(second.commands.load(Ordering::SeqCst), 1);
    assert_eq!(lb.identifies().len(), 2);
    manager.shutdown_all().await;
}

#[tokio::test]
async fn a_missing_openapi_file_is_an_error_but_none_disables_validation() {
    let missing = std::path::Path::new("/nonexistent/openapi.json");
    assert!(Loopback::start(Some(missing)).await.is_err());
    let lb = Loopback::start(None).await.expect("starts without a description");
    let http = http(&lb);
    let fields: Vec<Value> = (0..26).map(|i| json!({"name": format!("f{i}"), "value": "v"})).collect();
    http.send_message(ChannelId::new(5), vec![], &json!({"embeds": [{"title": "t", "fields": fields}]}))
        .await
        .expect("no schema, so Discord's description is not consulted");
    // Discord's limits beyond the description still hold.
    let long = http.send_message(ChannelId::new(5), vec![], &json!({"content": "x".repeat(2001)})).await;
    assert_eq!(long.as_ref().err().and_then(status_of), Some(400));
    assert_eq!(lb.violations().len(), 1);
}

#[tokio::test]
async fn after_shutdown_the_port_is_closed() {
    let lb = start().await;
    let http = http(&lb);
    http.get_gateway().await.expect("served while running");
    lb.shutdown().await;
    assert!(http.get_gateway().await.is_err());
}

// ---- sharding ----

/// A guild id whose events Discord routes to `shard` of `total`: `(id >> 22) % total == shard`.
fn guild_on(shard: u32, total: u32) -> u64 {
    ((1_000_000 * u64::from(total) + u64::from(shard)) << 22) | 1
}

/// A real serenity client running shard `shard` of `total` (no wait: a test waits for the shards it needs).
async fn spawn_shard(lb: &Loopback, shard: u32, total: u32) -> (Arc<Bot>, Arc<ShardManager>) {
    let bot = Arc::new(Bot::default());
    let http = HttpBuilder::new("test-token").proxy(lb.url()).ratelimiter_disabled(true).build();
    let builder =
        serenity::all::ClientBuilder::new_with_http(http, GatewayIntents::empty()).event_handler(Handler(bot.clone()));
    let mut client = builder.await.expect("client");
    let manager = client.shard_manager.clone();
    tokio::spawn(async move {
        if let Err(e) = client.start_shard(shard, total).await {
            tracing::warn!("test client ended: {e}");
        }
    });
    (bot, manager)
}

/// Connects a bare websocket, sends `identify` as IDENTIFY's `d`, and returns the close code the gateway
/// ended the connection with, or `None` when it answered READY instead.
async fn identify_raw(lb: &Loopback, identify: Value) -> Option<u16> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}/?v=10", lb.gateway_url())).await.expect("the gateway accepts");
    ws.send(Ws::text(json!({"op": 2, "d": identify}).to_string())).await.expect("IDENTIFY sent");
    loop {
        match tokio::time::timeout(QUICK, ws.next()).await.expect("an answer in time") {
            Some(Ok(Ws::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(Ws::Text(text))) if text.contains("\"READY\"") => return None,
            Some(Ok(_)) => {}
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    }
}

#[test]
fn discords_formula_puts_a_guild_on_shard_its_id_shifted_22_modulo_the_total() {
    // serenity's documented example: guild 81384788765712384 lives on shard 7 of 17.
    assert_eq!(shard_of(Some(81_384_788_765_712_384), 17), 7);
    assert_eq!(shard_of(Some(81_384_788_765_712_384), 1), 0);
    assert_eq!(shard_of(None, 17), 0, "events without a guild go to shard 0");
    assert_eq!(shard_of(Some(u64::MAX), 0), 0, "a total of 0 cannot divide by zero");
    for shard in 0..5 {
        assert_eq!(shard_of(Some(guild_on(shard, 5)), 5), shard);
    }
}

#[test]
fn identify_without_a_shard_is_shard_0_of_1_and_a_bad_pair_is_refused() {
    use super::gateway::identify_shard;
    assert_eq!(identify_shard(&json!({"token": "t"})), Ok([0, 1]));
    assert_eq!(identify_shard(&json!({"shard": [2, 3]})), Ok([2, 3]));
    for bad in [
        json!([3, 3]),
        json!([0, 0]),
        json!([1]),
        json!([0, 1, 2]),
        json!("0,1"),
        json!([-1, 3]),
        json!([0.5, 2]),
        json!([0, 2_147_483_648_u64]),
        json!(null),
    ] {
        assert!(identify_shard(&json!({"shard": bad})).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn get_gateway_bot_recommends_the_configured_shard_count() {
    let lb = start().await;
    lb.set_recommended_shards(3);
    let bot_gateway = http(&lb).get_bot_gateway().await.expect("GET /gateway/bot");
    assert_eq!(bot_gateway.shards, 3);
    lb.set_recommended_shards(0);
    assert_eq!(http(&lb).get_bot_gateway().await.expect("GET /gateway/bot").shards, 1, "never 0, as Discord");
    assert_clean(&lb);
}

#[tokio::test]
async fn an_invalid_shard_is_closed_with_4010_and_too_few_shards_with_4011() {
    let lb = start().await;
    let identify = |shard: Value| json!({"token": "t", "intents": 0, "properties": {}, "shard": shard});
    assert_eq!(identify_raw(&lb, identify(json!([3, 3]))).await, Some(4010), "shard ids run from 0 to 2");
    assert_eq!(identify_raw(&lb, identify(json!([0, 0]))).await, Some(4010));
    assert_eq!(identify_raw(&lb, identify(json!(["0", "1"]))).await, Some(4010));
    assert_eq!(identify_raw(&lb, identify(json!([0, 1]))).await, None, "one shard is fine while not required");
    lb.set_required_shards(2);
    assert_eq!(identify_raw(&lb, json!({"token": "t", "intents": 0, "properties": {}})).await, Some(4011));
    assert_eq!(identify_raw(&lb, identify(json!([0, 1]))).await, Some(4011));
    assert_eq!(identify_raw(&lb, identify(json!([1, 2]))).await, None);
    assert_eq!(lb.close_codes(), [4010, 4010, 4010, 4011, 4011]);
    let violations = lb.violations();
    assert_eq!(violations.len(), 5, "{violations:?}");
    assert!(violations[0].contains("invalid shard") && violations[3].contains("4011"), "{violations:?}");
    assert_eq!(lb.identifies().len(), 7, "refused IDENTIFYs are recorded too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_guilds_interactions_reach_only_the_session_of_its_shard() {
    let lb = start().await;
    let mut bots = Vec::new();
    for shard in 0..3 {
        bots.push(spawn_shard(&lb, shard, 3).await);
    }
    lb.wait_shards(&[[0, 3], [1, 3], [2, 3]], QUICK).await.expect("three shards identify");
    let m = alice();
    for shard in 0..3u32 {
        let id = 600 + u64::from(shard);
        let answer = lb.interact(payload::command(id, guild_on(shard, 3), 2, &m, "kpi", json!([])), QUICK).await;
        let answer = answer.expect("answered");
        assert_eq!(answer.shard, Some([shard, 3]));
        assert_eq!(answer.body["data"]["content"], "pong from kpi");
    }
    // A DM has no guild: shard 0 gets it.
    let dm = lb.interact(payload::dm_command(610, 3, 4242, "alice", "me", json!([])), QUICK).await.expect("answered");
    assert_eq!(dm.shard, Some([0, 3]));
    let handled: Vec<usize> = bots.iter().map(|(bot, _)| bot.commands.load(Ordering::SeqCst)).collect();
    assert_eq!(handled, [2, 1, 1], "each shard's client ran the handler for its own guild only");
    let identified: Vec<Value> = lb.identifies().iter().map(|i| i["shard"].clone()).collect();
    for shard in 0..3 {
        assert!(identified.contains(&json!([shard, 3])), "{identified:?}");
    }
    assert_clean(&lb);
    for (_, manager) in bots {
        manager.shutdown_all().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interaction_for_a_shard_nobody_runs_is_not_delivered() {
    let lb = start().await;
    let (bot, manager) = spawn_shard(&lb, 0, 2).await;
    lb.wait_shards(&[[0, 2]], QUICK).await.expect("shard 0 identifies");
    let missing = lb.interact(payload::command(701, guild_on(1, 2), 2, &alice(), "kpi", json!([])), QUICK).await;
    assert!(matches!(&missing, Err(LoopbackError::NoShard(why)) if why.contains("[[0, 2]]")), "{missing:?}");
    let answer = lb.interact(payload::command(702, guild_on(0, 2), 2, &alice(), "kpi", json!([])), QUICK).await;
    assert_eq!(answer.expect("answered").shard, Some([0, 2]));
    assert_eq!(bot.commands.load(Ordering::SeqCst), 1);
    assert_clean(&lb);
    manager.shutdown_all().await;
}
