//! An app is an axum router: tower middleware (tower-http's CORS, an auth
//! middleware in front of a socket), nested and merged routers and a
//! fallback work in `Routes` as they do in axum.

mod common;

use maze::App;
use maze::axum::extract::Request;
use maze::axum::http::{Method, StatusCode, header};
use maze::axum::middleware::{self, Next};
use maze::axum::response::Response;
use maze::axum::routing::get;
use maze::prelude::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use tower_http::cors::CorsLayer;

#[derive(Default)]
struct ChatSocket;

impl Socket for ChatSocket {
    fn channels(channels: &mut Channels<Self>) {
        channels.add::<Room>("room:*");
    }
}

#[derive(Default)]
struct Room;

impl Channel<ChatSocket> for Room {}

/// Lets through requests with `?token=let-me-in`; the others get 401.
async fn signed_in(request: Request, next: Next) -> Result<Response, StatusCode> {
    let query = request.uri().query().unwrap_or_default();
    if query.split('&').any(|pair| pair == "token=let-me-in") {
        Ok(next.run(request).await)
    } else {
        Err(StatusCode::UNAUTHORIZED)
    }
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "nothing here, says the fallback")
}

fn routes(routes: &mut Routes) {
    routes.socket::<ChatSocket>("/chat").layer(middleware::from_fn(signed_in));
    routes
        .get("/api/posts", || async { "posts" })
        .nest("/admin", maze::axum::Router::new().route("/stats", get(|| async { "stats" })))
        .merge(maze::axum::Router::new().route("/about", get(|| async { "about" })))
        .layer(
            CorsLayer::new()
                .allow_origin("https://app.example".parse::<header::HeaderValue>().unwrap())
                .allow_methods([Method::GET, Method::POST]),
        )
        .fallback(not_found);
}

/// One HTTP/1.1 request to the app; its status line and headers, and body.
fn request(port: u16, head: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(stream, "{head}Host: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

fn upgrade(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
}

#[test]
fn a_cors_preflight_is_answered_by_tower_http() {
    let (port, _) = common::serve(App::new(routes), "[app]\nname = \"composed\"\n");
    let (head, _) = request(
        port,
        "OPTIONS /api/posts HTTP/1.1\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n",
    );
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("access-control-allow-origin: https://app.example"), "{head}");
    assert!(head.contains("access-control-allow-methods: get,post"), "{head}");
    let (head, body) = request(port, "GET /api/posts HTTP/1.1\r\nOrigin: https://app.example\r\n");
    assert!(head.contains("access-control-allow-origin: https://app.example"), "{head}");
    assert_eq!(body, "posts");
}

#[test]
fn an_auth_middleware_refuses_an_unauthenticated_socket_upgrade_with_401() {
    let (port, _) = common::serve(App::new(routes), "[app]\nname = \"composed\"\n");
    let (head, _) = request(port, &upgrade("/chat"));
    assert!(head.starts_with("http/1.1 401"), "{head}");
    let (head, _) = request(port, &upgrade("/chat/websocket?vsn=2.0.0"));
    assert!(head.starts_with("http/1.1 401"), "the Phoenix path too: {head}");
    // Signed in: upgraded, and the socket works.
    let mut ws = common::connect(port, "/chat?token=let-me-in").unwrap();
    let join = json!({"event": "join", "topic": "room:1", "ref": "j"});
    ws.send(tungstenite::Message::text(join.to_string())).unwrap();
    let reply = loop {
        if let tungstenite::Message::Text(text) = ws.read().unwrap()
            && text.as_str() != "ping"
        {
            break serde_json::from_str::<Value>(text.as_str()).unwrap();
        }
    };
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
}

#[test]
fn nested_merged_and_fallback_routes_answer() {
    let (port, _) = common::serve(App::new(routes), "[app]\nname = \"composed\"\n");
    assert_eq!(request(port, "GET /admin/stats HTTP/1.1\r\n").1, "stats");
    assert_eq!(request(port, "GET /about HTTP/1.1\r\n").1, "about");
    let (head, body) = request(port, "GET /no/such/page HTTP/1.1\r\n");
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert_eq!(body, "nothing here, says the fallback");
}

#[tokio::test]
async fn a_router_axum_cannot_compose_is_a_startup_error() {
    fn clashing(routes: &mut Routes) {
        routes.get("/about", || async { "ours" });
        routes.merge(maze::axum::Router::new().route("/about", get(|| async { "theirs" })));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = maze::Config::parse("[app]\nname = \"clash\"\n").unwrap();
    let served = App::new(clashing).serve_until(listener, config, ".".into(), std::future::ready(())).await;
    let error = served.unwrap_err().to_string();
    assert!(error.contains("merge: ") && error.contains("/about"), "{error}");
}
