//! The reading half of a connection: the socket value and its joined
//! channels, the client's frames decoded and dispatched (`dispatch.rs`),
//! and the connection's own sends (`Conn`): replies after the broadcasts
//! their callback made.

use super::*;

pub(super) struct Joined<S, St> {
    pub(super) channel: Box<dyn DynChannel<S, St>>,
    pub(super) join_ref: Option<Value>,
    pub(super) channel_type: &'static str,
    /// Alive while the channel is joined: [`super::Client`] handles hold a weak reference.
    pub(super) token: Arc<()>,
    /// Joined asking for recovery: the writer counts it (see [`Outgoing::Hold`]).
    pub(super) recovering: bool,
}

/// A connection's joined channels, by topic. Few per connection (at most
/// `max_channels`): a list searched in order, sized to what it holds, costs
/// an idle connection less than a map.
pub(super) struct JoinedTopics<S, St>(pub(super) Vec<(String, Joined<S, St>)>);

impl<S, St> Default for JoinedTopics<S, St> {
    fn default() -> Self {
        JoinedTopics(Vec::new())
    }
}

impl<S, St> JoinedTopics<S, St> {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn get_mut(&mut self, topic: &str) -> Option<&mut Joined<S, St>> {
        self.0.iter_mut().find(|(joined, _)| joined == topic).map(|(_, joined)| joined)
    }

    pub(super) fn remove(&mut self, topic: &str) -> Option<Joined<S, St>> {
        let at = self.0.iter().position(|(joined, _)| joined == topic)?;
        Some(self.0.swap_remove(at).1)
    }

    /// Adds a channel; its topic must not be joined already.
    pub(super) fn insert(&mut self, topic: String, joined: Joined<S, St>) {
        self.0.reserve_exact(1);
        self.0.push((topic, joined));
    }
}

pub(super) struct Reader<S, St> {
    pub(super) conn: Conn<S, St>,
    /// Joined topics and their channels. Apart from the rest, so that
    /// awaiting with `&Conn` borrowed never needs the channels to be `Sync`.
    pub(super) joined: JoinedTopics<S, St>,
    /// Broadcasts its callbacks made that are not delivered yet (see `message`).
    pub(super) in_flight: VecDeque<Arc<Broadcast>>,
    /// The client sent its close frame (or its stream ended): no need to wait for it.
    pub(super) client_closed: bool,
}

