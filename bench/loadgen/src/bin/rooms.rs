//! Chat-shaped load for any server speaking maze JSON: ROOMS rooms of
//! PER_ROOM clients each; every client sends one message to its room every
//! PERIOD_MS (each client at its own random phase), and the server rebroadcasts it
//! to everyone in the room, the sender included. Each message carries its
//! send time, so every delivery yields a latency. Messages sent during the
//! first WARMUP_S seconds are not counted; then DURATION_S seconds are
//! measured, and the clients keep reading for a grace second or two so that
//! late deliveries count as late, not as lost.
//!
//! Prints one JSON line: messages sent in the window, deliveries expected
//! (sent × PER_ROOM), delivered, and latency percentiles in milliseconds.
//!
//! URL may list several servers separated by commas (instances of one app
//! sharing a broker): clients are dealt to them in turn, so each room has
//! members on every instance and every message crosses the broker.
//!
//! Usage: rooms URL[,URL...] TOPIC_PREFIX ROOMS PER_ROOM PERIOD_MS DURATION_S [--warmup SECS] [--recover]

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use maze_loadgen::Delivery;

struct Args {
    url: String,
    prefix: String,
    rooms: usize,
    per_room: usize,
    period: Duration,
    duration: Duration,
    warmup: Duration,
    recover: bool,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: rooms URL[,URL...] TOPIC_PREFIX ROOMS PER_ROOM PERIOD_MS DURATION_S [--warmup SECS] [--recover]";
    if argv.len() < 6 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let number = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("{s:?} is not a number; {usage}"));
    let warmup = argv.iter().position(|a| a == "--warmup").map_or(2, |i| number(&argv[i + 1]));
    Args {
        url: argv[0].clone(),
        prefix: argv[1].clone(),
        rooms: number(&argv[2]) as usize,
        per_room: number(&argv[3]) as usize,
        period: Duration::from_millis(number(&argv[4])),
        duration: Duration::from_secs(number(&argv[5])),
        warmup: Duration::from_secs(warmup),
        recover: argv.iter().any(|a| a == "--recover"),
    }
}

/// A number in [0, 1) drawn from `seed` (splitmix64): the same seed, the same number.
fn unit_random(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
}

/// Microseconds since `start`: the clock every message is stamped with.
fn micros(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

#[tokio::main]
async fn main() {
    let args = Arc::new(args());
    let clients = args.rooms * args.per_room;
    // Connect and join everyone first, a few hundred at a time.
    let connecting = Arc::new(Semaphore::new(256));
    let mut joins = Vec::with_capacity(clients);
    for client in 0..clients {
        let (args, connecting) = (args.clone(), connecting.clone());
        joins.push(tokio::spawn(async move {
            let _permit = connecting.acquire().await.unwrap();
            let topic = format!("{}:{}", args.prefix, client % args.rooms);
            let mut join = json!({"event": "join", "topic": topic, "payload": {}, "ref": "join"});
            if args.recover {
                join["recover"] = json!({});
            }
            let urls: Vec<&str> = args.url.split(',').collect();
            let url = urls[client % urls.len()];
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
            ws.send(Message::text(join.to_string())).await.expect("send join");
            loop {
                match ws.next().await.expect("join reply").expect("join reply") {
                    Message::Text(text) if text.as_str().contains("\"reply\"") => {
                        assert!(text.as_str().contains("\"ok\""), "join refused: {text}");
                        break;
                    }
                    _ => {}
                }
            }
            (topic, ws)
        }));
    }
    let mut sockets = Vec::with_capacity(clients);
    for join in joins {
        sockets.push(join.await.expect("a client joined"));
    }

    let start = Instant::now();
    let window = (args.warmup, args.warmup + args.duration);
    let sent = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::with_capacity(clients);
    for (client, (topic, ws)) in sockets.into_iter().enumerate() {
        let (mut sink, mut stream) = ws.split();
        let (args, sent) = (args.clone(), sent.clone());
        // Each client at its own phase of the period, drawn at random (but
        // the same in every run), as independent chatters would be: some
        // moments see several rooms speak at once.
        let phase = args.period.mul_f64(unit_random(client as u64));
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::from_std(start) + phase, args.period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut reference = 0u64;
            loop {
                tick.tick().await;
                let t = micros(start);
                if t >= window.1.as_micros() as u64 {
                    break;
                }
                reference += 1;
                let frame = format!(
                    r#"{{"event":"message","topic":"{topic}","subject":"message_new","payload":{{"message":"hello from {client}","t":{t}}},"ref":"{reference}"}}"#
                );
                if sink.send(Message::text(frame)).await.is_err() {
                    break;
                }
                if t >= window.0.as_micros() as u64 {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Keep the connection open until the readers are done.
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(sink);
        });
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let deadline = tokio::time::Instant::from_std(start + window.1 + Duration::from_secs(2));
            let window_micros = (window.0.as_micros() as u64, window.1.as_micros() as u64);
            loop {
                let frame = match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    _ => break,
                };
                let Ok(delivery) = serde_json::from_str::<Delivery>(frame.as_str()) else { continue };
                if delivery.subject != Some("message_new") {
                    continue;
                }
                let Some(t) = delivery.payload.and_then(|p| p.t) else { continue };
                if t >= window_micros.0 && t < window_micros.1 {
                    latencies.push((micros(start) - t) as u32);
                }
            }
            latencies
        }));
    }
    let mut latencies: Vec<u32> = Vec::new();
    for reader in readers {
        latencies.extend(reader.await.expect("a reader finished"));
    }
    latencies.sort_unstable();
    let sent = sent.load(Ordering::Relaxed);
    let at = |q: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index] as f64 / 1000.0
    };
    println!(
        "{}",
        json!({
            "rooms": args.rooms,
            "per_room": args.per_room,
            "period_ms": args.period.as_millis() as u64,
            "seconds": args.duration.as_secs(),
            "sent": sent,
            "expected": sent * args.per_room as u64,
            "delivered": latencies.len(),
            "p50_ms": at(0.50),
            "p90_ms": at(0.90),
            "p99_ms": at(0.99),
            "max_ms": at(1.0),
        })
    );
}
