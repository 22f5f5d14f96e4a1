//! The wallboard in a real browser: Debian's Chromium, headless, driven through chromedriver
//! (WebDriver, with fantoccini). Opens the wallboard of the floor in `wallboard.rs`, logs through
//! the pipeline `/log` takes and waits for the page to show it; cuts the page's connection and
//! checks it reconnects and catches up by itself; saves a 1920x1080 screenshot of each slide (and
//! one at 4K) under `target/wallboard/` for review.
//!
//! Chromium and chromedriver: `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install
//! chromium chromium-driver`; `.ci/run` installs them), or `RALLY_CHROMIUM` and `RALLY_CHROMEDRIVER`.
//! Missing, these tests skip with a message, except in CI (`CI` set), where they fail.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::wallboard::{Floor, MANAGER, floor};

fn tool(var: &str, default: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    path.is_file().then_some(path)
}

/// Chromium and chromedriver, or `None` (locally) after saying why; in CI their absence fails.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    match (tool("RALLY_CHROMIUM", "/usr/bin/chromium"), tool("RALLY_CHROMEDRIVER", "/usr/bin/chromedriver")) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ => {
            let why = "the wallboard's browser tests need Chromium and chromedriver \
                       (apt-get install -y chromium chromium-driver, or set RALLY_CHROMIUM and RALLY_CHROMEDRIVER)";
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
                panic!("{why}; CI is set, so they fail rather than skip");
            }
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(driver: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not answer on {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, url }
}

/// A headless Chromium, its page 1920x1080.
async fn open_browser(chromium: &std::path::Path, driver: &Driver) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.display().to_string(),
            // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", "--window-size=1920,1080", "--force-device-scale-factor=1"]
        }
    });
    let Value::Object(caps) = caps else { unreachable!() };
    // chromedriver speaks plain HTTP on 127.0.0.1: no TLS connector needed.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client =
        ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a browser session");
    fit(&client, 1920, 1080).await;
    client
}

/// Sizes the window so that the page itself is `width` x `height` (the window's frame aside), and
/// waits until the page has been laid out at that size.
async fn fit(client: &Client, width: u32, height: u32) {
    let (mut outer_w, mut outer_h) = (width, height);
    for _ in 0..20 {
        client.set_window_size(outer_w, outer_h).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let inner = client.execute("return [window.innerWidth, window.innerHeight]", vec![]).await.unwrap();
        let (w, h) = (inner[0].as_u64().unwrap() as u32, inner[1].as_u64().unwrap() as u32);
        if (w, h) == (width, height) {
            return;
        }
        (outer_w, outer_h) = (outer_w + width - w.min(width), outer_h + height - h.min(height));
        if w > width || h > height {
            (outer_w, outer_h) = (outer_w - (w - width.min(w)), outer_h - (h - height.min(h)));
        }
    }
    panic!("the page could not be sized to {width}x{height}");
}

async fn text_of(client: &Client, selector: &str) -> String {
    let script = format!("var e = document.querySelector({selector:?}); return e ? e.textContent : ''");
    client.execute(&script, vec![]).await.unwrap().as_str().unwrap_or_default().to_string()
}

