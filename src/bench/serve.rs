//! Drives the real `rally serve` binary: spawns it on the benchmark database, sends it signed
//! `/log` interactions from concurrent HTTP clients on loopback, and reads its resident memory from
//! /proc. A separate process, so its memory is its own and not the load generator's.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signer, SigningKey};

use super::data::Org;
use super::measure::Load;
use crate::app::{AppError, AppResult};
use crate::loopback::payload;

/// What the serve run measured.
pub struct ServeRun {
    pub load: Load,
    /// What the wallboards held open during the load saw, when there were any.
    pub screens: Option<ScreenRun>,
    /// Peak and current resident set of the server process after the load, in kB.
    pub vm_hwm_kb: Option<u64>,
    pub vm_rss_kb: Option<u64>,
    /// From spawning the process to it listening.
    pub start: Duration,
}

/// Kills the server however the run ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `VmHWM` and `VmRSS` of a process, in kB (Linux only; `None` elsewhere).
pub fn memory_kb(pid: u32) -> (Option<u64>, Option<u64>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Spawns `exe serve` on `db`, sends `n` signed `/log`s from `clients` concurrent clients.
pub async fn run(
    exe: &Path,
    db: &Path,
    org: &Org,
    now: DateTime<Utc>,
    n: usize,
    clients: usize,
) -> AppResult<ServeRun> {
    serve_once(exe, db, org, now, ServeLoad { n, clients, instances: 1, first_id: 970_000_000_000_000_000 }, None).await
}

/// The serve runs with and without wallboards open, interleaved so that neither side always runs
/// first or last on a database that grows with every run (and on a shared machine whose load
/// drifts): without, with, with, without, without, with.
pub struct WallSeries {
    /// The runs without screens, in order.
    pub without: Vec<ServeRun>,
    /// The runs with `screens.count` wallboards open, in order.
    pub with: Vec<ServeRun>,
}

/// Runs [`WallSeries`]: each run the same load as [`run`] (`n` signed `/log`s from `clients`
/// clients) with interaction ids of its own; the "with" runs hold `screens.count` SSE streams of
/// `GET {screens.path}` open on the server.
pub async fn run_wall_series(
    exe: &Path,
    db: &Path,
    org: &Org,
    now: DateTime<Utc>,
    n: usize,
    clients: usize,
    screens: &Screens,
) -> AppResult<WallSeries> {
    let mut series = WallSeries { without: Vec::new(), with: Vec::new() };
    for (i, with) in [false, true, true, false, false, true].into_iter().enumerate() {
        let first_id = 980_000_000_000_000_000 + i as u64 * 1_000_000_000;
        let load = ServeLoad { n, clients, instances: 1, first_id };
        if with {
            series.with.push(serve_once(exe, db, org, now, load, Some(screens)).await?);
        } else {
            series.without.push(serve_once(exe, db, org, now, load, None).await?);
        }
    }
    Ok(series)
}

/// One `rally serve` under `load`, with `screens` open on it if any: its figures and memory.
async fn serve_once(
    exe: &Path,
    db: &Path,
    org: &Org,
    now: DateTime<Utc>,
    load: ServeLoad,
    screens: Option<&Screens>,
) -> AppResult<ServeRun> {
    let db = db.to_str().ok_or_else(|| AppError::User(format!("{} is not a UTF-8 path", db.display())))?;
    let run = run_instances(exe, db, org, now, load, screens).await?;
    let first = run.processes.first();
    Ok(ServeRun {
        load: run.load,
        screens: run.screens,
        vm_hwm_kb: first.and_then(|p| p.vm_hwm_kb),
        vm_rss_kb: first.and_then(|p| p.vm_rss_kb),
        start: run.start,
    })
}

/// Wallboards to hold open during a serve run: `count` streams of `path` (`/wall/TOKEN/events`).
#[derive(Clone, Debug)]
pub struct Screens {
    pub count: usize,
    pub path: String,
}

/// What the open wallboards saw during the load.
#[derive(Clone, Debug, Default)]
pub struct ScreenRun {
    pub screens: usize,
    /// Screens whose stream was open, with its first frame, when the load began.
    pub connected: usize,
    /// Frames received during the load, over every screen.
    pub frames: usize,
    /// For a sample of the acknowledged `/log`s, on every screen: from the acknowledgment to the
    /// arrival of the first frame rendered after it (so holding it).
    pub latencies: Vec<Duration>,
    /// (log, screen) pairs that got no such frame within 3 s of the load's end.
    pub unseen: usize,
}

/// Microseconds since the epoch, by the system clock (the server stamps its frames the same way).
fn epoch_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// One screen: reads its stream until `stop`, noting (rendered, arrived) of each frame (µs since
/// the epoch); counts itself in `ready` at its first frame.
async fn screen(url: String, ready: Arc<AtomicUsize>, stop: Arc<tokio::sync::Notify>) -> Vec<(i64, i64)> {
    let mut frames = Vec::new();
    let Ok(mut response) = reqwest::get(&url).await else { return frames };
    if !response.status().is_success() {
        return frames;
    }
    // The screens run on the bench's own cores, beside the server they measure: each frame is
    // scanned once, as bytes, and only its `: rendered` line is read (a text copy of every frame
    // and a search from the start of the buffer at each chunk cost the server its throughput).
    let mut buffer: Vec<u8> = Vec::new();
    // Where the search for the end of the current event goes on from.
    let mut scanned: usize = 0;
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            _ = stop.notified() => break,
        };
        let Ok(Some(chunk)) = chunk else { break };
        let arrived = epoch_us();
        buffer.extend_from_slice(&chunk);
        while let Some(at) = buffer[scanned.saturating_sub(1)..].windows(2).position(|w| w == b"\n\n") {
            let end = scanned.saturating_sub(1) + at + 2;
            let rendered = buffer[..end]
                .split(|b| *b == b'\n')
                .find_map(|l| l.strip_prefix(b": rendered ").or_else(|| l.strip_prefix(b":rendered ")))
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<i64>().ok());
            if let Some(rendered) = rendered {
                if frames.is_empty() {
                    ready.fetch_add(1, Ordering::Relaxed);
                }
                frames.push((rendered, arrived));
            }
            buffer.drain(..end);
            scanned = 0;
        }
        scanned = buffer.len();
    }
    frames
}

