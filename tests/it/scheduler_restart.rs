//! Issue 6, scheduler restart: the real `rally run` process is killed (SIGKILL) between recording a
//! slot and delivering its post, restarted on the same database, and the loopback Discord counts
//! the post once. `scheduler.rs` shows the same at the store level; here it is a real crash.
//!
//! Time: the database is set up with `--now` before the 09:00 UTC slot, and each `rally run` starts
//! its clock (`--now`, running forward in real time) a little after it, inside the 2 h grace window.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::helpers::{Cell, TestDb};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rally::loopback::{Loopback, Recorded, openapi_for_tests};

const GUILD: u64 = 700_000_000_000_000_101;
const CHANNEL: u64 = 555;
/// When the schedule is set up: an hour before the slot.
const SETUP: &str = "2026-11-27T08:00:00Z";
/// The slot: daily 09:00 in the guild's timezone (UTC, the default).
const SLOT: &str = "2026-11-27T09:00:00Z";
/// The first run starts just after the slot …
const FIRST_RUN: &str = "2026-11-27T09:00:30Z";
/// … the restart a few minutes later, still well inside the grace window.
const RESTART: &str = "2026-11-27T09:05:00Z";
/// Generous: the machine is slow and shared. Only ever a bound on polling, never an assertion.
const WAIT: Duration = Duration::from_secs(60);

/// A running `rally run`, killed with SIGKILL when dropped (a failing test included); its stderr
/// goes to a file that failure messages quote.
struct Rally {
    child: Child,
    log: PathBuf,
}

impl Rally {
    /// `kill -9`: no shutdown path runs, as in a crash or an OOM kill.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL rally run");
        self.child.wait().expect("reap rally run");
    }

    fn log(&self) -> String {
        read_log(&self.log)
    }

    /// Fails the test with the process's log if it exited on its own.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("poll rally run") {
            panic!("rally run exited early ({status}):\n{}", self.log());
        }
    }
}

impl Drop for Rally {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Starts the real `rally run` (gateway client and scheduler) against the loopback.
fn rally_run(lb: &Loopback, db: &TestDb, now: &str, log: PathBuf) -> Rally {
    let child = Command::new(env!("CARGO_BIN_EXE_rally"))
        .arg("--db")
        .arg(db.arg())
        .args(["--now", now, "run", "--dev-guild", &GUILD.to_string()])
        .env_remove("RALLY_DB")
        .env("DISCORD_TOKEN", "test-token")
        .env("RALLY_DISCORD_API", lb.url())
        .env("RALLY_LOG", "warn,rally=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"))
        .spawn()
        .expect("start rally run");
    Rally { child, log }
}

