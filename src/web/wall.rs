//! The live TV wallboard: `GET /wall/{token}` (the page) and `GET /wall/{token}/events` (server-sent
//! events). Renders what `app::wallboard` reads into HTML (askama templates, checked at build time);
//! imports `app` and `domain`, never `store`.
//!
//! Cost stays flat in the number of open screens: each guild with an open wallboard has one feed
//! task, which renders once per change (an in-process signal after every ingestion commit, or a
//! change marker polled every [`POLL`] for writes by other processes on the same database) and
//! hands the same rendered frame to every connection through a `watch` channel. A connection that
//! (re)connects gets the current frame first, so a TV that lost its network catches up by itself.
//! The token never appears in a log line.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, broadcast, watch};

use crate::app::App;
use crate::app::wallboard::{WallData, WallGoal, WallStanding};
use crate::discord::Clock;
use crate::domain::competition::Scoring;
use crate::domain::goals::{GoalMetric, GoalPeriod};

/// How often a feed checks the guild's change marker (writes by other processes).
pub const POLL: Duration = Duration::from_millis(500);
/// The least time between two renders of one guild: a burst of logs renders once. (400 ms kept
/// no more of `rally serve`'s `/log` throughput with 200 screens open than 150 ms did in `rally
/// bench`, 77 % against 79-87 %, and doubled the screens' p99 latency: the renders are not what
/// the screens cost.)
const MIN_GAP: Duration = Duration::from_millis(150);
/// A frame is rendered again at least this often: time left and pace move with the clock.
const REFRESH: Duration = Duration::from_secs(60);
/// A comment sent on a quiet stream this often, so proxies and TVs keep the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Seconds each slide stays on screen (`?rotate=N` changes it, `?slide=ID` pins one).
const ROTATE_SECONDS: u32 = 12;

/// One rendered state of a guild's wallboard, shared by every connection.
pub struct Frame {
    /// Increases with each render (the SSE event id).
    pub version: u64,
    /// The `#frame` element's inner HTML, on one line (an SSE data field each).
    pub html: String,
    /// The whole server-sent event carrying it, encoded once: every connection sends these same
    /// bytes (a reference count, not a copy, per screen).
    event: Bytes,
    /// The hashes of the guild's live links: a connection whose link is not among them is told
    /// it was revoked.
    live: HashSet<String>,
    /// When its reads began, by the system clock (µs since the epoch), sent as an SSE comment:
    /// everything acknowledged before it is in the frame (`rally bench` measures screen latency
    /// with it).
    pub rendered_us: i64,
}

/// The open feeds, one per guild with a wallboard open.
pub struct Hub {
    app: App,
    clock: Clock,
    feeds: Mutex<HashMap<i64, watch::Sender<Arc<Frame>>>>,
}

impl Hub {
    /// A hub with no feed open.
    pub fn new(app: App, clock: Clock) -> Arc<Hub> {
        Arc::new(Hub { app, clock, feeds: Mutex::new(HashMap::new()) })
    }

    /// The guild's frames from now on (the current one first), starting its feed if none is open.
    pub async fn subscribe(self: &Arc<Hub>, guild: i64) -> Result<watch::Receiver<Arc<Frame>>, String> {
        let mut feeds = self.feeds.lock().await;
        if let Some(tx) = feeds.get(&guild) {
            return Ok(tx.subscribe());
        }
        // Subscribed before the first render: nothing committed after it is missed.
        let changes = self.app.wall_changes();
        let now = self.clock.now();
        let mark = self.app.wallboard_mark(guild, now).await.map_err(|e| e.to_string())?;
        let frame = render(&self.app, guild, 1, now).await?;
        let (tx, rx) = watch::channel(Arc::new(frame));
        feeds.insert(guild, tx.clone());
        tokio::spawn(self.clone().feed(guild, tx, changes, mark));
        Ok(rx)
    }

