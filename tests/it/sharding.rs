//! Gateway sharding end to end: the real `rally run` against a loopback Discord that routes each
//! guild's interactions over the shard Discord's formula gives it, `(guild_id >> 22) % num_shards`.
//! serenity waits 5 s between two IDENTIFYs of one process, so a process with three shards needs
//! about 10 s to connect them all.

use std::process::{Command, Stdio};
use std::time::Duration;

use rally::domain::period::PeriodSpec;
use rally::loopback::{Loopback, Recorded};

use crate::e2e::{Bot, NOW, WAIT, command_in, content, loopback, rep};
use crate::helpers::*;

/// Long enough for serenity to boot three shards 5 s apart on a busy machine.
const SHARDS_UP: Duration = Duration::from_secs(60);

/// A guild id whose events Discord routes to `shard` of `total`: `(id >> 22) % total == shard`.
fn guild_on(shard: u32, total: u32) -> u64 {
    ((1_000_000 * u64::from(total) + u64::from(shard)) << 22) | 1
}

/// Starts `rally run` on its own database with these extra arguments and environment; it registers
/// commands globally (no `--dev-guild`), as in production.
fn rally_run(lb: &Loopback, db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Bot {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rally"));
    cmd.args(["--db", &db.arg(), "--now", NOW, "run"])
        .args(args)
        .env("DISCORD_TOKEN", "test-token")
        .env("RALLY_DISCORD_API", lb.url())
        .env_remove("RALLY_SHARDS")
        .env_remove("RALLY_TOTAL_SHARDS")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Bot::new(cmd.spawn().expect("start rally run"))
}

/// Points `user` has this week in `guild`, as the database at `db` holds them.
async fn points_in(db: &TestDb, guild: u64, user: u64) -> i64 {
    let app = db.app();
    let r = app.report(id(guild), &PeriodSpec::ThisWeek, None, at(NOW)).await.unwrap();
    r.members.iter().find(|m| m.user_id == user.to_string()).map_or(0, |m| m.points)
}

fn callbacks_of(lb: &Loopback, interaction: u64) -> Vec<Recorded> {
    let prefix = format!("/api/v10/interactions/{interaction}/");
    lb.requests().into_iter().filter(|r| r.method == "POST" && r.path.starts_with(&prefix)).collect()
}

fn global_registrations(lb: &Loopback) -> usize {
    lb.requests().iter().filter(|r| r.method == "PUT" && r.path.ends_with("/commands")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_rally_run_connects_discords_recommended_shards_and_answers_guilds_on_each() {
    let lb = loopback().await;
    lb.set_recommended_shards(3);
    let db = TestDb::new();
    let _bot = rally_run(&lb, &db, &[], &[]);
    lb.wait_shards(&[[0, 3], [1, 3], [2, 3]], SHARDS_UP).await.expect("three shards identify");
    let asked = lb.requests().iter().filter(|r| r.method == "GET" && r.path == "/api/v10/gateway/bot").count();
    assert_eq!(asked, 1, "the recommended count comes from GET /gateway/bot");

    for shard in 0..3u32 {
        let guild = guild_on(shard, 3);
        let interaction = 10 + u64::from(shard);
        let answer = lb.interact(command_in(guild, interaction, &rep(42), "/log kind:call count:2"), WAIT).await;
        let answer = answer.unwrap_or_else(|e| panic!("guild on shard {shard}: {e}"));
        assert_eq!(answer.shard, Some([shard, 3]), "sent over the shard that owns the guild");
        assert!(content(&answer.body).starts_with("✅ Logged **2 × call**"), "{}", answer.body);
        assert_eq!(points_in(&db, guild, 42).await, 2, "guild on shard {shard}");
    }
    let identified: Vec<serde_json::Value> = lb.identifies().iter().map(|i| i["shard"].clone()).collect();
    assert_eq!(identified, [serde_json::json!([0, 3]), serde_json::json!([1, 3]), serde_json::json!([2, 3])]);
    assert_eq!(global_registrations(&lb), 1, "three READYs, one bulk overwrite");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_shard_ranges_answer_every_guild_once_each_its_own() {
    let lb = loopback().await;
    lb.set_recommended_shards(3);
    // A database each, so what each process answered shows in its own.
    let (db_low, db_high) = (TestDb::new(), TestDb::new());
    let _low = rally_run(&lb, &db_low, &["--shards", "0-1", "--total", "3"], &[]);
    let _high = rally_run(&lb, &db_high, &[], &[("RALLY_SHARDS", "2"), ("RALLY_TOTAL_SHARDS", "3")]);
    lb.wait_shards(&[[0, 3], [1, 3], [2, 3]], SHARDS_UP).await.expect("three shards identify across two processes");
    assert_eq!(lb.identifies().len(), 3, "each shard identified once: serenity's range end is inclusive");

    for shard in 0..3u32 {
        let guild = guild_on(shard, 3);
        let interaction = 20 + u64::from(shard);
        let answer = lb.interact(command_in(guild, interaction, &rep(42), "/log kind:demo"), WAIT).await;
        let answer = answer.unwrap_or_else(|e| panic!("guild on shard {shard}: {e}"));
        assert_eq!(answer.shard, Some([shard, 3]));
        assert!(content(&answer.body).starts_with("✅ Logged **1 × demo**"), "{}", answer.body);
    }
    // Each interaction answered exactly once, and logged only by the process that runs its shard.
    for shard in 0..3u32 {
        let guild = guild_on(shard, 3);
        let callbacks = callbacks_of(&lb, 20 + u64::from(shard));
        assert_eq!(callbacks.len(), 1, "shard {shard}: {callbacks:?}");
        let (low, high) = (points_in(&db_low, guild, 42).await, points_in(&db_high, guild, 42).await);
        let expected = if shard < 2 { (5, 0) } else { (0, 5) };
        assert_eq!((low, high), expected, "points in the 0-1 and the 2 process for the guild on shard {shard}");
    }
    assert_eq!(global_registrations(&lb), 2, "one bulk overwrite per process, not per shard");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}
