//! The writing half of a connection: what the reader, pub/sub and the
//! connection's `Client` handles queue for the client, written in batches
//! (one `writev` per burst), with the pings, the idle timeout, the
//! slow-consumer close and the closing handshake; a recovery's replay
//! merged with the broadcasts held while it was read.

use super::*;

/// A connection's writing half, and what decides when the connection ends.
pub(super) struct Writer {
    pub(super) sink: FrameWriter,
    pub(super) serializer: Protocol,
    pub(super) outgoing: mailbox::Receiver<Outgoing>,
    /// How many joined topics the client asked to recover (a join that
    /// asks holds the topic first, see [`Outgoing::Hold`]): broadcast
    /// frames carry their position while there is one. Others have no use for it.
    pub(super) recovering: u16,
    /// Topics whose broadcasts wait for a replay (see [`Outgoing::Hold`]).
    /// (A list, not a map: there are as many as joins being replayed, few,
    /// and every connection's task holds this field.)
    pub(super) holding: Vec<(String, Vec<Arc<Broadcast>>)>,
    /// What the queue held when the writer last took it.
    pub(super) batch: VecDeque<Outgoing>,
    /// The frames of `batch`, in order, until they are written.
    pub(super) frames: Vec<Written>,
    pub(super) limits: Arc<Limits>,
    /// The socket's type, for telemetry.
    pub(super) socket_type: &'static str,
    /// Counts the connection as open until the writer is dropped; tells it
    /// when the server shuts down.
    pub(super) tracked: crate::shutdown::Tracked,
}

/// What woke a connection's task.
pub(super) enum Next {
    Duty(Duty),
    Incoming(Option<Result<Incoming, ReadError>>),
}

/// How a connection ends.
pub(super) enum Ending {
    /// The client's side: it closed, its frames broke the protocol, or a
    /// callback crashed.
    ReaderDone(Closing),
    /// The writer decides: too slow, idle, shutting down, disconnected.
    Stop(Closing),
    /// As `Stop`, but a write was cut short (the client does not read): a
    /// close frame cannot follow a partial frame, so the connection is dropped.
    Abort(Closing),
}

/// What a writer has to do (see [`Writer::poll_duty`]).
pub(super) enum Duty {
    Queued(Drained),
    Tick,
    ShuttingDown,
}

/// The writer's timer (see [`Writer::timer`]).
pub(super) struct Timer {
    pub(super) tick: tokio::time::Interval,
    pub(super) pinged: Instant,
}

/// A frame to write: a broadcast's, shared by every subscriber (written
/// from the broadcast itself, not copied), or one of this connection's.
pub(super) enum Written {
    Broadcast(Arc<Broadcast>),
    /// Broadcasts as they were offered, all of them.
    Broadcasts(Arc<[Arc<Broadcast>]>),
    Own(Frame),
}

impl Written {
    pub(super) fn count(&self) -> usize {
        match self {
            Written::Broadcasts(broadcasts) => broadcasts.len(),
            Written::Broadcast(_) | Written::Own(_) => 1,
        }
    }

    /// What is written, frame by frame.
    pub(super) fn bytes(&self, serializer: Protocol, positions: bool) -> impl Iterator<Item = &[u8]> {
        let (own, broadcasts): (Option<&[u8]>, &[Arc<Broadcast>]) = match self {
            Written::Own(frame) => (Some(frame.as_bytes()), &[]),
            Written::Broadcast(broadcast) => (None, std::slice::from_ref(broadcast)),
            Written::Broadcasts(broadcasts) => (None, broadcasts),
        };
        own.into_iter().chain(
            broadcasts.iter().map(move |broadcast| serializer.broadcast(broadcast, positions).as_bytes()),
        )
    }
}

impl Writer {
    pub(super) fn new(
        sink: FrameWriter,
        serializer: Protocol,
        outgoing: mailbox::Receiver<Outgoing>,
        limits: Arc<Limits>,
        socket_type: &'static str,
        tracked: crate::shutdown::Tracked,
    ) -> Writer {
        Writer {
            sink,
            serializer,
            outgoing,
            recovering: 0,
            holding: Vec::new(),
            batch: VecDeque::new(),
            frames: Vec::new(),
            limits,
            socket_type,
            tracked,
        }
    }

    /// One timer for the pings and for closing a client silent for
    /// `idle_timeout` (what it sends, pongs included, counts).
    pub(super) fn timer(&self) -> Timer {
        let (ping_every, idle_timeout) = (self.limits.ping_interval, self.limits.idle_timeout);
        let every = ping_every.min(idle_timeout / 4).max(std::time::Duration::from_millis(10));
        Timer { tick: interval_at(Instant::now() + every, every), pinged: Instant::now() }
    }