    /// How many guilds have a feed open (for the bench and tests).
    pub async fn open_feeds(&self) -> usize {
        self.feeds.lock().await.len()
    }

    /// One guild's feed: renders on each change and fans the frame out, until no one watches.
    async fn feed(
        self: Arc<Hub>,
        guild: i64,
        tx: watch::Sender<Arc<Frame>>,
        mut changes: broadcast::Receiver<i64>,
        mut mark: (i64, i64),
    ) {
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rendered = tokio::time::Instant::now();
        let mut version = tx.borrow().version;
        loop {
            let dirty = tokio::select! {
                change = changes.recv() => match change {
                    Ok(g) => g == guild,
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = poll.tick() => {
                    if tx.receiver_count() == 0 {
                        let mut feeds = self.feeds.lock().await;
                        // Checked again under the lock: a connection may have just subscribed.
                        if tx.receiver_count() == 0 {
                            feeds.remove(&guild);
                            return;
                        }
                    }
                    match self.app.wallboard_mark(guild, self.clock.now()).await {
                        Ok(now_mark) if now_mark != mark => {
                            // Maybe another process's write (a privacy or exclusion change made
                            // with `rally guild set` or `rally exec`): this process's cached
                            // settings must not render the next frame (found by a newcomer's trial:
                            // amounts stayed on the TV for seconds after money went private).
                            self.app.wallboard_saw_a_write();
                            true
                        }
                        Ok(_) => rendered.elapsed() >= REFRESH,
                        Err(e) => {
                            tracing::warn!(guild, error = %e, "could not read the wallboard's change marker");
                            false
                        }
                    }
                }
            };
            if !dirty {
                continue;
            }
            tokio::time::sleep_until(rendered + MIN_GAP).await;
            // Everything signalled up to here is in this render.
            while changes.try_recv().is_ok() {}
            let now = self.clock.now();
            if let Ok(m) = self.app.wallboard_mark(guild, now).await {
                mark = m;
            }
            match render(&self.app, guild, version + 1, now).await {
                Ok(frame) => {
                    version += 1;
                    tx.send_replace(Arc::new(frame));
                }
                Err(e) => tracing::error!(guild, error = %e, "could not render the wallboard"),
            }
            rendered = tokio::time::Instant::now();
        }
    }
}

/// The routes: `GET /wall/{token}` and `GET /wall/{token}/events`.
pub fn router(app: App, clock: Clock) -> Router {
    router_with(Hub::new(app, clock))
}

/// The routes on a hub of the caller's (the bench counts its feeds).
pub fn router_with(hub: Arc<Hub>) -> Router {
    Router::new().route("/wall/{token}", get(page)).route("/wall/{token}/events", get(events)).with_state(hub)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")], "no such wallboard\n").into_response()
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "the wallboard cannot be read right now; it retries by itself\n").into_response()
}

/// The link's guild, its hash, and the guild's frames (subscribing renders the first one when no
/// screen has it open yet); the answer to send instead: 404 for a wrong or revoked token, 503 when
/// the database or the render failed.
async fn open(hub: &Arc<Hub>, token: &str) -> Result<(i64, String, watch::Receiver<Arc<Frame>>), Response> {
    let guild = match hub.app.wallboard_guild(token).await {
        Ok(Some(guild)) => guild,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "could not look up a wallboard link");
            return Err(unavailable());
        }
    };
    match hub.subscribe(guild).await {
        Ok(frames) => Ok((guild, crate::app::crm::secret_hash(token), frames)),
        Err(e) => {
            tracing::error!(guild, error = %e, "could not render the wallboard");
            Err(unavailable())
        }
    }
}

/// Headers every wallboard answer carries: nothing may be fetched from elsewhere (the page works
/// offline), and the URL, which holds the token, is never sent on as a referrer.
fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "wall.html")]
struct PageTemplate<'a> {
    version: u64,
    frame: &'a str,
    rotate_seconds: u32,
}

