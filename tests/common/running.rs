//! Generated apps, built and run: the shared target folder, a running
//! server, and a small WebSocket/HTTP client toolkit.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;
use tungstenite::{Message, WebSocket};

pub struct BuiltApp {
    pub root: PathBuf,
    pub binary: PathBuf,
}

pub fn apps_target_dir() -> PathBuf {
    std::env::var_os("MAZE_APPS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/apps"))
}

/// Runs cargo in a generated app, against the workspace's lockfile: a new
/// crate release cannot change what the tests build. Fails the test if cargo does.
pub fn cargo(root: &Path, args: &[&str]) {
    assert_succeeded(args, cargo_output(root, args));
}

/// [`cargo`], returning what it printed and how it exited, whether it failed or not.
pub fn cargo_output(root: &Path, args: &[&str]) -> std::process::Output {
    if !root.join("Cargo.lock").exists() {
        pin_dependencies(root);
    }
    let mut args = args.to_vec();
    if matches!(args.first(), Some(&"build" | &"clippy" | &"test")) {
        args.insert(1, "--locked");
    }
    cargo_command(root, &args).output().unwrap()
}

/// Gives the app the workspace's Cargo.lock, then lets cargo add the app's
/// own entry and drop what it does not use, changing no version (offline).
fn pin_dependencies(root: &Path) {
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    let args = ["update", "--workspace", "--offline", "--quiet"];
    assert_succeeded(&args, cargo_command(root, &args).output().unwrap());
}

fn cargo_command(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command.args(args).current_dir(root).env("CARGO_TARGET_DIR", apps_target_dir()).env_remove("RUSTFLAGS");
    command
}

fn assert_succeeded(args: &[&str], output: std::process::Output) {
    assert!(
        output.status.success(),
        "cargo {args:?} failed in the generated app:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The app running on an ephemeral port; killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    pub fn start(app: &BuiltApp) -> Server {
        Server::start_on(app, 0)
    }

    pub fn start_on(app: &BuiltApp, port: u16) -> Server {
        Server::start_with(app, port, &[])
    }

    /// Started with extra environment variables.
    pub fn start_with(app: &BuiltApp, port: u16, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(&app.binary)
            .current_dir(&app.root)
            .envs(env.iter().copied())
            .env("MAZE_PORT", port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the app did not say where it listens: {line:?}"));
        Server { child, port, _stdout: stdout }
    }

    pub fn get(&self, path: &str) -> String {
        http_get(self.port, path)
    }

    /// The process id, to read its memory use.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// A GET (answered with a success or a redirect) that returns the
    /// session cookie it sets (`name=value`).
    pub fn session_cookie(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 2") || response.starts_with("HTTP/1.1 3"),
            "GET {path}: {response}"
        );
        response
            .lines()
            .find_map(|line| line.strip_prefix("set-cookie: ").or_else(|| line.strip_prefix("Set-Cookie: ")))
            .and_then(|cookie| cookie.split(';').next())
            .unwrap_or_else(|| panic!("GET {path} set no cookie: {response}"))
            .to_string()
    }

    /// A WebSocket connection that sends `cookie`, as a browser would.
    pub fn connect_with_cookie(&self, path: &str, cookie: &str) -> WebSocket<TcpStream> {
        use tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{}{path}", self.port).into_client_request().unwrap();
        request.headers_mut().insert("Cookie", cookie.parse().unwrap());
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tungstenite::client(request, stream).unwrap().0
    }

    pub fn connect(&self, path: &str) -> WebSocket<TcpStream> {
        connect(&format!("ws://127.0.0.1:{}{path}", self.port))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over a plain TCP stream; reads the body by its Content-Length, as
/// Chromium's DevTools server keeps the connection open.
pub fn http_get(port: u16, path: &str) -> String {
    let (head, body) = http_request(port, "GET", path, &[], "");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body
}

/// A request over a plain TCP stream: the response's head and body.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut content_length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse::<usize>().ok();
        }
        head.push_str(&line);
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = Vec::new();
    match content_length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body).unwrap();
        }
        None => {
            reader.read_to_end(&mut body).unwrap();
        }
    }
    (head, String::from_utf8(body).unwrap())
}

pub fn connect(url: &str) -> WebSocket<TcpStream> {
    let address = url.trim_start_matches("ws://").split('/').next().unwrap();
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (ws, _) = tungstenite::client(url, stream).unwrap();
    ws
}

pub fn send(ws: &mut WebSocket<TcpStream>, frame: Value) {
    ws.send(Message::text(frame.to_string())).unwrap();
}

/// The next JSON frame, skipping the server's keep-alive pings. A
/// broadcast's place in its topic's history (`epoch`, `offset`) is left out,
/// so frames compare by what they say; the history tests check positions
/// (`runtime/tests/history.rs`, [`receive_positioned`]).
pub fn receive(ws: &mut WebSocket<TcpStream>) -> Value {
    let mut frame = receive_positioned(ws);
    if let Some(fields) = frame.as_object_mut() {
        fields.remove("epoch");
        fields.remove("offset");
    }
    frame
}

/// The next JSON frame as sent, skipping the server's keep-alive pings.
pub fn receive_positioned(ws: &mut WebSocket<TcpStream>) -> Value {
    loop {
        match ws.read().expect("a frame within 10 s") {
            Message::Text(text) if text.as_str() == "ping" => continue,
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Runs the node script `script` of tests/js with `args`; returns its
/// checks (one JSON line each, `{"check", "value"}`) by name. Fails the test
/// if the script does.
pub fn node_checks(script: &str, args: &[String]) -> Value {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let output = Command::new("node").arg(script).args(args).current_dir(&js).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|line| (line["check"].as_str().unwrap().to_string(), line["value"].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Runs tests/js/phoenix_presence.mjs (the official client's Presence) with
/// ada on `ada_port` and bob on `bob_port`; returns its checks by name.
pub fn phoenix_presence(ada_port: u16, bob_port: u16) -> Value {
    node_checks("phoenix_presence.mjs", &[ada_port.to_string(), bob_port.to_string()])
}

/// Runs tests/js/phoenix_longpoll.mjs (the official client on `LongPoll`,
/// its requests dealt to the instances on `ports` in turn); returns its checks by name.
pub fn phoenix_longpoll(ports: &[u16]) -> Value {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    node_checks("phoenix_longpoll.mjs", &ports)
}