    /// Ready with something to do: the timer, the server shutting down,
    /// what is queued for the client (in that order: a tick is due at most
    /// once per period, while a busy queue would always be ready). Only
    /// waits (see [`Writer::perform`]).
    pub(super) fn poll_duty(&mut self, cx: &mut std::task::Context<'_>, timer: &mut Timer) -> Poll<Duty> {
        if timer.tick.poll_tick(cx).is_ready() {
            return Poll::Ready(Duty::Tick);
        }
        if self.tracked.poll_signalled(cx).is_ready() {
            return Poll::Ready(Duty::ShuttingDown);
        }
        self.outgoing.poll_drain(cx, &mut self.batch).map(Duty::Queued)
    }

    /// Does `duty`; `Some` when the connection must end. Not to be
    /// cancelled: it may be writing.
    pub(super) async fn perform(&mut self, duty: Duty, timer: &mut Timer) -> Option<Ending> {
        match duty {
            Duty::Queued(Drained::Items) => self.write_within_limits().await,
            Duty::Queued(Drained::Overflowed) => Some(Ending::Stop(TOO_SLOW)),
            // Every sender is gone: the connection is ending anyway.
            Duty::Queued(Drained::Ended) => Some(Ending::ReaderDone(None)),
            Duty::Tick => {
                if self.outgoing.client_silent_for() >= self.limits.idle_timeout {
                    return Some(Ending::Stop(Some((close::NORMAL, "idle timeout"))));
                }
                if timer.pinged.elapsed() >= self.limits.ping_interval {
                    timer.pinged = Instant::now();
                    if self.ping().await.is_err() {
                        return Some(Ending::Stop(None));
                    }
                }
                None
            }
            Duty::ShuttingDown => Some(Ending::Stop(Some((close::GOING_AWAY, "server shutting down")))),
        }
    }

    /// [`Writer::write_batch`], for a client that may have stopped reading:
    /// when its queue fills up meanwhile, a slow client gets the rest of this
    /// write and a close frame, one that stopped reading is dropped; so is
    /// one whose write has not ended after `idle_timeout`.
    pub(super) async fn write_within_limits(&mut self) -> Option<Ending> {
        let stall_limit = self.limits.idle_timeout;
        let overflow = self.outgoing.overflow_watch();
        let mut write = std::pin::pin!(self.write_batch());
        // Most writes end at once (the socket has room): no timer then.
        if let Some(ending) = (&mut write).now_or_never() {
            return ending;
        }
        tokio::select! {
            ending = &mut write => ending,
            _ = overflow.overflowed() => match tokio::time::timeout(FINISH_WRITE, &mut write).await {
                Ok(_) => Some(Ending::Stop(TOO_SLOW)),
                Err(_) => Some(Ending::Abort(TOO_SLOW)),
            },
            _ = tokio::time::sleep(stall_limit) => Some(Ending::Abort(TOO_SLOW)),
        }
    }

    /// A WebSocket ping every client answers by itself, plus Amber's text
    /// "ping". Also frees the batch buffers a connection that went quiet
    /// still holds: idle connections cost as little as they can.
    pub(super) async fn ping(&mut self) -> std::io::Result<()> {
        self.batch = VecDeque::new();
        self.frames = Vec::new();
        self.outgoing.release_memory();
        let ping = Frame::ping();
        let amber = (self.serializer == Protocol::Maze).then(|| Frame::text("ping"));
        self.sink.write([Some(&ping), amber.as_ref()].into_iter().flatten().map(Frame::as_bytes)).await
    }

    /// Sends the close frame (unless a write was cut short): the server's
    /// reason, or (the client closed) the echo RFC 6455 asks for,
    /// best-effort (the client may be gone). The caller closes the stream.
    pub(super) async fn close(&mut self, closing: Closing, write_it: bool) {
        if write_it {
            let (code, reason) = closing.unwrap_or((close::NORMAL, ""));
            let _ = self.sink.write([Frame::close(code, reason).as_bytes()]).await;
        }
        telemetry::disconnected(self.socket_type, closing);
    }