async fn page(State(hub): State<Arc<Hub>>, Path(token): Path<String>) -> Response {
    let (guild, _, frames) = match open(&hub, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let frame = frames.borrow().clone();
    let page = PageTemplate { version: frame.version, frame: &frame.html, rotate_seconds: ROTATE_SECONDS };
    match page.render() {
        Ok(html) => harden(Html(html).into_response()),
        Err(e) => {
            tracing::error!(guild, error = %e, "could not render the wallboard page");
            unavailable()
        }
    }
}

async fn events(State(hub): State<Arc<Hub>>, Path(token): Path<String>) -> Response {
    let (_, hash, frames) = match open(&hub, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // (frames, the link's hash, whether the current frame was sent, whether the stream is over)
    let stream =
        futures_util::stream::unfold((frames, hash, false, false), |(mut frames, hash, sent, over)| async move {
            if over {
                return None;
            }
            if sent {
                tokio::select! {
                    changed = frames.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    _ = tokio::time::sleep(KEEP_ALIVE) => {
                        return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (frames, hash, true, false)));
                    }
                }
            }
            let frame = frames.borrow_and_update().clone();
            if !frame.live.contains(&hash) {
                let event = Bytes::from_static(b"event: revoked\ndata: revoked\n\n");
                return Some((Ok::<_, Infallible>(event), (frames, hash, true, true)));
            }
            Some((Ok(frame.event.clone()), (frames, hash, true, false)))
        });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    // Proxies (nginx) would otherwise hold events back in a buffer.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    harden(response)
}

/// The server-sent event of a frame (`html` on one line): its name, id, the reconnection delay the
/// browser should use, when its reads began (a comment), and the HTML.
fn frame_event(version: u64, rendered_us: i64, html: &str) -> Bytes {
    Bytes::from(format!("event: frame\nid: {version}\nretry: 1000\n: rendered {rendered_us}\ndata: {html}\n\n"))
}

#[derive(Template)]
#[template(path = "wall_frame.html")]
struct FrameTemplate {
    period: String,
    clock: String,
    slides: Vec<SlideView>,
    wins: Vec<WinView>,
    /// `+3 more today` when the feed leaves wins out, else empty.
    more_wins: String,
    private: bool,
}

struct SlideView {
    id: String,
    title: String,
    note: String,
    rows: Vec<RowView>,
    goals: Vec<GoalView>,
    empty: String,
}

struct RowView {
    rank: String,
    name: String,
    /// Width of the bar, 0..=100, relative to the leader; none when the score is not shown.
    bar: Option<String>,
    value: String,
    detail: String,
    first: bool,
}

struct GoalView {
    name: String,
    what: String,
    percent: String,
    /// "ahead", "behind" or "done": the bar's colour.
    status: &'static str,
    /// Width of the fill and place of the pace marker, 0..=100.
    fill: String,
    marker: Option<String>,
    numbers: String,
}

struct WinView {
    key: String,
    time: String,
    rep: String,
    team: String,
    amount: String,
}

/// Reads and renders the guild's frame.
async fn render(app: &App, guild: i64, version: u64, now: DateTime<Utc>) -> Result<Frame, String> {
    // The real clock, not `now` (which `--now` may set): what a measurement compares with.
    let rendered_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let data = app.wallboard(guild, now).await.map_err(|e| e.to_string())?;
    let live = app.wallboard_live(guild).await.map_err(|e| e.to_string())?.into_iter().collect();
    let html = frame_html(&data).map_err(|e| e.to_string())?;
    let event = frame_event(version, rendered_us, &html);
    Ok(Frame { version, html, live, rendered_us, event })
}

/// The `#frame` element's inner HTML for `data`, on one line.
pub fn frame_html(data: &WallData) -> Result<String, askama::Error> {
    let view = frame_view(data);
    Ok(view.render()?.replace(['\r', '\n'], " "))
}

fn width(value: f64, max: f64) -> String {
    if max <= 0.0 || !value.is_finite() {
        return "0".into();
    }
    format!("{:.1}", (value / max * 100.0).clamp(0.0, 100.0))
}

