//! The template variables of the socket and channel generators, defined once:
//! `maze g socket` renders its channels with the socket's variables, and
//! `maze g channel` attaches to an existing socket with the same ones.

use tera::Context;

use crate::names::Name;
use crate::project::Project;

/// What every generator run inside an app knows of it: `app_crate`, the
/// crate its generated tests import; `embedded`, whether it is an axum app
/// `maze init` set up (its sockets' routes are in `src/sockets/mod.rs`, it
/// has no home page of maze's); `app_state`, where the state type its
/// sockets and channels see is, from the crate's root.
pub fn app(project: &Project) -> anyhow::Result<Context> {
    let mut context = Context::new();
    context.insert("app_crate", &project.crate_name()?);
    let embedded = project.is_embedded();
    context.insert("embedded", &embedded);
    context.insert("app_state", if embedded { "sockets::AppState" } else { "AppState" });
    Ok(context)
}

/// A socket's template variables; channels get them as `socket`.
pub fn socket(socket: &Name) -> Context {
    let mut context = Context::new();
    context.insert("socket_type", &socket.type_name);
    context.insert("socket_file", &socket.file);
    context.insert("socket_js", &socket.js);
    context
}

/// A channel's template variables.
pub fn channel(channel: &Name, pattern: &str, socket: Option<&Name>, presence: bool) -> Context {
    let mut context = Context::new();
    context.insert("presence", &presence);
    context.insert("channel_type", &channel.type_name);
    context.insert("channel_file", &channel.file);
    context.insert("channel_js", &channel.js);
    context.insert("pattern", pattern);
    context.insert("demo_topic", &demo_topic(pattern));
    match socket {
        Some(socket) => context.insert("socket", &self::socket(socket).into_json()),
        None => context.insert("socket", &false),
    }
    context
}

/// The topic the demo joins and the home page announces visits on: `chat_room:123`.
fn demo_topic(pattern: &str) -> String {
    match pattern.strip_suffix('*') {
        Some(prefix) => format!("{prefix}123"),
        None => pattern.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_topics() {
        assert_eq!(demo_topic("chat_room:*"), "chat_room:123");
        assert_eq!(demo_topic("lobby"), "lobby");
    }
}
