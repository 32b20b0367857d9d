//! Fan-out load generator for maze (and for any server speaking maze JSON).
//!
//! Opens N subscriber connections that join one topic, then one publisher
//! connection sends M messages to that topic as fast as the server takes
//! them; the server rebroadcasts each to every subscriber. Each message
//! carries its send time, so every delivery yields a latency. Prints
//! delivered messages per second and latency percentiles as one JSON line.
//!
//! With `--hold SECS` it keeps the N joined connections open and idle that
//! long after joining (for measuring the server's memory per connection),
//! printing `joined` when they are all in.
//!
//! With `--presence` it measures presence instead (on a channel that tracks
//! each client by the `name` it joins with): a watcher joins first; N
//! clients then join at once, a storm the watcher sees as batched
//! `presence_diff` frames; then one more client times its `presence_state`.
//! `--hold SECS` then keeps them all connected, for measuring memory.
//!
//! With `--recover` subscribers join asking for the topic's history, as
//! maze.js does (`"recover": {}`): a maze server then sends each broadcast
//! with its position, the bytes a recovering client pays for.
//!
//! URL may list several servers separated by commas (instances of one app
//! sharing a broker): subscribers are spread over them in turn and the
//! publisher uses the first, so every message crosses the broker.
//!
//! With `--churn` it measures what topics cost once left instead: N
//! connections each join and leave M distinct topics `TOPIC:<n>-<i>`
//! (asking for recovery with `--recover`), one after the other, then print
//! how long that took. With `--spread` one connection joins N distinct
//! topics `TOPIC:<n>` in turn and sends each M messages (a history flood).
//!
//! Usage: maze-loadgen URL[,URL...] TOPIC N M [--hold SECS] [--presence] [--recover] [--churn | --spread]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

use maze_loadgen::Delivery;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Args {
    url: String,
    topic: String,
    clients: usize,
    messages: usize,
    hold: Option<u64>,
    presence: bool,
    recover: bool,
    churn: bool,
    spread: bool,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: maze-loadgen URL[,URL...] TOPIC CLIENTS MESSAGES [--hold SECS] [--presence] [--recover]";
    if argv.len() < 4 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let number = |s: &str| s.parse::<usize>().unwrap_or_else(|_| panic!("{s:?} is not a number; {usage}"));
    let hold = argv.iter().position(|a| a == "--hold").map(|i| number(&argv[i + 1]) as u64);
    Args {
        url: argv[0].clone(),
        topic: argv[1].clone(),
        clients: number(&argv[2]),
        messages: number(&argv[3]),
        hold,
        presence: argv.iter().any(|a| a == "--presence"),
        recover: argv.iter().any(|a| a == "--recover"),
        churn: argv.iter().any(|a| a == "--churn"),
        spread: argv.iter().any(|a| a == "--spread"),
    }
}

async fn connect_and_join(url: &str, topic: &str, recover: bool) -> Socket {
    let mut join = json!({"event": "join", "topic": topic, "payload": {}, "ref": "join"});
    if recover {
        join["recover"] = json!({});
    }
    connect_and_send_join(url, join).await
}

async fn connect_and_join_as(url: &str, topic: &str, payload: Value) -> Socket {
    connect_and_send_join(url, json!({"event": "join", "topic": topic, "payload": payload, "ref": "join"}))
        .await
}

async fn connect_and_send_join(url: &str, join: Value) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    ws.send(Message::text(join.to_string())).await.expect("send join");
    loop {
        match ws.next().await.expect("join reply").expect("join reply") {
            Message::Text(text) if text.as_str() != "ping" => {
                let reply: Value = serde_json::from_str(text.as_str()).expect("JSON reply");
                assert_eq!(reply["payload"]["status"], "ok", "join refused: {reply}");
                return ws;
            }
            _ => {}
        }
    }
}

/// The next presence event (`presence_state` or `presence_diff`) on `ws`, and its size.
async fn presence_event(ws: &mut Socket) -> (Value, usize) {
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => panic!("the server closed the connection: {frame:?}"),
            Some(Ok(_)) => continue,
            other => panic!("the connection ended: {other:?}"),
        };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
        if frame["subject"].as_str().is_some_and(|s| s.starts_with("presence_")) {
            return (frame, text.len());
        }
    }
}

