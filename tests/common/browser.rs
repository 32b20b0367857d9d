//! Headless Chromium for the tests: Debian's chromium, started as the
//! project's tests must start it, driven over the DevTools protocol.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::WebSocket;

use super::running::{connect, http_get, receive, send};
use super::temp_dir;

/// Headless Chromium driven over the DevTools protocol: its first tab, and
/// (`open_tab`) more, which share its cookies and storage as a user's tabs do.
pub struct Browser {
    child: Child,
    port: u16,
    tab: Tab,
    _profile: tempfile::TempDir,
}

/// One page of a [`Browser`].
pub struct Tab {
    devtools: WebSocket<TcpStream>,
    next_id: u64,
    target: String,
}

impl std::ops::Deref for Browser {
    type Target = Tab;
    fn deref(&self) -> &Tab {
        &self.tab
    }
}

impl std::ops::DerefMut for Browser {
    fn deref_mut(&mut self) -> &mut Tab {
        &mut self.tab
    }
}

impl Browser {
    pub fn launch() -> Browser {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("chromium is not installed: .ci/run installs it (apt-get install -y chromium)");
        let profile = temp_dir();
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut port = None;
        for line in stderr.lines() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix("DevTools listening on ws://127.0.0.1:") {
                port = url.split('/').next().and_then(|p| p.parse::<u16>().ok());
                break;
            }
        }
        let port = port.expect("chromium did not print its DevTools address");
        let targets: Value = serde_json::from_str(&http_get(port, "/json/list")).unwrap();
        let page = targets.as_array().unwrap().iter().find(|t| t["type"] == "page").expect("a page target");
        let tab = Tab {
            devtools: connect(page["webSocketDebuggerUrl"].as_str().unwrap()),
            next_id: 1,
            target: page["id"].as_str().unwrap().to_string(),
        };
        Browser { child, port, tab, _profile: profile }
    }

    /// Another tab of this browser, at `url`.
    pub fn open_tab(&mut self, url: &str) -> Tab {
        let created = self.call("Target.createTarget", json!({"url": url}));
        let target = created["targetId"].as_str().unwrap().to_string();
        let targets: Value = serde_json::from_str(&http_get(self.port, "/json/list")).unwrap();
        let page =
            targets.as_array().unwrap().iter().find(|t| t["id"] == target.as_str()).expect("the new tab");
        Tab { devtools: connect(page["webSocketDebuggerUrl"].as_str().unwrap()), next_id: 1, target }
    }

    /// Closes `tab`, as a user closing it.
    pub fn close_tab(&mut self, tab: Tab) {
        self.call("Target.closeTarget", json!({"targetId": tab.target}));
    }
}

impl Tab {
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        send(&mut self.devtools, json!({"id": id, "method": method, "params": params}));
        loop {
            let message = receive(&mut self.devtools);
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        result["result"]["value"].clone()
    }

    /// Types `text` into the demo box of `topic` and submits its form.
    pub fn say(&mut self, topic: &str, text: &str) {
        self.eval(&format!(
            r#"(() => {{
                const box = document.querySelector('[data-topic="{topic}"]');
                box.querySelector("input").value = {text:?};
                box.querySelector("form").requestSubmit();
                return true;
            }})()"#
        ));
    }

    /// Polls `expression` until it is `expected`, for up to 20 s.
    pub fn wait_for(&mut self, expression: &str, expected: Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.eval(expression);
            if value == expected {
                return;
            }
            assert!(Instant::now() < deadline, "{expression} stayed {value}, expected {expected}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
