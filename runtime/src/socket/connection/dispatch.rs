//! Join, message and leave: running a channel's callbacks, each contained,
//! and answering the client.

use super::*;

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Reader<S, St> {
    pub(super) async fn join(
        &mut self,
        inbound: &Inbound,
        payload: Value,
        recover: Option<Option<crate::history::Position>>,
    ) -> Result<(), Panicked> {
        let topic = inbound.topic.as_str();
        // Topics with control characters are the runtime's own (see `identity_topic`).
        let route = match self.conn.endpoint.channels.find(topic) {
            Some(route) if !topic.chars().any(char::is_control) => route,
            _ => {
                self.conn.send(Outbound::error(inbound, "unmatched topic")).await;
                return Ok(());
            }
        };
        let mut channel = route.open();
        // A second join of a topic replaces the first: the old channel leaves and is closed.
        if let Some(old) = self.conn.unjoin(&mut self.joined, topic).await {
            let join_ref = old.join_ref.clone();
            let left = self.conn.close_channel(topic, old).await;
            self.conn.send(Outbound::Close { join_ref, topic: topic.to_string() }).await;
            left?;
        } else if self.joined.len() >= self.conn.endpoint.limits.max_channels {
            telemetry::limit_hit("max_channels");
            self.conn.send(Outbound::error(inbound, "too many channels on this connection")).await;
            return Ok(());
        }
        let token = Arc::new(());
        let mut ctx = Context {
            topic,
            socket: &self.conn.socket,
            connect: &self.conn.connect,
            hub: self.conn.hub(),
            link: &self.conn.link,
            joined: &token,
            held: Some(Vec::new()),
            wants_presence_state: false,
            sent: Default::default(),
            reply: None,
        };
        let channel_type = route.channel_type();
        let joined = run_callback("join", channel_type, channel.join(&mut ctx, payload)).await;
        let held = ctx.held.take().unwrap_or_default();
        let wants_presence_state = ctx.wants_presence_state;
        match joined {
            Ok(Ok(response)) => {
                telemetry::joined(channel_type);
                // The reply first, then what join pushed, then the topic's broadcasts.
                if self.conn.wants_reply(inbound) {
                    self.conn.send(Outbound::ok_with(inbound, response)).await;
                }
                for frame in held {
                    self.conn.send(frame).await;
                }
                let history = recover.filter(|_| self.conn.hub().pubsub().policy().keeps(topic));
                let recovering = history.is_some();
                if recovering {
                    self.conn.link.send(Outgoing::Hold(topic.to_string())).await;
                }
                self.conn.hub().pubsub().subscribe(topic, self.conn.link.clone());
                if let Some(from) = history {
                    let recovery = self.conn.hub().pubsub().recover(topic, from).await;
                    self.conn.link.send(Outgoing::Replay(Box::new((topic.to_string(), recovery)))).await;
                }
                if wants_presence_state {
                    self.conn.hub().presence().send_state(topic, self.conn.link.clone());
                }
                self.joined.insert(
                    topic.to_string(),
                    Joined { channel, join_ref: inbound.join_ref.clone(), channel_type, token, recovering },
                );
                Ok(())
            }
            Ok(Err(reason)) => {
                telemetry::join_refused(channel_type, &reason);
                self.conn.hub().presence_tracker().release(self.conn.link.id, topic);
                self.conn.send(Outbound::error(inbound, &reason)).await;
                Ok(())
            }
            Err(Panicked) if self.conn.serializer == Protocol::PhoenixV2 => {
                self.conn.hub().presence_tracker().release(self.conn.link.id, topic);
                self.conn.send(Outbound::error(inbound, "join crashed")).await;
                Ok(())
            }
            Err(Panicked) => {
                self.conn.hub().presence_tracker().release(self.conn.link.id, topic);
                Err(Panicked)
            }
        }
    }

    pub(super) async fn message(&mut self, inbound: &Inbound, message: Message) -> Result<(), Panicked> {
        let topic = inbound.topic.as_str();
        let Some(joined) = self.joined.get_mut(topic) else {
            self.conn.send(Outbound::error(inbound, "not joined")).await;
            return Ok(());
        };
        let mut ctx = Context {
            topic,
            socket: &self.conn.socket,
            connect: &self.conn.connect,
            hub: self.conn.hub(),
            link: &self.conn.link,
            joined: &joined.token,
            held: None,
            wants_presence_state: false,
            sent: Default::default(),
            reply: None,
        };
        match run_callback("message", joined.channel_type, joined.channel.message(&mut ctx, message)).await {
            Ok(()) => {
                // The reply follows what the callback broadcast. With Redis
                // history that is a round trip: the writer waits for it, and
                // the reader goes on, with at most IN_FLIGHT broadcasts not
                // yet delivered (room is left in the queue for them).
                let sent = std::mem::take(&mut *ctx.sent.lock().unwrap_or_else(|e| e.into_inner()));
                self.in_flight.retain(|broadcast| broadcast.delivered.available_permits() == 0);
                self.in_flight.extend(sent.iter().filter(|b| b.delivered.available_permits() == 0).cloned());
                while self.in_flight.len() > IN_FLIGHT {
                    if let Some(oldest) = self.in_flight.pop_front() {
                        let _ = tokio::time::timeout(REPLY_WAIT, oldest.delivered.acquire()).await;
                    }
                }
                if self.conn.wants_reply(inbound) {
                    // Held broadcasts leave first (`pubsub::cork`): in memory, that delivers them.
                    pubsub::cork::flush();
                    let reply = match ctx.reply.take() {
                        None => Outbound::ok(inbound),
                        Some((true, response)) => Outbound::ok_with(inbound, response),
                        Some((false, response)) => Outbound::error_with(inbound, response),
                    };
                    if sent.iter().all(|broadcast| broadcast.delivered.available_permits() > 0) {
                        self.conn.send(reply).await;
                    } else {
                        self.conn.link.send(Outgoing::AfterBroadcasts(Box::new((sent, reply)))).await;
                    }
                }
                Ok(())
            }
            Err(Panicked) => {
                let crashed = self.conn.unjoin(&mut self.joined, topic).await.map(|joined| joined.join_ref);
                self.conn.hub().pubsub().unsubscribe(topic, self.conn.link.id);
                self.conn.hub().presence_tracker().release(self.conn.link.id, topic);
                self.conn.crashed(topic, crashed.flatten()).await
            }
        }
    }

    pub(super) async fn leave(&mut self, inbound: &Inbound) -> Result<(), Panicked> {
        let topic = inbound.topic.as_str();
        let Some(joined) = self.conn.unjoin(&mut self.joined, topic).await else {
            self.conn.send(Outbound::error(inbound, "not joined")).await;
            return Ok(());
        };
        let join_ref = joined.join_ref.clone();
        match self.conn.close_channel(topic, joined).await {
            Ok(()) => {
                if self.conn.wants_reply(inbound) {
                    self.conn.send(Outbound::ok(inbound)).await;
                }
                Ok(())
            }
            Err(Panicked) => self.conn.crashed(topic, join_ref).await,
        }
    }

    /// Runs every channel's `leave` when the connection ends, however it
    /// ends; a panic in one does not keep the others from leaving. (The
    /// writer is not told: it is ending too.)
    pub(super) async fn leave_all(&mut self) {
        for (topic, joined) in std::mem::take(&mut self.joined.0) {
            let _ = self.conn.close_channel(&topic, joined).await;
        }
    }
}