/// The screens' latencies for a sample of at most 2,000 acknowledgments (µs since the epoch).
fn screen_latencies(acks: &[i64], screens: &[Vec<(i64, i64)>], load_start: i64) -> ScreenRun {
    let step = acks.len().div_ceil(2000).max(1);
    let mut run = ScreenRun { screens: screens.len(), ..ScreenRun::default() };
    for frames in screens {
        let mut frames: Vec<(i64, i64)> = frames.clone();
        frames.sort_unstable();
        run.frames += frames.iter().filter(|(_, arrived)| *arrived >= load_start).count();
        for ack in acks.iter().step_by(step) {
            let i = frames.partition_point(|(rendered, _)| rendered < ack);
            match frames[i..].iter().map(|(_, arrived)| *arrived).min() {
                Some(arrived) => run.latencies.push(Duration::from_micros(arrived.saturating_sub(*ack).max(0) as u64)),
                None => run.unseen += 1,
            }
        }
    }
    run
}

/// One `rally serve` process of a scale-out run.
pub struct Process {
    /// CPU time (user + system) it spent during the measured load.
    pub cpu: Duration,
    pub vm_hwm_kb: Option<u64>,
    pub vm_rss_kb: Option<u64>,
}

/// What a run of several `rally serve` on one database measured.
pub struct ScaleRun {
    pub instances: usize,
    /// Every acknowledged `/log` of the measured load, whichever process answered it.
    pub load: Load,
    pub processes: Vec<Process>,
    /// From spawning the last process to it listening.
    pub start: Duration,
    /// What the wallboards open on the first process saw, when there were any.
    pub screens: Option<ScreenRun>,
}