/// One offline command through `rally exec`, as a manager, at `SETUP`.
fn exec(db: &TestDb, user: u64, line: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_rally"))
        .arg("--db")
        .arg(db.arg())
        .args(["--now", SETUP, "exec", "--guild", &GUILD.to_string(), "--user", &user.to_string()])
        .args(["--roles", "manager", line])
        .env_remove("RALLY_DB")
        .output()
        .expect("run rally exec");
    assert!(o.status.success(), "{line}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

/// A guild with some activity and a daily 09:00 leaderboard in channel 555.
fn guild_with_a_daily_leaderboard(db: &TestDb) {
    exec(db, 42, "/log kind:call count:3");
    exec(db, 43, "/log kind:demo count:2");
    exec(db, 9, &format!("/schedule add what:leaderboard channel:<#{CHANNEL}> at:\"daily 09:00\""));
}

async fn loopback() -> Loopback {
    Loopback::start(openapi_for_tests().as_deref()).await.expect("loopback starts")
}

fn posts_path() -> String {
    format!("/channels/{CHANNEL}/messages")
}

/// The bot's attempts at posting to the channel, in order (drain requests are GETs, not counted).
fn post_attempts(lb: &Loopback) -> Vec<Recorded> {
    lb.requests().into_iter().filter(|r| r.method == "POST" && r.path.ends_with(&posts_path())).collect()
}

/// Polls `done` every 50 ms until it holds; panics with `what` and the process's log after `WAIT`.
async fn wait_until(rally: &mut Rally, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        rally.assert_running();
        assert!(Instant::now() < deadline, "timed out waiting for {what}; rally run said:\n{}", rally.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The outbox row of the slot's post, as the database has it.
#[derive(Debug, Clone, PartialEq)]
struct OutboxRow {
    nonce: String,
    attempts: i64,
    delivered_at: Option<i64>,
    message_id: Option<i64>,
    failed_at: Option<i64>,
}

/// What the database says: the recorded slots `(slot_at ms, outcome)` and the channel's outbox rows.
/// A fresh connection each time (on SQLite a normal one, so that it may recover the WAL a killed
/// process left behind).
fn db_state(db: &TestDb) -> (Vec<(i64, String)>, Vec<OutboxRow>) {
    let slots = db
        .raw_query("SELECT slot_at, outcome FROM schedule_slots ORDER BY slot_at", &[])
        .into_iter()
        .map(|r| (r[0].int().expect("slot_at"), r[1].text().expect("outcome").to_owned()))
        .collect();
    let rows = db
        .raw_query(
            "SELECT nonce, attempts, delivered_at, message_id, failed_at FROM outbox WHERE channel_id = ?1 ORDER BY outbox_id",
            &[Cell::Int(CHANNEL as i64)],
        )
        .into_iter()
        .map(|r| OutboxRow {
            nonce: r[0].text().expect("nonce").to_owned(),
            attempts: r[1].int().expect("attempts"),
            delivered_at: r[2].int(),
            message_id: r[3].int(),
            failed_at: r[4].int(),
        })
        .collect();
    (slots, rows)
}

fn delivered(db: &TestDb) -> bool {
    // A restarted process may hold the write lock for a moment; the busy timeout covers that.
    db_state(db).1.first().is_some_and(|r| r.delivered_at.is_some())
}

fn slot_ms() -> i64 {
    crate::helpers::at(SLOT).timestamp_millis()
}

#[tokio::test]
async fn a_rally_killed_between_recording_a_slot_and_delivering_it_posts_once_after_restart() {
    let lb = loopback().await;
    let db = TestDb::new();
    guild_with_a_daily_leaderboard(&db);

    // Discord answers the channel post with 500 more often than one run can try before the kill
    // (backoff 1 s, 2 s, 4 s … so 20 failures take minutes), so the first run cannot deliver,
    // whenever the kill lands.
    const FAILURES: usize = 20;
    lb.fail_next(&posts_path(), 500, FAILURES);
    let mut first = rally_run(&lb, &db, FIRST_RUN, db.dir().join("first.log"));
    wait_until(&mut first, "a failed attempt at the slot's post", || {
        post_attempts(&lb).iter().any(|r| r.status == 500)
    })
    .await;
    first.kill();

    // The crash left the slot recorded once and its post queued, not delivered.
    let (slots, rows) = db_state(&db);
    assert_eq!(slots, vec![(slot_ms(), "queued".to_string())], "the slot is recorded, with its post queued");
    assert_eq!(rows.len(), 1, "one post queued for the slot: {rows:?}");
    let queued = rows[0].clone();
    assert_eq!((queued.delivered_at, queued.message_id, queued.failed_at), (None, None, None), "{queued:?}");
    let failed = post_attempts(&lb);
    assert!(failed.iter().all(|r| r.status == 500), "{failed:#?}");
    assert!(lb.channel_messages(CHANNEL).is_empty(), "nothing reached the channel before the kill");

    // Discord recovers: the failures the first run did not use up are drained with GETs (the
    // loopback injects a failure by path, before routing) but one, which the restarted process
    // meets and retries after its backoff. (Draining all but one also leaves room for an attempt
    // the killed process had sent but the loopback had not yet recorded; then none is left.)
    let remaining = FAILURES - failed.len();
    let client = reqwest::Client::new();
    for _ in 1..remaining {
        let res = client.get(format!("{}/api/v10{}", lb.url(), posts_path())).send().await.expect("drain a failure");
        assert_eq!(res.status(), 500, "an injected failure is drained");
    }

    // Restart on the same database, still within the grace window of the 09:00 slot.
    let mut second = rally_run(&lb, &db, RESTART, db.dir().join("second.log"));
    wait_until(&mut second, "the post, delivered and marked so", || {
        !lb.channel_messages(CHANNEL).is_empty() && delivered(&db)
    })
    .await;
    // Give a stray second delivery (a second recording, a second outbox row) the chance to show.
    wait_until(&mut second, "the scheduler to settle", || {
        lb.requests().last().is_some_and(|r| r.at.elapsed() > Duration::from_secs(2))
    })
    .await;
    second.kill();

    let messages = lb.channel_messages(CHANNEL);
    assert_eq!(messages.len(), 1, "the post appears once: {messages:#?}");
    let embed = &messages[0]["embeds"][0];
    assert!(
        embed["title"].as_str().unwrap_or_default().starts_with("🏆 Reps by points")
            && embed["description"].as_str().unwrap_or_default().contains("user 42"),
        "the slot's leaderboard: {}",
        messages[0]
    );
    assert_eq!(messages[0]["nonce"], serde_json::json!(queued.nonce), "the queued post, with its nonce");
    let (slots, rows) = db_state(&db);
    assert_eq!(slots, vec![(slot_ms(), "queued".to_string())], "the slot was recorded once, not again on restart");
    assert_eq!(rows.len(), 1, "no second post was queued: {rows:?}");
    assert_eq!(rows[0].nonce, queued.nonce);
    assert!(rows[0].delivered_at.is_some() && rows[0].message_id.is_some(), "marked delivered: {:?}", rows[0]);
    assert_eq!(rows[0].failed_at, None);
    let accepted: Vec<Recorded> = post_attempts(&lb).into_iter().filter(|r| r.status == 200).collect();
    assert_eq!(accepted.len(), 1, "one accepted POST in all: {accepted:#?}");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}

#[tokio::test]
async fn a_post_delivered_but_not_marked_before_a_kill_is_not_posted_again_after_restart() {
    let lb = loopback().await;
    let db = TestDb::new();
    guild_with_a_daily_leaderboard(&db);

    // The first run delivers normally and is killed.
    let mut first = rally_run(&lb, &db, FIRST_RUN, db.dir().join("first.log"));
    wait_until(&mut first, "the post, delivered and marked so", || {
        !lb.channel_messages(CHANNEL).is_empty() && delivered(&db)
    })
    .await;
    first.kill();
    let (_, rows) = db_state(&db);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let original = rows[0].clone();

    // Rewind the outbox row to what a kill between Discord's 200 and the commit that marks it
    // delivered would have left: the post still due.
    let rewound = db.raw_execute(
        "UPDATE outbox SET delivered_at = NULL, message_id = NULL, attempts = 0 WHERE nonce = ?1",
        &[Cell::Text(original.nonce.clone())],
    );
    assert_eq!(rewound, 1);
    let pending = db.raw_query("SELECT next_attempt FROM outbox WHERE delivered_at IS NULL", &[]);
    let pending = pending.first().and_then(|r| r[0].int());
    assert!(
        pending.is_some_and(|t| t <= crate::helpers::at(RESTART).timestamp_millis()),
        "due on restart: {pending:?}"
    );

    // The restart delivers it again with the same nonce and enforce_nonce; Discord answers with the
    // earlier message instead of posting a second one.
    let mut second = rally_run(&lb, &db, RESTART, db.dir().join("second.log"));
    wait_until(&mut second, "the retried delivery, marked delivered", || delivered(&db)).await;
    second.kill();

    let attempts = post_attempts(&lb);
    assert_eq!(attempts.len(), 2, "the restart did retry the post: {attempts:#?}");
    assert!(attempts.iter().all(|r| r.status == 200), "{attempts:#?}");
    let bodies: Vec<_> = attempts.iter().map(|r| r.body.clone().unwrap_or_default()).collect();
    assert_eq!(bodies[0]["nonce"], bodies[1]["nonce"], "the retry carries the same nonce");
    assert_eq!(bodies[1]["enforce_nonce"], true);
    assert_eq!(lb.channel_messages(CHANNEL).len(), 1, "posted once, not twice");
    let (slots, rows) = db_state(&db);
    assert_eq!(slots, vec![(slot_ms(), "queued".to_string())], "the slot was recorded once");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].message_id, original.message_id, "marked delivered with the earlier message");
    assert!(lb.violations().is_empty(), "Discord would have rejected: {:#?}", lb.violations());
    lb.shutdown().await;
}