fn frame_view(data: &WallData) -> FrameTemplate {
    let money = data.money;
    let mut slides = Vec::new();
    for (id, title, rows) in [("reps", "Reps", &data.reps), ("teams", "Teams", &data.teams)] {
        let Some(rows) = rows else { continue };
        let max = rows.iter().map(|r| r.points).max().unwrap_or(0) as f64;
        slides.push(SlideView {
            id: id.into(),
            title: format!("{title} · this week"),
            note: format!("Points, {}", data.period_label),
            rows: rows
                .iter()
                .map(|r| RowView {
                    rank: r.rank.to_string(),
                    name: r.name.clone(),
                    bar: Some(width(r.points as f64, max)),
                    value: format!("{} pts", r.points),
                    detail: match (r.deals_won, r.revenue) {
                        (0, _) => String::new(),
                        (won, Some(revenue)) => format!("{won} won · {}", money.format(revenue)),
                        (won, None) => format!("{won} won"),
                    },
                    first: r.rank == 1 && r.points > 0,
                })
                .collect(),
            goals: Vec::new(),
            empty: "Nothing logged this week yet: the first /log takes the top spot.".into(),
        });
    }
    for (i, comp) in data.competitions.iter().enumerate() {
        slides.push(competition_slide(i, comp, data));
    }
    if !data.goals.is_empty() {
        slides.push(SlideView {
            id: "goals".into(),
            title: "Team goals".into(),
            note: "The white line is where the team should be by now".into(),
            rows: Vec::new(),
            goals: data.goals.iter().map(|g| goal_view(g, data)).collect(),
            empty: String::new(),
        });
    }
    if slides.is_empty() {
        slides.push(SlideView {
            id: "welcome".into(),
            title: "Welcome to the sales floor".into(),
            note: String::new(),
            rows: Vec::new(),
            goals: Vec::new(),
            empty: "Leaderboards are off on this server, and no competition or team goal is running yet.".into(),
        });
    }
    let wins = data
        .wins
        .iter()
        .map(|w| WinView {
            time: w.local_time.clone(),
            rep: w.rep.clone(),
            team: w.team.clone().unwrap_or_default(),
            amount: w.amount.map(|a| money.format(a)).unwrap_or_default(),
            key: format!("{}:{}", w.at.timestamp_millis(), w.rep),
        })
        .collect();
    FrameTemplate {
        period: format!("This week · {}", data.period_label),
        // The win's instant and rep: what tells a new win from one already on screen.
        clock: data.local_time.clone(),
        slides,
        wins,
        more_wins: if data.more_wins > 0 { format!("+{} more today", data.more_wins) } else { String::new() },
        private: !data.amounts,
    }
}

/// `3d 4h left`, `5h 10m left`, `12m left`.
fn time_left(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let minutes = (to - from).num_minutes().max(0);
    let (d, h, m) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (d, h) {
        (0, 0) => format!("{m}m left"),
        (0, _) => format!("{h}h {m}m left"),
        _ => format!("{d}d {h}h left"),
    }
}