async fn presence(args: Args) {
    let mut watcher = connect_and_join_as(&args.url, &args.topic, json!({"name": "watcher"})).await;
    let (state, _) = presence_event(&mut watcher).await;
    assert_eq!(state["subject"], "presence_state", "the channel tracks joiners: {state}");

    let clock = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let mut joining = Vec::with_capacity(args.clients);
    for n in 0..args.clients {
        let (url, topic, gate) = (args.url.clone(), args.topic.clone(), gate.clone());
        joining.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            let mut ws = connect_and_join_as(&url, &topic, json!({"name": format!("u{n}")})).await;
            // Drained, as a browser would, so that no client is the slow one.
            tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
        }));
    }
    let mut joined = std::collections::HashSet::new();
    let mut frames = 0;
    while joined.len() < args.clients {
        let (diff, _) = presence_event(&mut watcher).await;
        frames += 1;
        joined.extend(diff["payload"]["joins"].as_object().into_iter().flatten().map(|(k, _)| k.clone()));
    }
    let storm = clock.elapsed();
    for handle in joining {
        handle.await.expect("join task");
    }

    // Newcomers once the storm's traffic has drained: the median of five.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (mut times, mut bytes, mut keys) = (Vec::new(), 0, 0);
    for n in 0..5 {
        let asked = Instant::now();
        let mut newcomer =
            connect_and_join_as(&args.url, &args.topic, json!({"name": format!("new{n}")})).await;
        let (state, size) = presence_event(&mut newcomer).await;
        times.push(asked.elapsed().as_secs_f64() * 1e3);
        (bytes, keys) = (size, state["payload"].as_object().map_or(0, |keys| keys.len()));
        tokio::spawn(async move { while let Some(Ok(_)) = newcomer.next().await {} });
    }
    times.sort_by(f64::total_cmp);
    let state_ms = times[2];
    println!(
        "{}",
        json!({
            "clients": args.clients,
            "storm_seconds": storm.as_secs_f64(),
            "diff_frames": frames,
            "diff_frames_per_second": frames as f64 / storm.as_secs_f64(),
            "joins_per_diff_frame": args.clients as f64 / frames as f64,
            "state_keys": keys,
            "state_bytes": bytes,
            "join_to_state_ms_median": state_ms,
        })
    );
    if let Some(seconds) = args.hold {
        println!("joined");
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }
}

/// Sends `frame` and waits for its reply (what else arrives meanwhile is dropped).
async fn request(ws: &mut Socket, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.expect("send");
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() != "ping" => {
                let reply: Value = serde_json::from_str(text.as_str()).expect("JSON");
                if reply["event"] == "reply" && reply["ref"] == frame["ref"] {
                    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
                    return;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("the connection ended: {other:?}"),
        }
    }
}

