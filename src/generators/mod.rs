//! The generators. Each turns its arguments into a [`Plan`]: files rendered
//! from `templates/<generator>/`, and lines inserted into the app's files.

pub mod channel;
pub mod new;
pub mod socket;

use anyhow::{bail, Result};
use tera::Context;

use crate::lexer::Lang;
use crate::names::Name;
use crate::patch;
use crate::plan::Plan;
use crate::templates;

/// Files and wiring of a socket: its Rust and JS files, `mod.rs`, the route,
/// the runtime's websockets feature and the `[websockets]` settings.
pub(crate) fn add_socket(plan: &mut Plan, socket: &Name, path: &str) -> Result<()> {
    let mut context = socket_context(socket);
    context.insert("path", path);
    for file in templates::render_all("socket", &context)? {
        plan.create(file.path, file.contents)?;
    }
    let (file, type_name) = (&socket.file, &socket.type_name);
    plan.inject(
        "src/sockets/mod.rs",
        Lang::Rust,
        "// maze:mods",
        &format!("pub mod {file};\npub use {file}::{type_name};"),
    )?;
    plan.inject(
        "src/routes.rs",
        Lang::Rust,
        "// maze:sockets",
        &format!("routes.socket::<crate::sockets::{type_name}>({path:?});"),
    )?;
    plan.edit_toml("Cargo.toml", |doc| patch::toml::add_maze_feature(doc, "websockets"))?;
    plan.edit_toml("maze.toml", patch::toml::ensure_websockets_table)?;
    Ok(())
}

/// Files and wiring of a channel: its Rust and JS files, `mod.rs`, the page's
/// import and, given a socket, the socket's topic line and the home page's
/// visit broadcast on the channel's demo topic.
pub(crate) fn add_channel(
    plan: &mut Plan,
    channel: &Name,
    pattern: &str,
    socket: Option<&Name>,
) -> Result<()> {
    let demo_topic = demo_topic(pattern);
    let mut context = Context::new();
    context.insert("channel_type", &channel.type_name);
    context.insert("channel_file", &channel.file);
    context.insert("channel_js", &channel.js);
    context.insert("pattern", pattern);
    context.insert("demo_topic", &demo_topic);
    match socket {
        Some(socket) => context.insert("socket", &socket_context(socket).into_json()),
        None => context.insert("socket", &false),
    }
    for file in templates::render_all("channel", &context)? {
        plan.create(file.path, file.contents)?;
    }
    let (file, type_name) = (&channel.file, &channel.type_name);
    plan.inject(
        "src/channels/mod.rs",
        Lang::Rust,
        "// maze:mods",
        &format!("pub mod {file};\npub use {file}::{type_name};"),
    )?;
    plan.inject(
        "public/js/app.js",
        Lang::JavaScript,
        "// maze:imports",
        &format!("import \"./channels/{file}.js\";"),
    )?;
    if let Some(socket) = socket {
        plan.inject(
            format!("src/sockets/{}.rs", socket.file),
            Lang::Rust,
            "// maze:channels",
            &channel_line(channel, pattern),
        )?;
        plan.inject(
            "src/controllers/home.rs",
            Lang::Rust,
            "// maze:broadcasts",
            &format!(
                "crate::sockets::{}::broadcast(\n    \"message\",\n    {demo_topic:?},\n    \"message_new\",\n    json!({{\"message\": \"A new visitor!\"}}),\n);",
                socket.type_name
            ),
        )?;
    }
    Ok(())
}

/// The line in a socket's `channels()` that maps `pattern` to `channel`.
pub(crate) fn channel_line(channel: &Name, pattern: &str) -> String {
    format!("channels.add::<crate::channels::{}>({pattern:?});", channel.type_name)
}

fn socket_context(socket: &Name) -> Context {
    let mut context = Context::new();
    context.insert("socket_type", &socket.type_name);
    context.insert("socket_file", &socket.file);
    context.insert("socket_js", &socket.js);
    context
}

/// The topic the demo joins and the home page announces visits on: `chat_room:123`.
fn demo_topic(pattern: &str) -> String {
    match pattern.strip_suffix('*') {
        Some(prefix) => format!("{prefix}123"),
        None => pattern.to_string(),
    }
}

/// A socket's URL path: `/chat`, `/admin/live`.
pub(crate) fn validate_path(path: &str) -> Result<()> {
    let valid = path.starts_with('/')
        && !path.contains("//")
        && path.chars().all(|c| c.is_ascii_alphanumeric() || "/_-.~".contains(c));
    if !valid {
        bail!("{path:?} is not a socket path: it must start with / and hold only letters, digits and / _ - . ~ (e.g. /chat)");
    }
    Ok(())
}

/// A topic pattern: `lobby`, `chat_room:*`.
pub(crate) fn validate_topic(pattern: &str) -> Result<()> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    let valid = !body.is_empty() && body.chars().all(|c| c.is_ascii_alphanumeric() || "_-:./".contains(c));
    if !valid {
        bail!("{pattern:?} is not a topic pattern: use letters, digits and _ - : . /, optionally ending in * (e.g. chat_room:*)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_topics() {
        assert_eq!(demo_topic("chat_room:*"), "chat_room:123");
        assert_eq!(demo_topic("lobby"), "lobby");
    }

    #[test]
    fn paths_and_topics_are_checked() {
        assert!(validate_path("/chat").is_ok());
        assert!(validate_path("/admin/live").is_ok());
        for bad in ["chat", "/a b", "/\"x", "//x", ""] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
        assert!(validate_topic("chat_room:*").is_ok());
        assert!(validate_topic("lobby").is_ok());
        for bad in ["*", "a*b*", "a\"", "", "a b:*"] {
            assert!(validate_topic(bad).is_err(), "{bad:?}");
        }
    }
}
