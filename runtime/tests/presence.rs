//! Presence on one instance, through the in-process harness: the events a
//! client receives and what `maze::presence::list` says. (Across instances:
//! tests/redis.rs at the workspace's root.) Each test has topics of its own.

use maze::prelude::*;
use maze::testing::{self, TestClient};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Default)]
struct ChatSocket {
    user: String,
}

impl Socket for ChatSocket {
    fn channels(channels: &mut Channels<Self>) {
        channels.add::<RoomChannel>("room:*");
    }

    async fn on_connect(&mut self, conn: &Connect) -> bool {
        self.user = conn.params().get("user").unwrap_or("anon").to_string();
        true
    }
}

#[derive(Default)]
struct RoomChannel;

impl Channel<ChatSocket> for RoomChannel {
    async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, payload: Value) -> Result<Value, String> {
        if payload["watch"] == true {
            // Watchers are sent the state without being tracked.
            ctx.push("presence_state", maze::presence::list(ctx.topic()));
            return Ok(json!({}));
        }
        let user = ctx.socket().user.clone();
        let first = ctx.track(&user, json!({"tab": payload["tab"]}));
        Ok(json!({"first": first}))
    }

    async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
        let user = ctx.socket().user.clone();
        match message.subject.as_str() {
            "untrack" => {
                let last = ctx.untrack(&user);
                ctx.push("untracked", json!({"last": last}));
            }
            "status" => ctx.update_presence(&user, json!({"status": message.payload})),
            _ => {}
        }
    }
}

async fn client(user: &str) -> TestClient {
    testing::connect::<ChatSocket>().param("user", user).timeout(Duration::from_secs(2)).await.unwrap()
}

fn keys(presences: &Value) -> BTreeSet<String> {
    presences.as_object().unwrap().keys().cloned().collect()
}

fn metas(presences: &Value, key: &str) -> usize {
    presences[key]["metas"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_tracked_client_gets_the_state_then_diffs_and_one_user_in_two_tabs_counts_once() {
    let topic = "room:tabs";
    let mut ada = client("ada").await;
    assert_eq!(ada.join(topic, json!({"tab": 1})).await, Ok(json!({"first": true})));
    let state = ada.assert_push(topic, "presence_state").await;
    assert_eq!(keys(&state), BTreeSet::from(["ada".to_string()]));
    assert_eq!(state["ada"]["metas"][0]["tab"], 1);
    assert!(state["ada"]["metas"][0]["phx_ref"].is_string());

    // Her second tab: the same key, a second meta, not her first join.
    let mut ada_again = client("ada").await;
    assert_eq!(ada_again.join(topic, json!({"tab": 2})).await, Ok(json!({"first": false})));
    let mut seen = 0;
    while seen < 2 {
        let diff = ada.assert_push(topic, "presence_diff").await;
        seen += metas(&diff["joins"], "ada");
    }
    assert_eq!(metas(&maze::testing::hub().presence_list(topic), "ada"), 2);

    // Closing one tab: a leave of one meta; the user is still there.
    ada_again.disconnect().await;
    let diff = loop {
        let diff = ada.assert_push(topic, "presence_diff").await;
        if metas(&diff["leaves"], "ada") > 0 {
            break diff;
        }
    };
    assert_eq!(diff["leaves"]["ada"]["metas"][0]["tab"], 2);
    assert_eq!(metas(&maze::testing::hub().presence_list(topic), "ada"), 1);
}

#[tokio::test]
async fn untracking_the_last_meta_is_the_users_last_leave() {
    let topic = "room:untrack";
    let (mut bob, mut watcher) = (client("bob").await, client("watcher").await);
    bob.join(topic, json!({})).await.unwrap();
    watcher.join(topic, json!({"watch": true})).await.unwrap();
    assert_eq!(keys(&watcher.assert_push(topic, "presence_state").await), BTreeSet::from(["bob".into()]));

    bob.push(topic, "untrack", json!({})).await.unwrap();
    assert_eq!(bob.assert_push(topic, "untracked").await, json!({"last": true}));
    loop {
        let diff = watcher.assert_push(topic, "presence_diff").await;
        if metas(&diff["leaves"], "bob") == 1 {
            break;
        }
    }
    assert_eq!(maze::testing::hub().presence_list(topic), json!({}));
}

#[tokio::test]
async fn leaving_the_topic_untracks_and_an_update_is_a_leave_and_a_join() {
    let topic = "room:leave";
    let (mut cy, mut watcher) = (client("cy").await, client("watcher").await);
    cy.join(topic, json!({})).await.unwrap();
    watcher.join(topic, json!({"watch": true})).await.unwrap();

    cy.push(topic, "status", json!("away")).await.unwrap();
    // (Its join may share a batch with the update: look at every meta joined.)
    loop {
        let diff = watcher.assert_push(topic, "presence_diff").await;
        let joined = diff["joins"]["cy"]["metas"].as_array().cloned().unwrap_or_default();
        if joined.iter().any(|meta| meta["status"] == "away") {
            break;
        }
    }
    let only = maze::testing::hub().presence_list(topic);
    assert_eq!((metas(&only, "cy"), &only["cy"]["metas"][0]["status"]), (1, &json!("away")));

    cy.leave(topic).await.unwrap();
    loop {
        let diff = watcher.assert_push(topic, "presence_diff").await;
        if metas(&diff["leaves"], "cy") > 0 && maze::testing::hub().presence_list(topic) == json!({}) {
            break;
        }
    }
}

#[tokio::test]
async fn a_storm_of_joins_reaches_a_watcher_in_a_few_batched_diffs() {
    let topic = "room:storm";
    let mut watcher = client("watcher").await;
    watcher.join(topic, json!({"watch": true})).await.unwrap();
    watcher.assert_push(topic, "presence_state").await;

    let mut crowd = Vec::new();
    for n in 0..300 {
        let mut member = client(&format!("user{n}")).await;
        member.join(topic, json!({})).await.unwrap();
        crowd.push(member);
    }
    let mut joined = BTreeSet::new();
    let mut frames = 0;
    while joined.len() < 300 {
        let diff = watcher.assert_push(topic, "presence_diff").await;
        frames += 1;
        joined.extend(keys(&diff["joins"]));
    }
    // Diffs go out every 50 ms: 300 joins make a handful of frames, not 300.
    assert!(frames < 100, "{frames} diff frames for 300 joins");
    assert_eq!(keys(&maze::testing::hub().presence_list(topic)).len(), 300);
}