    /// Writes everything the queue held, in one go: a burst of broadcasts
    /// becomes one system call.
    pub(super) async fn write_batch(&mut self) -> Option<Ending> {
        let mut ending = None;
        while let Some(item) = self.batch.pop_front() {
            if let Outgoing::AfterBroadcasts(after) = item {
                let (broadcasts, reply) = *after;
                for broadcast in &broadcasts {
                    let _ = tokio::time::timeout(REPLY_WAIT, broadcast.delivered.acquire()).await;
                }
                // Delivered: what they are for this client is queued by now,
                // in this batch or still in the queue. All of it goes first.
                self.outgoing.take_queued(&mut self.batch);
                self.batch.push_back(Outgoing::Frame(Box::new(reply)));
                continue;
            }
            if let Some(stop) = self.frame(item) {
                ending = Some(stop);
                self.batch.clear();
            }
        }
        let taken = self.frames.iter().map(Written::count).sum();
        telemetry::messages_out(taken);
        let (serializer, positions) = (self.serializer, self.recovering > 0);
        let frames = self.frames.iter().flat_map(|written| written.bytes(serializer, positions));
        let result = self.sink.write(frames).await;
        if taken < BURST {
            // Freed: a connection that goes quiet after a few messages holds
            // no buffer. (The queue's turn comes at the next batch, which
            // swaps this empty one in.)
            self.batch = VecDeque::new();
            self.frames = Vec::new();
        } else {
            // Kept for the burst that may follow; freed at the next ping
            // if none does (see `ping`).
            self.frames.clear();
        }
        match result {
            Err(_) => Some(Ending::Stop(None)),
            Ok(()) => ending,
        }
    }

    /// Adds what `item` becomes on the wire to `self.frames`; `Some` when the
    /// connection must end after what came before it.
    pub(super) fn frame(&mut self, item: Outgoing) -> Option<Ending> {
        match item {
            Outgoing::Broadcast(broadcast) if broadcast.topic.starts_with('\u{1}') => {
                if broadcast.subject == DISCONNECT {
                    return Some(Ending::Stop(Some((close::NORMAL, "disconnected by the server"))));
                }
            }
            Outgoing::Broadcast(broadcast) => {
                match self.holding.iter_mut().find(|(topic, _)| *topic == broadcast.topic) {
                    // What waits for a replay counts against the queue's
                    // bound too: a client whose recovery is that slow
                    // reconnects and recovers from where it was.
                    Some((_, held)) if held.len() >= self.limits.outbound_queue => {
                        return Some(Ending::Stop(TOO_SLOW));
                    }
                    Some((_, held)) => held.push(broadcast),
                    None => self.frames.push(Written::Broadcast(broadcast)),
                }
            }
            // One topic's: written as they are, unless the topic is held (or the runtime's own).
            Outgoing::Broadcasts(broadcasts) => {
                let topic = &broadcasts[0].topic;
                if topic.starts_with('\u{1}') || self.holding.iter().any(|(held, _)| held == topic) {
                    for broadcast in broadcasts.iter() {
                        if let Some(stop) = self.frame(Outgoing::Broadcast(broadcast.clone())) {
                            return Some(stop);
                        }
                    }
                } else {
                    self.frames.push(Written::Broadcasts(broadcasts));
                }
            }
            Outgoing::Frame(frame) => {
                if let Some(text) = self.serializer.encode(&frame) {
                    self.frames.push(Written::Own(Frame::text(&text)));
                }
            }
            Outgoing::Hold(topic) => {
                self.recovering += 1;
                self.holding.retain(|(held, _)| *held != topic);
                self.holding.push((topic, Vec::new()));
            }
            Outgoing::Replay(replay) => {
                let (topic, recovery) = *replay;
                self.replay(topic, recovery);
            }
            Outgoing::LeftRecovering => self.recovering = self.recovering.saturating_sub(1),
            Outgoing::Pong(pong) => self.frames.push(Written::Own(*pong)),
            // `write_batch` waits for the broadcasts first; the reply is a frame like any other.
            Outgoing::AfterBroadcasts(after) => return self.frame(Outgoing::Frame(Box::new(after.1))),
        }
        None
    }

    /// What the client missed, its position (`maze_recovery`), then the
    /// broadcasts held meanwhile: each once, in order. After a recovery, a
    /// held broadcast the replay already sent is not sent again.
    pub(super) fn replay(&mut self, topic: String, recovery: Recovery) {
        let replayed_up_to = recovery.position.clone().filter(|_| recovery.recovered == Some(true));
        let status =
            Outbound::Message { topic: topic.clone(), subject: RECOVERY.into(), payload: recovery.payload() };
        self.frames.extend(recovery.missed.into_iter().map(Written::Broadcast));
        self.frames.extend(self.serializer.encode(&status).map(|text| Written::Own(Frame::text(&text))));
        let held = match self.holding.iter().position(|(held, _)| *held == topic) {
            Some(at) => self.holding.swap_remove(at).1,
            None => Vec::new(),
        };
        for broadcast in held {
            let sent = match (broadcast.position(), &replayed_up_to) {
                (Some(position), Some(up_to)) => {
                    position.epoch == up_to.epoch && position.offset <= up_to.offset
                }
                _ => false,
            };
            if !sent {
                self.frames.push(Written::Broadcast(broadcast));
            }
        }
    }
}
