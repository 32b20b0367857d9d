//! Two app instances on a real local Redis Cluster (three masters, each
//! with a replica, started here): broadcasts travel by sharded pub/sub to
//! the shard owning each topic's slot, recovery works after an instance is
//! killed, and neither a failover nor a slot moving to another master loses
//! a subscription.

mod common;

use common::running::{
    BuiltApp, Server, apps_target_dir, cargo, phoenix_longpoll, phoenix_presence, receive, send,
};
use common::{add_sign_in_and_kick, maze, temp_dir};
use serde_json::{Value, json};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tungstenite::WebSocket;

/// `maze new chat_cluster --redis-cluster`, `maze g socket ChatSocket chat_room`,
/// `maze g channel Room --presence` and `maze g controller Auth sign_in kick`,
/// built once: the socket's id is its signed-in user (`user:ID`),
/// `/auth/sign_in?id=ID` signs in and `/auth/kick?id=ID` disconnects that user.
fn app() -> &'static BuiltApp {
    static APP: OnceLock<BuiltApp> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = temp_dir().keep();
        maze(&dir).args(["new", "chat_cluster", "--redis-cluster"]).assert().success();
        let root = dir.join("chat_cluster");
        maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
        maze(&root).args(["g", "channel", "Room", "--presence"]).assert().success();
        add_sign_in_and_kick(&root);
        cargo(&root, &["build", "--quiet"]);
        BuiltApp { binary: apps_target_dir().join("debug/chat_cluster"), root }
    })
}

/// A Redis Cluster on loopback: three masters and a replica of each, without
/// persistence; every node killed when dropped.
struct Cluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

/// A free port whose cluster bus port (+10000) is free too.
fn free_port_pair(taken: &[u16]) -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < 55_000 && !taken.contains(&port) && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
}

