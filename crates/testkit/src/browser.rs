//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`, which
//! `scripts/stack tools` installs for the tests), for tests of what a person's browser does with our
//! pages and scripts: open a page, run script in it, read elements, take a screenshot, see a dialog.
//!
//! Each [`Browser`] is its own `chromedriver` on a free port with a fresh profile, so tests can run
//! in parallel and share nothing (no cookies, no storage). It never downloads a browser.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::{unique, wait_until};

/// The flags of a headless Chromium that reaches nothing but what a test opens.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// A WebDriver command the browser refused: the W3C error code (`no such element`, `no such
/// alert`, `javascript error`, ...) and its message.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl std::error::Error for WebDriverError {}

/// An element found on the page (its WebDriver reference).
#[derive(Debug, Clone)]
pub struct Element(String);

/// The key WebDriver returns element references under.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One headless Chromium session; quits (and removes its profile) when dropped.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    driver: Child,
    profile: PathBuf,
    closed: bool,
}

/// A program from the environment variable `var`, else the first of `candidates` that exists.
fn program(var: &str, candidates: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return path.into();
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "none of {candidates:?} exists: `scripts/stack tools` installs Debian's chromium and \
                 chromium-driver (or set {var})"
            )
        })
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium (`CHROMEDRIVER` and `CHROMIUM` override where
    /// they are); panics, saying what to install, if it cannot.
    pub async fn start() -> Self {
        let chromedriver = program("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let chromium = program("CHROMIUM", &["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("{} starts: {error}", chromedriver.display()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client");
        let base = format!("http://127.0.0.1:{port}");
        wait_until("chromedriver is ready", Duration::from_secs(30), || {
            let status = http.get(format!("{base}/status")).send();
            async move {
                let body: Value = status
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                match body["value"]["ready"].as_bool() {
                    Some(true) => Ok(()),
                    _ => Err(body.to_string()),
                }
            }
        })
        .await;

        let profile = std::env::temp_dir().join(unique("chromium-profile"));
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| arg.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // Dialogs stay open for the test to see (`alert_text`) instead of failing the next command.
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let answer = command(
            &http,
            reqwest::Method::POST,
            &format!("{base}/session"),
            Some(capabilities),
        )
        .await
        .unwrap_or_else(|error| panic!("a Chromium session ({}): {error}", chromium.display()));
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a session id in {answer}"));
        Self {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            profile,
            closed: false,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        command(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), WebDriverError> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(drop)
    }

    /// Reloads the page, as a person pressing F5 does.
    pub async fn refresh(&self) -> Result<(), WebDriverError> {
        self.call(reqwest::Method::POST, "/refresh", Some(json!({})))
            .await
            .map(drop)
    }

    pub async fn current_url(&self) -> Result<String, WebDriverError> {
        let url = self.call(reqwest::Method::GET, "/url", None).await?;
        Ok(url.as_str().unwrap_or_default().to_string())
    }

    pub async fn title(&self) -> Result<String, WebDriverError> {
        let title = self.call(reqwest::Method::GET, "/title", None).await?;
        Ok(title.as_str().unwrap_or_default().to_string())
    }

    /// Runs `script` (a function body: `return ...` gives the value) with `args` as `arguments`.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, WebDriverError> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs `script` and waits for it to call its last argument (`arguments[arguments.length -
    /// 1]`) with the value, up to `timeout`.
    pub async fn execute_async(
        &self,
        script: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Value, WebDriverError> {
        self.call(
            reqwest::Method::POST,
            "/timeouts",
            Some(json!({"script": timeout.as_millis() as u64})),
        )
        .await?;
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The first element matching the CSS `selector`.
    pub async fn find(&self, selector: &str) -> Result<Element, WebDriverError> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": selector})),
            )
            .await?;
        Ok(element(&found))
    }

    /// Every element matching the CSS `selector`, in document order.
    pub async fn find_all(&self, selector: &str) -> Result<Vec<Element>, WebDriverError> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": selector})),
            )
            .await?;
        Ok(found.as_array().into_iter().flatten().map(element).collect())
    }

    /// The text of `element` as rendered (what a person reads).
    pub async fn text(&self, element: &Element) -> Result<String, WebDriverError> {
        let text = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/text", element.0),
                None,
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_string())
    }

    pub async fn click(&self, element: &Element) -> Result<(), WebDriverError> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// The viewport as a PNG.
    pub async fn screenshot(&self) -> Result<Vec<u8>, WebDriverError> {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .map_err(|error| WebDriverError {
                error: "invalid screenshot".into(),
                message: error.to_string(),
            })
    }

    /// The text of the open dialog (`alert`, `confirm`, `prompt`), or None when there is none.
    pub async fn alert_text(&self) -> Result<Option<String>, WebDriverError> {
        match self.call(reqwest::Method::GET, "/alert/text", None).await {
            Ok(text) => Ok(Some(text.as_str().unwrap_or_default().to_string())),
            Err(error) if error.error == "no such alert" => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Closes the open dialog as its Cancel (or only) button would.
    pub async fn dismiss_alert(&self) -> Result<(), WebDriverError> {
        self.call(reqwest::Method::POST, "/alert/dismiss", Some(json!({})))
            .await
            .map(drop)
    }

    /// The page's console messages since the last call, as `LEVEL message` lines.
    pub async fn console(&self) -> Result<Vec<String>, WebDriverError> {
        let entries = self
            .call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"})))
            .await?;
        Ok(entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                format!(
                    "{} {}",
                    entry["level"].as_str().unwrap_or("?"),
                    entry["message"].as_str().unwrap_or("")
                )
            })
            .collect())
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn quit(mut self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
        self.closed = true;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.closed {
            // Asked of chromedriver, so that Chromium exits with it rather than outliving the test.
            let session = self.session.clone();
            let _ = std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    runtime.block_on(async {
                        let _ = reqwest::Client::new().delete(&session).send().await;
                    });
                }
            })
            .join();
        }
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn element(found: &Value) -> Element {
    Element(found[ELEMENT_KEY].as_str().unwrap_or_default().to_string())
}

/// One WebDriver command: the answer's `value`, or its error.
async fn command(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let transport = |error: reqwest::Error| WebDriverError {
        error: "chromedriver unreachable".into(),
        message: error.to_string(),
    };
    let response = request.send().await.map_err(transport)?;
    let ok = response.status().is_success();
    let mut answer: Value = response.json().await.map_err(transport)?;
    let value = answer["value"].take();
    if ok {
        Ok(value)
    } else {
        Err(WebDriverError {
            error: value["error"].as_str().unwrap_or("unknown error").to_string(),
            message: value["message"].as_str().unwrap_or_default().to_string(),
        })
    }
}
