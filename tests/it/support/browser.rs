//! A real headless Chromium, driven through chromedriver (WebDriver) with fantoccini; axe-core
//! (npm, installed by `scripts/test`) injected into each page checked; screenshots saved under
//! `target/console-screenshots/`. A missing browser fails with what to install.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    /// Ends chromedriver and the Chromium it started: they share a process group of their own,
    /// so that no browser outlives its test (killing chromedriver alone leaves Chromium running).
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn found(env: &str, candidates: &[&str]) -> Option<String> {
    if let Ok(path) = std::env::var(env) {
        return Some(path);
    }
    candidates
        .iter()
        .find(|c| std::path::Path::new(c).exists())
        .map(|c| c.to_string())
}

/// How the browser presents itself: a desktop window by default, or a phone's width, or the
/// dark colour scheme asked for by the system.
#[derive(Clone, Copy, Default)]
pub struct Screen {
    /// A phone's viewport, 390 CSS pixels wide (Chromium's mobile emulation).
    pub phone: bool,
    /// `prefers-color-scheme: dark`.
    pub dark: bool,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session.
    pub async fn start() -> Browser {
        Browser::start_with(Screen::default()).await
    }

    /// The same, on the given screen.
    pub async fn start_with(screen: Screen) -> Browser {
        let driver_bin = found("CHROMEDRIVER", &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .unwrap_or_else(|| panic!("chromedriver not found: install Debian's chromium and chromium-driver (scripts/test does), or set CHROMEDRIVER"));
        let chromium = found("CHROMIUM_BIN", &["/usr/bin/chromium", "/usr/bin/chromium-browser"])
            .unwrap_or_else(|| panic!("chromium not found: install Debian's chromium (scripts/test does), or set CHROMIUM_BIN"));
        let port = super::free_port();
        let driver = Command::new(&driver_bin)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {driver_bin}: {e}"));
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            "--disable-extensions",
        ];
        if screen.dark {
            // Blink's PreferredColorScheme: 0 is dark.
            args.push("--blink-settings=preferredColorScheme=0");
        }
        let mut options = json!({ "binary": chromium, "args": args });
        if screen.phone {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}});
        }
        let caps: serde_json::Map<String, Value> =
            serde_json::from_value(json!({ "goog:chromeOptions": options })).expect("capabilities");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from {driver_bin}: {e}"),
            }
        };
        Browser { client, driver }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// The page's visible text; retried while a navigation replaces the page under us.
    pub async fn text(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let read = async { self.client.find(Locator::Css("body")).await?.text().await };
            match read.await {
                Ok(text) => return text,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("reading the page: {e}"),
            }
        }
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("url").to_string()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.ok();
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks `css` with Shift held, as a person extending a selection does.
    pub async fn shift_click(&self, css: &str) {
        use fantoccini::actions::{
            InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction,
        };
        use fantoccini::key::Key;
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        let pause = Duration::from_millis(0);
        let shift = char::from(Key::Shift);
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: shift })
            .pause(pause)
            .pause(pause)
            .pause(pause)
            .then(KeyAction::Up { value: shift });
        let mouse = MouseActions::new("mouse".into())
            .pause(pause)
            .then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client
            .perform_actions(fantoccini::actions::Actions::from(keys).and(mouse))
            .await
            .unwrap_or_else(|e| panic!("shift-click {css}: {e}"));
        self.client.release_actions().await.ok();
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client
            .find_all(Locator::Css(css))
            .await
            .is_ok_and(|f| !f.is_empty())
    }

    /// The `href` of the first element `css` finds.
    pub async fn href(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr("href")
            .await
            .expect("attr")
            .unwrap_or_else(|| panic!("{css} has no href"))
    }

    /// GETs `url` with this browser's session cookie, as following a download link does (the
    /// console's CSP forbids a script's fetch, so the request is made here).
    pub async fn get_signed_in(&self, url: &str) -> reqwest::Response {
        let session = self
            .client
            .get_named_cookie("reinstate_session")
            .await
            .expect("a session cookie");
        reqwest::Client::new()
            .get(url)
            .header("cookie", format!("reinstate_session={}", session.value()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// Waits until the page's text contains `needle` (pages that refresh themselves).
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "{needle:?} never showed: {text}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a screenshot as `target/console-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Runs `script` (a function body that `return`s) and gives its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Runs axe-core on the page: no serious or critical violation.
    pub async fn assert_accessible(&self, page: &str) {
        let axe = axe_source();
        self.client
            .execute(&format!("{axe}\n;return true;"), vec![])
            .await
            .expect("inject axe-core");
        let script = "const done = arguments[arguments.length - 1];\
            axe.run(document, {resultTypes: ['violations']}).then(r => done(JSON.stringify(\
              r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
               .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.html)})))))\
            .catch(e => done(JSON.stringify([{id: 'axe-error', help: String(e)}])));";
        let result = self
            .client
            .execute_async(script, vec![])
            .await
            .expect("axe.run");
        let violations: Value =
            serde_json::from_str(result.as_str().unwrap_or("[]")).expect("json");
        assert_eq!(violations, json!([]), "{page}: accessibility violations");
    }
}

/// axe-core's script, from npm (installed by `scripts/test`).
fn axe_source() -> String {
    let path = std::env::var("AXE_CORE_JS").unwrap_or_else(|_| {
        let cache = std::env::var("XDG_CACHE_HOME")
            .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_default()));
        format!("{cache}/reinstate-test-tools/axe.min.js")
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("axe-core not found at {path} ({e}): run scripts/test, which installs it from npm, or set AXE_CORE_JS")
    })
}