fn within(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

impl Cluster {
    fn start() -> Cluster {
        let dir = temp_dir();
        let mut ports = Vec::new();
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = free_port_pair(&ports);
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                .arg("--cluster-config-file")
                .arg(dir.path().join(format!("nodes-{port}.conf")))
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .spawn()
                .expect(
                    "redis-server is not installed: .ci/run installs it (apt-get install -y redis-server)",
                );
            ports.push(port);
            nodes.push(child);
        }
        let cluster = Cluster { nodes, ports, _dir: dir };
        for &port in &cluster.ports {
            let deadline = within(10);
            while cluster.cli(port, &["PING"]) != "PONG" {
                assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let addresses: Vec<String> = cluster.ports.iter().map(|port| format!("127.0.0.1:{port}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stdout));
        cluster.wait_until_ok();
        cluster
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Every node sees the cluster whole, with every slot served.
    fn wait_until_ok(&self) {
        let deadline = within(30);
        for &port in &self.ports {
            while !self.cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(Instant::now() < deadline, "the cluster is not ok on {port}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    fn urls(&self) -> String {
        self.ports.iter().map(|port| format!("redis://127.0.0.1:{port}")).collect::<Vec<_>>().join(",")
    }

    /// `CLUSTER NODES` of a node, one line per node: id, address, flags, ..., slots.
    fn nodes(&self) -> Vec<Vec<String>> {
        let listed = self.cli(self.ports[0], &["CLUSTER", "NODES"]);
        listed.lines().map(|line| line.split_whitespace().map(String::from).collect()).collect()
    }

    fn port_of(node: &[String]) -> u16 {
        node[1].split(['@', ':']).nth(1).unwrap().parse().unwrap()
    }

    fn id_of(&self, port: u16) -> String {
        self.cli(port, &["CLUSTER", "MYID"])
    }

    fn slot_of(&self, channel: &str) -> u16 {
        self.cli(self.ports[0], &["CLUSTER", "KEYSLOT", channel]).parse().unwrap()
    }

    /// The master serving `slot`, as the cluster sees it now.
    fn master_of(&self, slot: u16) -> u16 {
        for node in self.nodes() {
            if !node[2].contains("master") {
                continue;
            }
            for range in &node[8..] {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                if let (Ok(from), Ok(to)) = (from.parse::<u16>(), to.parse::<u16>())
                    && (from..=to).contains(&slot)
                {
                    return Cluster::port_of(&node);
                }
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// The replica of the master on `port`.
    fn replica_of(&self, port: u16) -> u16 {
        let id = self.id_of(port);
        let replica = self.nodes().into_iter().find(|node| node[3] == id).expect("a replica");
        Cluster::port_of(&replica)
    }

    /// How many instances subscribe to `channel` (sharded) on the node on `port`.
    fn shard_subscribers(&self, port: u16, channel: &str) -> usize {
        let reply = self.cli(port, &["PUBSUB", "SHARDNUMSUB", channel]);
        reply.lines().nth(1).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
    }

    /// The nodes of the shard serving `slot`: its master and its replicas
    /// (a sharded channel's subscribers may be on any of them: a message
    /// published on the master reaches the replicas' subscribers too).
    fn shard_of(&self, slot: u16) -> Vec<u16> {
        let master = self.master_of(slot);
        let id = self.id_of(master);
        let replicas =
            self.nodes().into_iter().filter(|node| node[3] == id).map(|node| Cluster::port_of(&node));
        std::iter::once(master).chain(replicas).collect()
    }

    /// Waits until the shard owning `channel`'s slot has `expected` sharded
    /// subscribers to it, and every other node none.
    fn wait_for_shard_subscribers(&self, channel: &str, expected: usize) {
        let deadline = within(20);
        loop {
            let shard = self.shard_of(self.slot_of(channel));
            let counts: Vec<(u16, usize)> =
                self.ports.iter().map(|&port| (port, self.shard_subscribers(port, channel))).collect();
            let on_shard =
                counts.iter().filter(|(port, _)| shard.contains(port)).map(|(_, n)| n).sum::<usize>();
            let elsewhere =
                counts.iter().filter(|(port, _)| !shard.contains(port)).map(|(_, n)| n).sum::<usize>();
            if on_shard == expected && elsewhere == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{channel}: expected {expected} on its shard {shard:?} and none elsewhere, got {counts:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

/// A topic's sharded channel, as the app names it: its hash tag is the topic.
fn channel(topic: &str) -> String {
    format!("maze:chat_cluster:{{{topic}}}")
}

fn instance(cluster: &Cluster) -> Server {
    Server::start_with(app(), 0, &[("REDIS_URLS", &cluster.urls())])
}

fn join(ws: &mut WebSocket<TcpStream>, topic: &str) -> Value {
    send(ws, json!({"event": "join", "topic": topic, "recover": {}, "ref": "join"}));
    let reply = receive(ws);
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    let position = receive(ws);
    assert_eq!(position["subject"], "maze_recovery", "{position}");
    position["payload"].clone()
}

fn say(ws: &mut WebSocket<TcpStream>, topic: &str, text: &str) {
    send(
        ws,
        json!({"event": "message", "topic": topic, "subject": "message_new", "payload": {"message": text}}),
    );
}

/// The next broadcast's message text on `ws`, skipping replies.
fn heard(ws: &mut WebSocket<TcpStream>) -> String {
    loop {
        let frame = receive(ws);
        if frame["event"] == "message" && frame["subject"] == "message_new" {
            return frame["payload"]["message"].as_str().unwrap().to_string();
        }
    }
}

/// Waits for the broadcast `text` on `ws`, skipping others.
fn hears(ws: &mut WebSocket<TcpStream>, text: &str) {
    while heard(ws) != text {}
}

/// Topics whose slots are served by three different masters.
fn topics_on_three_shards(cluster: &Cluster) -> Vec<String> {
    let mut by_master: Vec<(u16, String)> = Vec::new();
    for n in 0.. {
        let topic = format!("chat_room:{n}");
        let master = cluster.master_of(cluster.slot_of(&channel(&topic)));
        if !by_master.iter().any(|(taken, _)| *taken == master) {
            by_master.push((master, topic));
        }
        if by_master.len() == 3 {
            break;
        }
    }
    by_master.into_iter().map(|(_, topic)| topic).collect()
}

#[test]
fn broadcasts_reach_the_other_instance_through_the_shard_owning_each_topic() {
    let cluster = Cluster::start();
    let (one, two) = (instance(&cluster), instance(&cluster));
    let (mut alice, mut bob) = (one.connect("/chat"), two.connect("/chat"));
    let topics = topics_on_three_shards(&cluster);
    for topic in &topics {
        join(&mut alice, topic);
        join(&mut bob, topic);
    }
    for topic in &topics {
        // Both instances subscribe on the topic's own shard, and nowhere else.
        cluster.wait_for_shard_subscribers(&channel(topic), 2);
    }
    for topic in &topics {
        say(&mut alice, topic, &format!("from one on {topic}"));
        assert_eq!(heard(&mut bob), format!("from one on {topic}"));
        assert_eq!(heard(&mut alice), format!("from one on {topic}"));
        say(&mut bob, topic, &format!("from two on {topic}"));
        assert_eq!(heard(&mut alice), format!("from two on {topic}"));
        assert_eq!(heard(&mut bob), format!("from two on {topic}"));
    }
    // Leaving unsubscribes on the shard.
    drop(alice);
    cluster.wait_for_shard_subscribers(&channel(&topics[0]), 1);
}

#[test]
fn a_client_of_a_killed_instance_recovers_what_it_missed_on_the_other() {
    let cluster = Cluster::start();
    let (one, two) = (instance(&cluster), instance(&cluster));
    let topic = "chat_room:recover";
    let mut client = one.connect("/chat");
    let seen = join(&mut client, topic);
    let mut sender = two.connect("/chat");
    join(&mut sender, topic);
    cluster.wait_for_shard_subscribers(&channel(topic), 2);

    drop(one);
    for n in 0..3 {
        say(&mut sender, topic, &format!("missed {n}"));
    }
    // Back to its sender: placed in the topic's stream.
    hears(&mut sender, "missed 2");
    // Its stream is in the topic's slot: the other instance reads it there.
    let mut back = two.connect("/chat");
    let position = json!({"epoch": seen["epoch"], "offset": seen["offset"]});
    send(&mut back, json!({"event": "join", "topic": topic, "recover": position, "ref": "j"}));
    assert_eq!(receive(&mut back)["payload"]["status"], "ok");
    for n in 0..3 {
        assert_eq!(heard(&mut back), format!("missed {n}"));
    }
    let told = receive(&mut back);
    assert_eq!(
        (told["subject"].as_str(), told["payload"]["recovered"].as_bool()),
        (Some("maze_recovery"), Some(true))
    );
}

/// Says on `from` until `to` hears it (what was said while the cluster
/// changed may be lost; after that, nothing is).
fn until_heard(from: &mut WebSocket<TcpStream>, to: &mut WebSocket<TcpStream>, topic: &str) {
    let deadline = within(30);
    for n in 0.. {
        let text = format!("probe {n}");
        say(from, topic, &text);
        to.get_mut().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let got = loop {
            match to.read() {
                Ok(tungstenite::Message::Text(frame)) => {
                    let frame: Value = serde_json::from_str(&frame).unwrap();
                    if frame["payload"]["message"] == text {
                        break true;
                    }
                }
                Ok(_) => {}
                Err(_) => break false,
            }
        };
        to.get_mut().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        if got {
            return;
        }
        assert!(Instant::now() < deadline, "{topic}: nothing got through after the change");
    }
}

#[test]
fn a_failover_and_a_slot_moving_to_another_master_lose_no_subscription() {
    let cluster = Cluster::start();
    let (one, two) = (instance(&cluster), instance(&cluster));
    let (mut alice, mut bob) = (one.connect("/chat"), two.connect("/chat"));
    let topic = "chat_room:moves";
    join(&mut alice, topic);
    join(&mut bob, topic);
    cluster.wait_for_shard_subscribers(&channel(topic), 2);

    // The replica of the topic's master takes over.
    let slot = cluster.slot_of(&channel(topic));
    let master = cluster.master_of(slot);
    let replica = cluster.replica_of(master);
    assert_eq!(cluster.cli(replica, &["CLUSTER", "FAILOVER"]), "OK");
    let deadline = within(30);
    while cluster.master_of(slot) != replica {
        assert!(Instant::now() < deadline, "the failover did not happen");
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.wait_until_ok();
    cluster.wait_for_shard_subscribers(&channel(topic), 2);
    until_heard(&mut alice, &mut bob, topic);
    until_heard(&mut bob, &mut alice, topic);
    say(&mut bob, topic, "after the failover");
    hears(&mut alice, "after the failover");

    // The slot moves to another master (what resharding does, one slot).
    let from = cluster.master_of(slot);
    let to = cluster
        .nodes()
        .into_iter()
        .map(|node| (Cluster::port_of(&node), node))
        .find(|(port, node)| *port != from && node[2].contains("master"));
    let to = to.unwrap().0;
    let (from_id, to_id) = (cluster.id_of(from), cluster.id_of(to));
    let slot_arg = slot.to_string();
    assert_eq!(cluster.cli(to, &["CLUSTER", "SETSLOT", &slot_arg, "IMPORTING", &from_id]), "OK");
    assert_eq!(cluster.cli(from, &["CLUSTER", "SETSLOT", &slot_arg, "MIGRATING", &to_id]), "OK");
    let keys = cluster.cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot_arg, "1000"]);
    for key in keys.lines().filter(|key| !key.is_empty()) {
        let moved = cluster.cli(from, &["MIGRATE", "127.0.0.1", &to.to_string(), key, "0", "5000"]);
        assert_eq!(moved, "OK", "MIGRATE {key}");
    }
    for port in cluster.ports.clone() {
        cluster.cli(port, &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to_id]);
    }
    let deadline = within(30);
    while cluster.master_of(slot) != to {
        assert!(Instant::now() < deadline, "the slot did not move");
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.wait_for_shard_subscribers(&channel(topic), 2);
    until_heard(&mut alice, &mut bob, topic);
    until_heard(&mut bob, &mut alice, topic);
    say(&mut bob, topic, "after the move");
    hears(&mut alice, "after the move");
}

#[test]
fn presence_and_disconnect_by_id_work_across_the_cluster() {
    let cluster = Cluster::start();
    let (one, two) = (instance(&cluster), instance(&cluster));
    // The official phoenix client's Presence: ada on one instance, bob on the other.
    let checks = phoenix_presence(one.port, two.port);
    assert_eq!(checks["both"], json!(["guest:ada", "guest:bob"]));
    assert_eq!(checks["bob_left"], json!(["guest:ada"]));

    // A user signed in on both instances, kicked from one: both connections close.
    let cookie = one.session_cookie("/auth/sign_in?id=42");
    let mut on_one = one.connect_with_cookie("/chat", &cookie);
    let mut on_two = two.connect_with_cookie("/chat", &cookie);
    join(&mut on_one, "chat_room:ids");
    join(&mut on_two, "chat_room:ids");
    cluster.wait_for_shard_subscribers(&channel("\u{1}socket:user:42"), 2);
    assert_eq!(one.get("/auth/kick?id=42"), "kicked");
    for ws in [&mut on_one, &mut on_two] {
        let closed = loop {
            match ws.read() {
                Ok(tungstenite::Message::Close(frame)) => break frame.map(|frame| u16::from(frame.code)),
                Ok(_) => {}
                Err(error) => panic!("no close frame: {error}"),
            }
        };
        assert_eq!(closed, Some(1000));
    }
}

#[test]
fn long_poll_requests_are_forwarded_between_instances_over_the_cluster() {
    let cluster = Cluster::start();
    let (one, two) = (instance(&cluster), instance(&cluster));
    let checks = phoenix_longpoll(&[one.port, two.port]);
    assert_eq!(checks["presence"], "guest:ada,guest:bob");
    assert_eq!(checks["ada heard bob"], "hi from bob");
}