/// The connection as its callbacks see it.
pub(super) struct Conn<S, St> {
    pub(super) socket: S,
    pub(super) connect: Connect<St>,
    pub(super) endpoint: Endpoint<S, St>,
    pub(super) serializer: Protocol,
    /// This connection's queue to the writer, and its id in the pub/sub.
    pub(super) link: Subscriber,
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Reader<S, St> {
    /// The reader of an accepted connection, and the queue its writer reads.
    pub(super) fn new(
        socket: S,
        connect: Connect<St>,
        endpoint: Endpoint<S, St>,
        serializer: Protocol,
    ) -> (Reader<S, St>, mailbox::Receiver<Outgoing>) {
        let (queue, outgoing) = mailbox::bounded(endpoint.limits.outbound_queue);
        let link = Subscriber::connection(pubsub::next_id(), queue);
        let reader = Reader {
            conn: Conn { socket, connect, endpoint, serializer, link },
            joined: JoinedTopics::default(),
            in_flight: VecDeque::new(),
            client_closed: false,
        };
        (reader, outgoing)
    }

    /// Subscribes the socket's identity topic, if it has an id (see
    /// [`crate::socket::disconnect`]); returns it, for [`Reader::end`].
    pub(super) fn begin(&mut self) -> Option<String> {
        let identity = self.conn.socket.id().map(|id| identity_topic(&id));
        if let Some(topic) = &identity {
            self.conn.hub().pubsub().subscribe(topic, self.conn.link.clone());
        }
        identity
    }

    /// What the client sent next, when it has sent something. It waits for
    /// room for what it will bring back first: a client that sends faster
    /// than it reads is slowed down (its socket is not read), not dropped
    /// for overflowing its own queue.
    pub(super) fn poll_next_incoming(
        &mut self,
        cx: &mut std::task::Context<'_>,
        frames: &mut ClientFrames,
    ) -> Poll<Option<Result<Incoming, ReadError>>> {
        ready!(self.conn.link.poll_wait_for_room(cx));
        let incoming = ready!(frames.poll_next(cx));
        if let Some(Ok(_)) = incoming {
            // The writer times out a silent client.
            self.conn.link.heard_from_client();
        }
        Poll::Ready(incoming)
    }

    /// Handles what the client sent; `Some` (with the close frame to send)
    /// when the connection ends.
    pub(super) async fn on_incoming(
        &mut self,
        incoming: Option<Result<Incoming, ReadError>>,
    ) -> Option<Closing> {
        let handled = match incoming {
            None => {
                self.client_closed = true;
                return Some(None);
            }
            // The echo RFC 6455 asks for: the client's own code.
            Some(Ok(Incoming::Close(code))) => {
                self.client_closed = true;
                return Some(code.map(|code| (code, "")));
            }
            Some(Err(error)) => return Some(read_error(error)),
            Some(Ok(Incoming::Text(text))) => self.handle(&text).await,
            Some(Ok(Incoming::Binary(_))) => {
                self.conn.reply_error("binary frames are not supported").await;
                Ok(())
            }
            Some(Ok(Incoming::Ping(payload))) => {
                self.conn.link.send(Outgoing::Pong(Box::new(Frame::pong(&payload)))).await;
                Ok(())
            }
            Some(Ok(Incoming::Pong)) => Ok(()),
        };
        handled.err().map(|Panicked| Some(CRASHED))
    }

    /// The cleanup every ending runs: each channel's `leave`, the socket's
    /// `on_disconnect`, the identity topic released.
    pub(super) async fn end(&mut self, closing: Closing, identity: Option<String>) -> Closing {
        self.leave_all().await;
        let disconnected =
            run_callback("on_disconnect", socket_type::<S>(), self.conn.socket.on_disconnect()).await;
        if let Some(topic) = &identity {
            self.conn.hub().pubsub().unsubscribe(topic, self.conn.link.id);
        }
        match disconnected {
            Ok(()) => closing,
            Err(Panicked) => closing.map(|_| CRASHED),
        }
    }

    /// Handles one text frame; `Err` when a callback panicked and the
    /// connection must close.
    pub(super) async fn handle(&mut self, text: &str) -> Result<(), Panicked> {
        // Amber's client answers the server's keep-alive; nothing to do.
        if self.conn.serializer == Protocol::Maze && (text == "pong" || text == "ping") {
            return Ok(());
        }
        telemetry::message_in();
        let mut inbound = match self.conn.serializer.decode(text) {
            Ok(inbound) => inbound,
            Err(error) => {
                self.conn.send(Outbound::decode_error(error)).await;
                return Ok(());
            }
        };
        match std::mem::replace(&mut inbound.kind, InboundKind::Heartbeat) {
            InboundKind::Join { payload, recover } => self.join(&inbound, payload, recover).await,
            InboundKind::Message { subject, payload } => {
                self.message(&inbound, Message { subject, payload }).await
            }
            InboundKind::Leave => self.leave(&inbound).await,
            InboundKind::Heartbeat => {
                self.conn.send(Outbound::ok(&inbound)).await;
                Ok(())
            }
        }
    }
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Conn<S, St> {
    /// The app's hub.
    pub(super) fn hub(&self) -> &crate::Hub {
        &self.endpoint.hub
    }

    /// Takes `topic` off `joined`, telling the writer when it was
    /// recovering (see [`Outgoing::Hold`]); the caller closes the channel.
    pub(super) async fn unjoin(
        &self,
        joined: &mut JoinedTopics<S, St>,
        topic: &str,
    ) -> Option<Joined<S, St>> {
        let left = joined.remove(topic)?;
        if left.recovering {
            self.link.send(Outgoing::LeftRecovering).await;
        }
        Some(left)
    }

    /// Queues a frame for the writer, waiting for room.
    pub(super) async fn send(&self, frame: Outbound) {
        self.link.send(Outgoing::Frame(Box::new(frame))).await;
    }

    /// An error reply to a frame that names no topic or ref.
    pub(super) async fn reply_error(&self, reason: &str) {
        let error = DecodeError { reference: None, topic: String::new(), reason: reason.to_string() };
        self.send(Outbound::decode_error(error)).await;
    }

    /// Phoenix clients always get a reply; maze clients when they sent a ref.
    pub(super) fn wants_reply(&self, inbound: &Inbound) -> bool {
        self.serializer == Protocol::PhoenixV2 || inbound.reference.is_some()
    }

    /// After a panic in a joined channel's callback (the channel is already
    /// gone): Phoenix clients are told the channel crashed and rejoin; for
    /// maze JSON clients the connection closes.
    pub(super) async fn crashed(&self, topic: &str, join_ref: Option<Value>) -> Result<(), Panicked> {
        match self.serializer {
            Protocol::PhoenixV2 => {
                self.send(Outbound::Crashed { join_ref, topic: topic.to_string() }).await;
                Ok(())
            }
            Protocol::Maze => Err(Panicked),
        }
    }

    /// Unsubscribes and untracks its presences, then runs the channel's `leave`.
    pub(super) async fn close_channel(&self, topic: &str, mut joined: Joined<S, St>) -> Result<(), Panicked> {
        self.hub().pubsub().unsubscribe(topic, self.link.id);
        self.hub().presence_tracker().release(self.link.id, topic);
        let mut ctx = Context {
            topic,
            socket: &self.socket,
            connect: &self.connect,
            hub: self.hub(),
            link: &self.link,
            joined: &joined.token,
            held: None,
            wants_presence_state: false,
            sent: Default::default(),
            reply: None,
        };
        telemetry::left(joined.channel_type);
        run_callback("leave", joined.channel_type, joined.channel.leave(&mut ctx)).await
    }
}
