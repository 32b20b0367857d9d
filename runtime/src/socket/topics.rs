//! [`Channels`]: topic patterns and the channels they lead to.

use super::Channel;

/// A socket's topic patterns, tried in the order they were added.
#[derive(Default)]
pub struct Channels {
    routes: Vec<ChannelRoute>,
}

pub(crate) struct ChannelRoute {
    pattern: TopicPattern,
    channel_type: &'static str,
    make: fn() -> Box<dyn Channel>,
}

impl ChannelRoute {
    pub(crate) fn open(&self) -> Box<dyn Channel> {
        (self.make)()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TopicPattern {
    /// `"chat_room:*"`: any topic that starts with `chat_room:`.
    Prefix(String),
    /// `"lobby"`: that topic only.
    Exact(String),
}

impl TopicPattern {
    fn parse(pattern: &str) -> TopicPattern {
        match pattern.strip_suffix('*') {
            Some(prefix) => {
                assert!(!prefix.contains('*'), "topic pattern {pattern:?}: `*` may only end a pattern");
                TopicPattern::Prefix(prefix.to_string())
            }
            None if pattern.is_empty() => panic!("a topic pattern cannot be empty"),
            None => TopicPattern::Exact(pattern.to_string()),
        }
    }

    fn matches(&self, topic: &str) -> bool {
        match self {
            TopicPattern::Prefix(prefix) => topic.starts_with(prefix.as_str()),
            TopicPattern::Exact(exact) => topic == exact,
        }
    }

    fn source(&self) -> String {
        match self {
            TopicPattern::Prefix(prefix) => format!("{prefix}*"),
            TopicPattern::Exact(exact) => exact.clone(),
        }
    }
}

fn open<C: Channel + Default>() -> Box<dyn Channel> {
    Box::new(C::default())
}

impl Channels {
    /// Routes topics matching `pattern` to a new `C` per join. A pattern ends
    /// in `*` to match a prefix (`"chat_room:*"`) or names one topic exactly.
    ///
    /// # Panics
    /// When the pattern is empty or has a `*` anywhere but at its end.
    pub fn add<C: Channel + Default>(&mut self, pattern: &str) -> &mut Self {
        let channel_type = std::any::type_name::<C>();
        self.routes.push(ChannelRoute {
            pattern: TopicPattern::parse(pattern),
            channel_type,
            make: open::<C>,
        });
        self
    }

    /// The first route whose pattern matches `topic`.
    pub(crate) fn find(&self, topic: &str) -> Option<&ChannelRoute> {
        self.routes.iter().find(|route| route.pattern.matches(topic))
    }

    /// Patterns and channel types, for the route table.
    pub(crate) fn describe(&self) -> Vec<crate::router::ChannelInfo> {
        self.routes
            .iter()
            .map(|route| crate::router::ChannelInfo {
                topic: route.pattern.source(),
                channel: crate::router::in_crate(route.channel_type),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Room;
    impl Channel for Room {}
    #[derive(Default)]
    struct Lobby;
    impl Channel for Lobby {}

    fn channels() -> Channels {
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
    #[should_panic(expected = "may only end")]
    fn a_star_inside_a_pattern_is_refused() {
        Channels::default().add::<Room>("chat:*:x*");
    }
}
