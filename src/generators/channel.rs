//! `maze g channel NAME [--socket S] [--topic T]` and its `maze d channel`.

use anyhow::{bail, Result};
use tera::Context;

use super::{socket, validate_topic, Generator, Mode, Outcome};
use crate::args::ChannelArgs;
use crate::names::{Kind, Name};
use crate::plan::Plan;
use crate::project::Project;

pub fn plan(project: &Project, args: &ChannelArgs, mode: Mode) -> Result<Outcome> {
    let channel = Name::parse(&args.name, Kind::Channel)?;
    let pattern = args.topic.clone().unwrap_or_else(|| format!("{}:*", channel.base));
    validate_topic(&pattern)?;
    let socket = socket_to_attach(project, args.socket.as_deref())?;

    let mut plan = Plan::new(&project.root, args.write);
    Generator::load("channel", Some(&project.root))?.apply(
        &mut plan,
        mode,
        &context(&channel, &pattern, socket.as_ref()),
    )?;
    let next = (mode == Mode::Generate && socket.is_none()).then(|| {
        format!(
            "No socket to attach {} to yet. Create one with `maze g socket NAME`, or add this line\n\
             to a socket's `fn channels` in src/sockets/:\n\n    channels.add::<crate::channels::{}>({pattern:?});",
            channel.type_name, channel.type_name
        )
    });
    Ok(Outcome { plan, next })
}

/// A channel's template variables.
pub fn context(channel: &Name, pattern: &str, socket: Option<&Name>) -> Context {
    let mut context = Context::new();
    context.insert("channel_type", &channel.type_name);
    context.insert("channel_file", &channel.file);
    context.insert("channel_js", &channel.js);
    context.insert("pattern", pattern);
    context.insert("demo_topic", &demo_topic(pattern));
    match socket {
        Some(socket) => context.insert("socket", &socket::context(socket).into_json()),
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

/// The socket named by `--socket`, else the app's only socket, else none.
fn socket_to_attach(project: &Project, named: Option<&str>) -> Result<Option<Name>> {
    let existing = project.sockets()?;
    if let Some(named) = named {
        let socket = Name::parse(named, Kind::Socket)?;
        if !existing.contains(&socket.file) {
            bail!(
                "the app has no socket {}: src/sockets/{}.rs does not exist (create it with `maze g socket {}`)",
                socket.type_name,
                socket.file,
                socket.type_name
            );
        }
        return Ok(Some(socket));
    }
    match existing.as_slice() {
        [] => Ok(None),
        [only] => Ok(Some(Name::parse(only, Kind::Socket)?)),
        several => bail!("the app has several sockets ({}): choose one with --socket", several.join(", ")),
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
