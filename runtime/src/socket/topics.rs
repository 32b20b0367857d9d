//! [`Channels`]: topic patterns and the channels they lead to.

use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

use super::{Channel, Context, Message, Socket};
use maze_routing::TopicPattern;

/// A socket's topic patterns, tried in the order they were added.
///
/// ```
/// use maze::prelude::*;
/// # #[derive(Default)] struct ChatSocket;
/// # #[derive(Default)] struct LobbyChannel;
/// # impl<S: Socket> Channel<S> for LobbyChannel {}
/// # #[derive(Default)] struct RoomChannel;
/// # impl<S: Socket> Channel<S> for RoomChannel {}
///
/// impl Socket for ChatSocket {
///     fn channels(channels: &mut Channels<Self>) {
///         channels
///             .add::<LobbyChannel>("chat_room:lobby") // exactly this topic
///             .add::<RoomChannel>("chat_room:*"); // any other chat_room: topic
///     }
/// }
/// ```
pub struct Channels<S, St = ()> {
    routes: Vec<ChannelRoute<S, St>>,
    /// Patterns that could not be read: reported when the app starts.
    errors: Vec<String>,
}

impl<S, St> Default for Channels<S, St> {
    fn default() -> Self {
        Channels { routes: Vec::new(), errors: Vec::new() }
    }
}

pub(crate) struct ChannelRoute<S, St> {
    pattern: TopicPattern,
    channel_type: &'static str,
    make: fn() -> Box<dyn DynChannel<S, St>>,
}

impl<S, St> ChannelRoute<S, St> {
    pub(crate) fn open(&self) -> Box<dyn DynChannel<S, St>> {
        (self.make)()
    }

    /// The channel's type, as telemetry labels it.
    pub(crate) fn channel_type(&self) -> &'static str {
        crate::type_names::in_crate(self.channel_type)
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Channel`] with its futures boxed, so a connection can hold channels of
/// different types: the boxing users never see.
pub(crate) trait DynChannel<S, St>: Send {
    fn join<'a>(
        &'a mut self,
        ctx: &'a mut Context<'_, S, St>,
        payload: Value,
    ) -> BoxFuture<'a, Result<Value, String>>;
    fn message<'a>(&'a mut self, ctx: &'a mut Context<'_, S, St>, message: Message) -> BoxFuture<'a, ()>;
    fn leave<'a>(&'a mut self, ctx: &'a mut Context<'_, S, St>) -> BoxFuture<'a, ()>;
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static, C: Channel<S, St>> DynChannel<S, St> for C {
    fn join<'a>(
        &'a mut self,
        ctx: &'a mut Context<'_, S, St>,
        payload: Value,
    ) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(Channel::join(self, ctx, payload))
    }

    fn message<'a>(&'a mut self, ctx: &'a mut Context<'_, S, St>, message: Message) -> BoxFuture<'a, ()> {
        Box::pin(Channel::message(self, ctx, message))
    }

    fn leave<'a>(&'a mut self, ctx: &'a mut Context<'_, S, St>) -> BoxFuture<'a, ()> {
        Box::pin(Channel::leave(self, ctx))
    }
}

fn open<S: Socket<St>, St: Clone + Send + Sync + 'static, C: Channel<S, St> + Default>()
-> Box<dyn DynChannel<S, St>> {
    Box::new(C::default())
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Channels<S, St> {
    /// Routes topics matching `pattern` to a new `C` per join. A pattern ends
    /// in `*` to match a prefix (`"chat_room:*"`) or names one topic exactly.
    /// A pattern that is empty, holds control characters or has a `*`
    /// anywhere but at its end stops the app at startup with the reason; so
    /// does one that an earlier pattern already routes (the same pattern
    /// twice, or `room:1` after `room:*`), naming both channels.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # #[derive(Default)] struct LobbyChannel;
    /// # impl<S: Socket> Channel<S> for LobbyChannel {}
    /// # #[derive(Default)] struct RoomChannel;
    /// # impl<S: Socket> Channel<S> for RoomChannel {}
    ///
    /// impl Socket for ChatSocket {
    ///     fn channels(channels: &mut Channels<Self>) {
    ///         channels
    ///             .add::<LobbyChannel>("chat_room:lobby") // exactly this topic
    ///             .add::<RoomChannel>("chat_room:*"); // any other chat_room: topic
    ///     }
    /// }
    /// ```
    pub fn add<C: Channel<S, St> + Default>(&mut self, pattern: &str) -> &mut Self {
        let channel_type = std::any::type_name::<C>();
        let pattern = match TopicPattern::parse(pattern) {
            Ok(pattern) => pattern,
            Err(error) => {
                self.errors.push(format!("{} in {}", error, crate::type_names::in_crate(channel_type)));
                return self;
            }
        };
        if let Some(earlier) = self.routes.iter().find(|earlier| earlier.pattern.covers(&pattern)) {
            self.errors.push(format!(
                "topic pattern {:?} of {} is already routed to {} by {:?}: it would never be reached",
                pattern.source(),
                crate::type_names::in_crate(channel_type),
                crate::type_names::in_crate(earlier.channel_type),
                earlier.pattern.source(),
            ));
            return self;
        }
        self.routes.push(ChannelRoute { pattern, channel_type, make: open::<S, St, C> });
        self
    }
}