/// User + system CPU time of a process so far (Linux `/proc/PID/stat`, in clock ticks of 1/100 s,
/// `USER_HZ` on every Linux this runs on); zero where there is no `/proc`.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces, inside parentheses).
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The load of a serve run: `n` signed `/log`s from `clients` concurrent clients spread evenly over
/// `instances` processes, with interaction ids from `first_id` (a run that reuses ids would be
/// answered "Already logged" from a read, not a write).
#[derive(Clone, Copy, Debug)]
pub struct ServeLoad {
    pub n: usize,
    pub clients: usize,
    pub instances: usize,
    pub first_id: u64,
}

/// Spawns `load.instances` `exe serve` processes on `db` (as `--db` takes it) and drives `load`,
/// with `screens` held open on the first process during it.
pub async fn run_instances(
    exe: &Path,
    db: &str,
    org: &Org,
    now: DateTime<Utc>,
    load: ServeLoad,
    screens: Option<&Screens>,
) -> AppResult<ScaleRun> {
    let ServeLoad { n, clients, instances, first_id } = load;
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    let mut logs = Vec::new();
    let mut start = Duration::ZERO;
    for _ in 0..instances.max(1) {
        let spawned = Instant::now();
        let mut child = Command::new(exe)
            .args(["--db", db])
            .args(["--now", &now.to_rfc3339_opts(SecondsFormat::Secs, true), "serve", "--listen", "127.0.0.1:0"])
            .args(["--public-key", &hex(key.verifying_key().as_bytes())])
            // Nothing is deferred in this load, but should anything be, it must not reach discord.com.
            .env("RALLY_DISCORD_API", "http://127.0.0.1:9")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| AppError::User(format!("cannot start {} serve: {e}", exe.display())))?;
        let stderr = child.stderr.take();
        servers.push(Server(child));
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        {
            let log = log.clone();
            // Keeps draining stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                let Some(stderr) = stderr else { return };
                let mut lines = BufReader::new(stderr).lines();
                let first = lines.next().and_then(Result::ok).unwrap_or_default();
                let _ = tx.send(first);
                for line in lines.map_while(Result::ok) {
                    if let Ok(mut l) = log.lock()
                        && l.len() < 20
                    {
                        l.push(line);
                    }
                }
            });
        }
        logs.push(log);
        let first = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| AppError::User("rally serve did not start within 30 s".into()))?
            .unwrap_or_default();
        start = spawned.elapsed();
        let base = first
            .split("listening on ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .ok_or_else(|| AppError::User(format!("rally serve did not start: {first}")))?
            .to_string();
        urls.push(format!("{base}/interactions"));
    }

    // Signed up front: signing is the client's cost, not the server's, and a signature stays
    // valid for five minutes, longer than any run.
    let g = org.main();
    let warmup = clients.min(n);
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
    let requests: Arc<Vec<(String, String)>> = Arc::new(
        (0..n + warmup)
            .map(|i| {
                let (user, name, _) = &g.reps[i % g.reps.len()];
                let member =
                    payload::Member { user_id: *user as u64, username: name.clone(), roles: vec![], permissions: 0 };
                let options = serde_json::json!([{"name": "kind", "type": 3, "value": "call"}]);
                let id = first_id + i as u64;
                let body = payload::command(id, g.guild as u64, 1, &member, "log", options).to_string();
                let sig = hex(&key.sign(format!("{stamp}{body}").as_bytes()).to_bytes());
                (body, sig)
            })
            .collect(),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .map_err(|e| AppError::User(format!("cannot build the HTTP client: {e}")))?;
    // Warm-up: opens the keep-alive connections and the servers' reader pools.
    let (warm, _) = drive(&client, &urls, &stamp, requests.clone(), 0..warmup, clients).await;
    if warm.latencies.is_empty() {
        let log = logs.iter().filter_map(|l| l.lock().ok().map(|l| l.join("\n"))).collect::<Vec<_>>().join("\n");
        return Err(AppError::User(format!(
            "rally serve answered no request: {} {log}",
            warm.first_failure.unwrap_or_default()
        )));
    }
    // The screens open and show their first frame before the measured load begins.
    let ready = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut watching = Vec::new();
    if let (Some(screens), Some(url)) = (screens, urls.first()) {
        let base = url.trim_end_matches("/interactions");
        for _ in 0..screens.count {
            watching.push(tokio::spawn(screen(format!("{base}{}", screens.path), ready.clone(), stop.clone())));
        }
        let waited = Instant::now();
        while ready.load(Ordering::Relaxed) < screens.count && waited.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let connected = ready.load(Ordering::Relaxed);
    let before: Vec<Duration> = servers.iter().map(|s| cpu_time(s.0.id())).collect();
    let load_start = epoch_us();
    let (load, acks) = drive(&client, &urls, &stamp, requests, warmup..warmup + n, clients).await;
    let processes = servers
        .iter()
        .zip(before)
        .map(|(s, before)| {
            let (vm_hwm_kb, vm_rss_kb) = memory_kb(s.0.id());
            Process { cpu: cpu_time(s.0.id()).saturating_sub(before), vm_hwm_kb, vm_rss_kb }
        })
        .collect();
    let screens = match screens {
        Some(_) => {
            // The last acknowledgments' frames are on their way: a second is the target, three the wait.
            tokio::time::sleep(Duration::from_secs(3)).await;
            stop.notify_waiters();
            let mut seen = Vec::new();
            for task in watching {
                seen.push(task.await.unwrap_or_default());
            }
            let mut run = screen_latencies(&acks, &seen, load_start);
            run.connected = connected;
            Some(run)
        }
        None => None,
    };
    drop(servers);
    Ok(ScaleRun { instances: instances.max(1), load, processes, start, screens })
}

/// Sends requests `range` from `clients` concurrent clients, client `k` to `urls[k % urls.len()]`;
/// also when each acknowledged one was acknowledged (µs since the epoch).
async fn drive(
    client: &reqwest::Client,
    urls: &[String],
    stamp: &str,
    requests: Arc<Vec<(String, String)>>,
    range: std::ops::Range<usize>,
    clients: usize,
) -> (Load, Vec<i64>) {
    let next = Arc::new(AtomicUsize::new(range.start));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let url = urls[k % urls.len()].clone();
        let (client, stamp, requests, next, end) =
            (client.clone(), stamp.to_string(), requests.clone(), next.clone(), range.end);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut acks = Vec::new();
            let mut failures = Vec::new();
            let mut deferred = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let (body, sig) = &requests[i];
                let t = Instant::now();
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-signature-ed25519", sig)
                    .header("x-signature-timestamp", &stamp)
                    .body(body.clone())
                    .send()
                    .await;
                let outcome = match res {
                    Ok(r) => {
                        let status = r.status();
                        match r.text().await {
                            // Acknowledged means stored: the reply is sent after the durable commit.
                            Ok(text) if status.is_success() && text.contains("Logged") => Ok(true),
                            Ok(text) if status.is_success() && text.starts_with(r#"{"type":5"#) => Ok(false),
                            Ok(text) => Err(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                match outcome {
                    Ok(true) => {
                        lat.push(t.elapsed());
                        acks.push(epoch_us());
                    }
                    Ok(false) => deferred += 1,
                    Err(e) => failures.push(e),
                }
            }
            (lat, acks, failures, deferred)
        }));
    }
    let mut load = Load { latencies: Vec::new(), wall: Duration::ZERO, failures: 0, first_failure: None, deferred: 0 };
    let mut all_acks = Vec::new();
    for t in tasks {
        if let Ok((lat, acks, failures, deferred)) = t.await {
            all_acks.extend(acks);
            load.deferred += deferred;
            load.latencies.extend(lat);
            load.failures += failures.len();
            if load.first_failure.is_none() {
                load.first_failure = failures.into_iter().next();
            }
        }
    }
    load.wall = started.elapsed();
    all_acks.sort_unstable();
    (load, all_acks)
}
