//! The browser: a WebDriver session on a test server, with what the flows do on pages.

use fantoccini::{Client, ClientBuilder, Locator};
use idlog::testing::TestApp;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// At most this many browsers at once: each is a Chromium, and the machine has two cores.
const BROWSERS_AT_ONCE: usize = 2;

fn browsers() -> &'static tokio::sync::Semaphore {
    static BROWSERS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    BROWSERS.get_or_init(|| tokio::sync::Semaphore::new(BROWSERS_AT_ONCE))
}

/// A headless Chromium showing a test server's pages.
pub struct Browser {
    client: Client,
    base: String,
    _permit: tokio::sync::SemaphorePermit<'static>,
}

impl Browser {
    /// A new browser (its own profile: no cookies) for `app`, 1280 px wide.
    pub async fn open(app: &TestApp) -> Self {
        let permit = browsers().acquire().await.expect("browser slots");
        let url = std::env::var("WEBDRIVER_URL").unwrap_or_else(|_| "http://127.0.0.1:9515".into());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-GB",
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "no WebDriver at {url} ({error}): run scripts/test, which starts chromedriver"
                )
            });
        Self {
            client,
            base: app.address.clone(),
            _permit: permit,
        }
    }

    /// Opens `path` of the server (or a whole URL).
    pub async fn go(&self, path: &str) {
        let url = if path.starts_with("http") || path.starts_with("data:") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.goto(&url).await.expect("navigate");
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        path
    }

    /// Types `value` into the input labelled by id `id` (clearing it first).
    pub async fn fill(&self, id: &str, value: &str) {
        let input = self.find(&format!("#{id}")).await;
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Submits the form `form_css` by clicking its submit button, and waits for the page it
    /// leads to (the old document goes stale).
    pub async fn submit(&self, form_css: &str) {
        let old = self.find("html").await;
        self.click(&format!("{form_css} button[type=submit]")).await;
        for _ in 0..200 {
            if old.tag_name().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("submitting {form_css} led nowhere");
    }

    /// The element `css`, waiting for it a little.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(error) => panic!("no {css} on {} ({error})", self.path_now().await),
        }
    }

    async fn path_now(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|url| url.to_string())
            .unwrap_or_default()
    }

    /// Whether the element `css` is on the page now.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The text of the element `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// The page's visible text.
    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// The value of attribute `name` of the element `css`.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.expect("attribute")
    }

    /// Fails if a script opened a dialog: what an injected `alert(1)` would do.
    pub async fn assert_no_dialog(&self) {
        if let Ok(text) = self.client.get_alert_text().await {
            panic!("a script ran and opened a dialog: {text:?}");
        }
    }

    /// Runs axe-core on the page; fails on any serious or critical finding.
    pub async fn assert_accessible(&self) {
        let findings = self.accessibility_findings().await;
        assert!(
            findings.is_empty(),
            "{}: serious or critical accessibility findings: {}",
            self.path().await,
            serde_json::to_string_pretty(&findings).unwrap_or_default()
        );
    }

    /// What axe-core finds serious or critical on the page.
    pub async fn accessibility_findings(&self) -> Vec<Value> {
        self.client
            .execute(axe_source(), vec![])
            .await
            .expect("axe-core loads");
        let findings = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations
                      .filter(v => v.impact === 'serious' || v.impact === 'critical')
                      .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.map(n => n.target.join(' ')) }))))
                   .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        match findings {
            Value::Array(findings) => findings,
            other => panic!("axe-core answered {other}"),
        }
    }

    /// Saves the page as `target/screenshots/{name}-1280.png` and `-390.png`.
    pub async fn screenshots(&self, name: &str) {
        let folder = screenshot_folder();
        std::fs::create_dir_all(&folder).expect("screenshot folder");
        for (width, height) in [(1280, 900), (390, 844)] {
            self.client
                .set_window_size(width, height)
                .await
                .expect("window size");
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(folder.join(format!("{name}-{width}.png")), png).expect("saved");
        }
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("window size");
    }

    /// Ends the WebDriver session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// `target/screenshots/`.
fn screenshot_folder() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), std::path::Path::to_path_buf)
        .join("screenshots")
}

/// axe-core's `axe.min.js`, read once.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = std::env::var("AXE_CORE_JS").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            format!(
                "{home}/.cache/idlog-ci/tools/npm-axe-core-4.14.1/node_modules/axe-core/axe.min.js"
            )
        });
        std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!("axe-core is not at {path} ({error}): run scripts/test, which installs it")
        })
    })
}

/// The newest message of `kind` (`welcome`, `password-reset`, ...) written for `to`, waiting
/// for the email worker.
pub async fn email(app: &TestApp, to: &str, kind: &str) -> String {
    let folder = app.data_folder.path().join("mail");
    for _ in 0..200 {
        let mut found: Vec<(String, String)> = std::fs::read_dir(&folder)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| {
                        entry
                            .file_name()
                            .to_string_lossy()
                            .ends_with(&format!("-{kind}.eml"))
                    })
                    .filter_map(|entry| {
                        let text = std::fs::read_to_string(entry.path()).ok()?;
                        let name = entry.file_name().to_string_lossy().into_owned();
                        text.contains(&format!("To: {to}")).then_some((name, text))
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        if let Some((_, text)) = found.pop() {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {kind} message to {to} in {}", folder.display());
}

/// The first link in `message` that starts with `prefix`.
pub fn link(message: &str, prefix: &str) -> String {
    message
        .split_whitespace()
        .find(|word| word.starts_with(prefix))
        .unwrap_or_else(|| panic!("no link to {prefix} in {message}"))
        .trim_end_matches(['.', ',', ')'])
        .to_owned()
}

/// The code of the newest text message to `to`, waiting for the SMS worker.
pub async fn sms_code(app: &TestApp, to: &str, not: Option<&str>) -> String {
    let folder = app.data_folder.path().join("sms");
    for _ in 0..200 {
        let codes: Vec<String> = std::fs::read_dir(&folder)
            .map(|entries| {
                let mut texts: Vec<(std::time::SystemTime, String)> = entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.file_name().to_string_lossy().ends_with(".txt"))
                    .filter_map(|entry| {
                        let modified = entry.metadata().ok()?.modified().ok()?;
                        let text = std::fs::read_to_string(entry.path()).ok()?;
                        text.starts_with(&format!("To: {to}"))
                            .then_some((modified, text))
                    })
                    .collect();
                texts.sort();
                texts
                    .into_iter()
                    .filter_map(|(_, text)| {
                        text.split(|c: char| !c.is_ascii_digit())
                            .find(|word| word.len() == 6)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(code) = codes.last().filter(|code| Some(code.as_str()) != not) {
            return code.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no text message to {to} in {}", folder.display());
}

impl Browser {
    /// The body of `path` fetched from the page (same origin, the browser's cookies), with its
    /// status and content type: `[status, content type, text]`.
    pub async fn fetch(&self, path: &str) -> Value {
        self.client
            .execute_async(
                "const [path, done] = arguments;
                 fetch(path).then(async r => done([r.status, r.headers.get('content-type'),
                                                   await r.text()]))
                   .catch(e => done([0, '', String(e)]));",
                vec![Value::String(path.to_owned())],
            )
            .await
            .expect("fetched")
    }

    /// Runs `script` in the page; answers what it returns.
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
    }
}
