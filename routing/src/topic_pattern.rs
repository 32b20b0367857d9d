//! The topic-pattern grammar: `chat_room:*` (a prefix) or `lobby` (one
//! topic). The runtime routes joins with it; the CLI checks the patterns it
//! writes into a socket with it.

/// A socket's topic pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicPattern {
    /// `"chat_room:*"`: any topic that starts with `chat_room:`.
    Prefix(String),
    /// `"lobby"`: that topic only.
    Exact(String),
}

impl TopicPattern {
    /// Reads a pattern: it ends in `*` to match a prefix (`chat_room:*`) or
    /// names one topic exactly; it is not empty, holds no control character
    /// and no `*` but at its end.
    pub fn parse(pattern: &str) -> Result<TopicPattern, String> {
        if pattern.is_empty() {
            return Err("a topic pattern cannot be empty".into());
        }
        if pattern.chars().any(char::is_control) {
            return Err(format!("topic pattern {pattern:?}: control characters are not allowed"));
        }
        let prefix = pattern.strip_suffix('*');
        if prefix.unwrap_or(pattern).contains('*') {
            return Err(format!("topic pattern {pattern:?}: `*` may only end a pattern"));
        }
        Ok(match prefix {
            Some(prefix) => TopicPattern::Prefix(prefix.to_string()),
            None => TopicPattern::Exact(pattern.to_string()),
        })
    }

    /// Whether `topic` is one this pattern routes.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicPattern::Prefix(prefix) => topic.starts_with(prefix.as_str()),
            TopicPattern::Exact(exact) => topic == exact,
        }
    }

    /// Whether every topic `other` routes, this pattern routes too: tried
    /// first, it leaves `other` nothing to reach.
    pub fn covers(&self, other: &TopicPattern) -> bool {
        match (self, other) {
            (TopicPattern::Prefix(prefix), TopicPattern::Prefix(other) | TopicPattern::Exact(other)) => {
                other.starts_with(prefix.as_str())
            }
            (TopicPattern::Exact(exact), TopicPattern::Exact(other)) => exact == other,
            (TopicPattern::Exact(_), TopicPattern::Prefix(_)) => false,
        }
    }

    /// The pattern as written.
    pub fn source(&self) -> String {
        match self {
            TopicPattern::Prefix(prefix) => format!("{prefix}*"),
            TopicPattern::Exact(exact) => exact.clone(),
        }
    }
}