/// `--churn`: N connections join and leave M distinct topics each;
/// `--spread`: one connection floods N distinct topics with M messages each.
async fn topics(args: Args) {
    let clock = Instant::now();
    let (connections, per_connection) =
        if args.churn { (args.clients, args.messages) } else { (1, args.clients) };
    let mut workers = Vec::new();
    for n in 0..connections {
        let (url, prefix, args_recover, messages) =
            (args.url.clone(), args.topic.clone(), args.recover, if args.spread { args.messages } else { 0 });
        workers.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("connect");
            for i in 0..per_connection {
                let topic = if args_recover || messages == 0 { format!("{prefix}:{n}-{i}") } else { format!("{prefix}:{i}") };
                let mut join = json!({"event": "join", "topic": topic, "payload": {}, "ref": "j"});
                if args_recover {
                    join["recover"] = json!({});
                }
                request(&mut ws, join).await;
                for m in 0..messages {
                    let say = json!({"event": "message", "topic": topic, "subject": "flood", "payload": {"n": m}, "ref": "m"});
                    request(&mut ws, say).await;
                }
                request(&mut ws, json!({"event": "leave", "topic": topic, "ref": "l"})).await;
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    let topics = connections * per_connection;
    println!(
        "{}",
        json!({"topics": topics, "messages_per_topic": if args.spread { args.messages } else { 0 }, "seconds": clock.elapsed().as_secs_f64()})
    );
}

/// Joins `topic` and sends it `messages` stamped with their send time on
/// `clock`, telling `started` when the first goes; returns once every one
/// has come back to it (the server has handled them all). It drains what it
/// gets back meanwhile, so it is never the slow one.
async fn publish(
    url: &str,
    topic: &str,
    messages: usize,
    clock: Instant,
    started: tokio::sync::oneshot::Sender<Duration>,
) {
    // It joins the topic too: servers accept messages only from members.
    let (mut publisher, mut echoes) = connect_and_join(url, topic, false).await.split();
    let echoed = tokio::spawn(async move {
        let mut count = 0;
        while let Some(Ok(frame)) = echoes.next().await {
            let Message::Text(text) = frame else { continue };
            if serde_json::from_str::<Delivery>(text.as_str()).is_ok_and(|d| d.subject == Some("bench")) {
                count += 1;
                if count == messages {
                    break;
                }
            }
        }
    });
    let _ = started.send(clock.elapsed());
    for _ in 0..messages {
        let sent = clock.elapsed().as_nanos() as u64;
        let frame = json!({"event": "message", "topic": topic, "subject": "bench", "payload": {"t": sent}});
        publisher.send(Message::text(frame.to_string())).await.expect("publish");
    }
    let _ = echoed.await;
}

#[tokio::main]
async fn main() {
    let args = args();
    if args.presence {
        return presence(args).await;
    }
    if args.churn || args.spread {
        return topics(args).await;
    }
    let clock = Instant::now();
    // Join with bounded concurrency, as a fleet of clients arriving would.
    let gate = Arc::new(Semaphore::new(256));
    let mut joining = Vec::with_capacity(args.clients);
    let urls: Vec<&str> = args.url.split(',').collect();
    for n in 0..args.clients {
        let (url, topic, gate) = (urls[n % urls.len()].to_string(), args.topic.clone(), gate.clone());
        let recover = args.recover;
        joining.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            connect_and_join(&url, &topic, recover).await
        }));
    }
    let mut subscribers = Vec::with_capacity(args.clients);
    for handle in joining {
        subscribers.push(handle.await.expect("join task"));
    }
    let joined_in = clock.elapsed();
    eprintln!("joined {} clients in {:.2?}", args.clients, joined_in);

    if let Some(seconds) = args.hold {
        println!("joined");
        // Idle, but answering pings, like browsers do.
        let mut idle = Vec::new();
        for mut ws in subscribers {
            idle.push(tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        return;
    }

    let expected = args.clients * args.messages;
    let (latencies_tx, mut latencies_rx) = mpsc::unbounded_channel::<Vec<u64>>();
    for mut ws in subscribers {
        let (tx, wanted) = (latencies_tx.clone(), args.messages);
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(wanted);
            while latencies.len() < wanted {
                let Some(Ok(frame)) = ws.next().await else { break };
                let Message::Text(text) = frame else { continue };
                let Ok(delivery) = serde_json::from_str::<Delivery>(text.as_str()) else { continue };
                if delivery.subject == Some("bench") {
                    let sent = delivery.payload.and_then(|stamp| stamp.t).unwrap_or(0);
                    latencies.push((clock.elapsed().as_nanos() as u64).saturating_sub(sent));
                }
            }
            let _ = tx.send(latencies);
        });
    }
    drop(latencies_tx);

    // The publisher runs on a thread and runtime of its own: the time it
    // stamps on a message is when it sends it, whatever the server's
    // delivery pattern does to this process's scheduler (10,000 subscriber
    // tasks woken at once would otherwise delay it, and its stamps).
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (url, topic, messages) = (urls[0].to_string(), args.topic.clone(), args.messages);
    let publisher = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(publish(&url, &topic, messages, clock, started_tx));
    });
    let started = started_rx.await.expect("publisher started");
    let publisher_done = tokio::task::spawn_blocking(move || publisher.join().expect("publisher"));

    let mut all = Vec::with_capacity(expected);
    let collecting = async {
        while let Some(batch) = latencies_rx.recv().await {
            all.extend(batch);
        }
    };
    let timed_out = tokio::time::timeout(Duration::from_secs(120), async {
        collecting.await;
        if args.clients == 0 {
            let _ = publisher_done.await;
        }
    })
    .await
    .is_err();
    let elapsed = clock.elapsed() - started;
    all.sort_unstable();
    let percentile =
        |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).map_or(0.0, |ns| *ns as f64 / 1e6);
    let result = json!({
        "clients": args.clients,
        "messages": args.messages,
        "expected": expected,
        "delivered": all.len(),
        "timed_out": timed_out,
        "seconds": elapsed.as_secs_f64(),
        "delivered_per_second": all.len() as f64 / elapsed.as_secs_f64(),
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "max_ms": percentile(1.0),
    });
    println!("{result}");
}