fn competition_slide(i: usize, comp: &crate::app::wallboard::WallCompetition, data: &WallData) -> SlideView {
    let money = data.money;
    let scoring = match comp.scoring {
        Scoring::Total => match comp.metric {
            GoalMetric::Points => "points".to_string(),
            _ => comp.metric.noun(),
        },
        Scoring::PerCapita => format!("{} per active member", comp.metric.noun()),
        Scoring::PercentOfGoal => format!("% of {} goal", comp.metric.noun()),
    };
    let max = comp.standings.iter().filter_map(|s| s.score).fold(0.0, f64::max);
    let show = |s: &WallStanding| -> String {
        match (comp.scoring, s.score) {
            (_, None) => String::new(),
            (Scoring::PercentOfGoal, Some(v)) => format!("{:.0}%", v.floor()),
            (Scoring::Total, Some(v)) => comp.metric.show_f64(v, money),
            (Scoring::PerCapita, Some(v)) => comp.metric.show_f64(v, money),
        }
    };
    SlideView {
        id: format!("competition-{}", i + 1),
        title: comp.name.clone(),
        note: format!("{} · {scoring}", time_left(data.as_of, comp.ends_at)),
        rows: comp
            .standings
            .iter()
            .map(|s| RowView {
                rank: s.rank.map(|r| r.to_string()).unwrap_or_else(|| "–".into()),
                name: s.name.clone(),
                bar: s.score.map(|v| width(v, max)),
                value: show(s),
                detail: if s.score.is_none() && comp.scoring == Scoring::PercentOfGoal {
                    "no goal set".into()
                } else {
                    String::new()
                },
                first: s.rank == Some(1),
            })
            .collect(),
        goals: Vec::new(),
        empty: "Nobody has scored yet.".into(),
    }
}

fn goal_view(goal: &WallGoal, data: &WallData) -> GoalView {
    let money = data.money;
    let period = match goal.period {
        GoalPeriod::Week => "this week",
        GoalPeriod::Month => "this month",
        GoalPeriod::Quarter => "this quarter",
        GoalPeriod::Year => "this year",
    };
    let metric = match &goal.metric {
        GoalMetric::Points => "points".to_string(),
        other => other.noun(),
    };
    let status = match goal.expected {
        _ if goal.attainment >= 1.0 => "done",
        Some(expected) if goal.attainment + 1e-9 < expected => "behind",
        _ => "ahead",
    };
    let numbers = match (goal.actual, goal.target, goal.expected) {
        (Some(actual), Some(target), Some(expected)) => format!(
            "{} of {} · {} expected by now",
            goal.metric.show(actual, money),
            goal.metric.show(target, money),
            goal.metric.show_f64(expected * target as f64, money)
        ),
        (Some(actual), Some(target), None) => {
            format!("{} of {}", goal.metric.show(actual, money), goal.metric.show(target, money))
        }
        _ => match goal.expected {
            Some(expected) => format!("{:.0}% expected by now", expected * 100.0),
            None => String::new(),
        },
    };
    GoalView {
        name: goal.team.clone().unwrap_or_else(|| "Everyone".into()),
        what: format!("{metric} {period}"),
        percent: format!("{:.0}%", (goal.attainment * 100.0).floor()),
        status,
        fill: width(goal.attainment, 1.0),
        marker: goal.expected.map(|e| width(e, 1.0)),
        numbers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_one_server_sent_event_with_its_html_on_one_data_line() {
        let event = frame_event(7, 1_700_000_000_000_000, "<p>a</p> <p>b</p>");
        assert_eq!(
            &event[..],
            b"event: frame\nid: 7\nretry: 1000\n: rendered 1700000000000000\ndata: <p>a</p> <p>b</p>\n\n"
        );
    }

    #[test]
    fn time_left_reads_in_days_hours_or_minutes() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(time_left(t("2026-11-30T10:00:00Z"), t("2026-12-03T14:30:00Z")), "3d 4h left");
        assert_eq!(time_left(t("2026-11-30T10:00:00Z"), t("2026-11-30T15:10:00Z")), "5h 10m left");
        assert_eq!(time_left(t("2026-11-30T10:00:00Z"), t("2026-11-30T10:12:30Z")), "12m left");
        assert_eq!(time_left(t("2026-11-30T10:00:00Z"), t("2026-11-30T09:00:00Z")), "0m left");
    }

    #[test]
    fn bars_are_a_share_of_the_leader_kept_within_the_track() {
        assert_eq!(width(5.0, 10.0), "50.0");
        assert_eq!(width(12.0, 10.0), "100.0");
        assert_eq!(width(-1.0, 10.0), "0.0");
        assert_eq!(width(3.0, 0.0), "0");
        assert_eq!(width(f64::NAN, 1.0), "0");
    }
}