impl<S, St> Channels<S, St> {
    /// The first route whose pattern matches `topic`.
    pub(crate) fn find(&self, topic: &str) -> Option<&ChannelRoute<S, St>> {
        self.routes.iter().find(|route| route.pattern.matches(topic))
    }

    /// Why the patterns cannot be used, if they cannot.
    pub(crate) fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Patterns and channel types, for the route table.
    pub(crate) fn describe(&self) -> Vec<crate::ChannelInfo> {
        self.routes
            .iter()
            .map(|route| crate::ChannelInfo {
                topic: route.pattern.source(),
                channel: crate::type_names::in_crate(route.channel_type).to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct TestSocket;
    impl Socket for TestSocket {
        fn channels(_: &mut Channels<Self>) {}
    }
    #[derive(Default)]
    struct Room;
    impl Channel<TestSocket> for Room {}
    #[derive(Default)]
    struct Lobby;
    impl Channel<TestSocket> for Lobby {}

    fn channels() -> Channels<TestSocket> {
        let mut channels = Channels::default();
        channels.add::<Lobby>("lobby").add::<Room>("chat_room:*");
        channels
    }

    #[test]
    fn prefix_patterns_match_any_suffix() {
        let channels = channels();
        assert!(channels.find("chat_room:123").unwrap().channel_type.ends_with("::Room"));
        assert!(channels.find("chat_room:").unwrap().channel_type.ends_with("::Room"));
        assert!(channels.find("chat_room").is_none());
        assert!(channels.find("chat_rooms:1").is_none());
    }

    #[test]
    fn exact_patterns_match_themselves_only() {
        let channels = channels();
        assert!(channels.find("lobby").unwrap().channel_type.ends_with("::Lobby"));
        assert!(channels.find("lobby:1").is_none());
    }

    #[test]
    fn describes_patterns_in_order() {
        let described: Vec<_> = channels().describe().into_iter().map(|c| (c.topic, c.channel)).collect();
        assert_eq!(
            described,
            [
                ("lobby".to_string(), "socket::topics::tests::Lobby".to_string()),
                ("chat_room:*".to_string(), "socket::topics::tests::Room".to_string())
            ]
        );
    }

    #[test]
    fn a_pattern_an_earlier_one_routes_is_reported_naming_both_channels() {
        let mut channels = Channels::<TestSocket>::default();
        channels.add::<Room>("auction:*").add::<Lobby>("auction:*").add::<Lobby>("auction:7");
        channels.add::<Lobby>("lobby").add::<Room>("lobby").add::<Room>("lobby:*");
        assert_eq!(
            channels.errors(),
            [
                "topic pattern \"auction:*\" of socket::topics::tests::Lobby is already routed to \
                 socket::topics::tests::Room by \"auction:*\": it would never be reached",
                "topic pattern \"auction:7\" of socket::topics::tests::Lobby is already routed to \
                 socket::topics::tests::Room by \"auction:*\": it would never be reached",
                "topic pattern \"lobby\" of socket::topics::tests::Room is already routed to \
                 socket::topics::tests::Lobby by \"lobby\": it would never be reached",
            ]
        );
        assert!(channels.find("lobby:1").is_some(), "a broader pattern after a narrower one is fine");
    }

    #[test]
    fn bad_patterns_are_reported_not_panicked() {
        let mut channels = Channels::<TestSocket>::default();
        channels.add::<Room>("chat:*:x*").add::<Room>("").add::<Lobby>("lobby");
        assert_eq!(
            channels.errors(),
            [
                "topic pattern \"chat:*:x*\": `*` may only end a pattern in socket::topics::tests::Room",
                "a topic pattern cannot be empty in socket::topics::tests::Room"
            ]
        );
        assert!(channels.find("lobby").is_some(), "good patterns still work");
    }
}