/// Waits until the element's text contains `needle`; how long it took, or `None` after `wait`.
async fn wait_for_text(client: &Client, selector: &str, needle: &str, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < wait {
        if text_of(client, selector).await.contains(needle) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Where screenshots go: `target/wallboard/` (or under `CARGO_TARGET_DIR`).
fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("wallboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The PNG's (width, height).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    (reader.info().width, reader.info().height)
}

/// A TCP proxy in front of the wallboard's server whose connections a test can cut, as a network
/// drop would, and bring back on the same port.
struct Cable {
    port: u16,
    target: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Cable {
    async fn new(target: std::net::SocketAddr) -> Cable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut cable = Cable { port, target, task: None };
        cable.task = Some(tokio::spawn(Cable::pass(listener, target)));
        cable
    }

    async fn pass(listener: tokio::net::TcpListener, target: std::net::SocketAddr) {
        // Dropped with this task: cutting the cable aborts every connection through it.
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            connections.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    }

    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    async fn mend(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.task = Some(tokio::spawn(Cable::pass(listener, self.target)));
    }
}

/// The wallboard's URL through `cable`.
fn through(cable: &Cable, url: &str, floor: &Floor) -> String {
    url.replace(&floor.base, &format!("http://127.0.0.1:{}", cable.port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_in_a_browser_shows_a_log_within_two_seconds_and_catches_up_after_a_dropped_connection() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let floor = floor("everyone").await;
    let url = floor.link().await;
    let server: std::net::SocketAddr = floor.base.trim_start_matches("http://").parse().unwrap();
    let mut cable = Cable::new(server).await;
    let driver = start_driver(&driver).await;
    let client = open_browser(&chromium, &driver).await;
    client.goto(&through(&cable, &url, &floor)).await.unwrap();
    wait_for_text(&client, "#status", "live", Duration::from_secs(10)).await.expect("the page goes live");
    assert!(text_of(&client, "#wins").await.contains("Ana Alvarez"));

    floor.ok(46, "/log kind:won amount:4321").await;
    let took = wait_for_text(&client, "#wins", "Eve Evans", Duration::from_secs(2))
        .await
        .expect("the win on screen within 2 s");
    assert!(text_of(&client, "#wins").await.contains("4,321.00"));
    assert!(text_of(&client, "#wins .win.fresh").await.contains("Eve Evans"), "the new win rings in, alone");
    assert!(!text_of(&client, "#wins .win:not(.fresh)").await.is_empty());
    eprintln!("a logged win was on screen after {took:?}");

    // The network drops; a win is logged meanwhile; the network comes back.
    cable.cut();
    wait_for_text(&client, "#status", "reconnecting", Duration::from_secs(5)).await.expect("the page notices");
    floor.ok(43, "/log kind:won amount:2500").await;
    cable.mend().await;
    wait_for_text(&client, "#wins", "Ben Brooks", Duration::from_secs(10)).await.expect("caught up by itself");
    wait_for_text(&client, "#status", "live", Duration::from_secs(5)).await.expect("live again");

    // A manager revokes the link while the TV is offline: back online, it says so instead of
    // retrying for ever (its stream answers 404 now, and a stream never says why it failed).
    cable.cut();
    wait_for_text(&client, "#status", "reconnecting", Duration::from_secs(5)).await.expect("the page notices");
    floor.ok(MANAGER, "/wallboard revoke").await;
    cable.mend().await;
    let shown = async {
        for _ in 0..100 {
            let class = client.find(Locator::Css("#gone")).await.unwrap().attr("class").await.unwrap();
            if class.as_deref() == Some("on") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    assert!(shown.await, "the revoked notice shows after the TV comes back");
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_slide_is_screenshot_at_1080p_and_the_type_scales_with_the_screen_at_4k() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let floor = floor("everyone").await;
    let url = floor.link().await;
    let driver = start_driver(&driver).await;
    let client = open_browser(&chromium, &driver).await;
    client.goto(&url).await.unwrap();
    wait_for_text(&client, "#status", "live", Duration::from_secs(10)).await.expect("the page goes live");
    let ids = client
        .execute("return Array.from(document.querySelectorAll('#slides .slide')).map(s => s.dataset.id)", vec![])
        .await
        .unwrap();
    let ids: Vec<String> = ids.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["reps", "teams", "competition-1", "competition-2", "goals"]);
    let dir = screenshots();
    for id in &ids {
        client.goto(&format!("{url}?slide={id}")).await.unwrap();
        wait_for_text(&client, "#status", "live", Duration::from_secs(10)).await.expect("live");
        let shown = client
            .execute("var s = document.querySelector('#slides .slide.on'); return s ? s.dataset.id : null", vec![])
            .await
            .unwrap();
        assert_eq!(shown.as_str(), Some(id.as_str()));
        // Nothing on the slide runs off the screen.
        let overflow = client
            .execute("var s = document.querySelector('#slides'); return s.scrollHeight > s.clientHeight + 1", vec![])
            .await
            .unwrap();
        assert_eq!(overflow, Value::Bool(false), "slide {id} overflows the screen");
        // The slide's fade-in is over.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let png = client.screenshot().await.unwrap();
        assert_eq!(png_size(&png), (1920, 1080), "slide {id}");
        std::fs::write(dir.join(format!("{id}.png")), &png).unwrap();
    }
    let font = "return parseFloat(getComputedStyle(document.querySelector('table.board td.name')).fontSize)";
    client.goto(&format!("{url}?slide=reps")).await.unwrap();
    let at_1080 = client.execute(font, vec![]).await.unwrap().as_f64().unwrap();
    // A name is readable from three metres: at least 40 px on a 1080p screen.
    assert!(at_1080 >= 40.0, "{at_1080} px");
    fit(&client, 3840, 2160).await;
    let at_4k = client.execute(font, vec![]).await.unwrap().as_f64().unwrap();
    assert!((at_4k / at_1080 - 2.0).abs() < 0.05, "type doubles at 4K: {at_1080} px, then {at_4k} px");
    let png = client.screenshot().await.unwrap();
    assert_eq!(png_size(&png), (3840, 2160));
    std::fs::write(dir.join("reps-4k.png"), &png).unwrap();
    eprintln!("screenshots in {}", dir.display());
    client.close().await.unwrap();
}
