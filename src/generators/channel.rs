//! `maze g channel NAME [--socket S] [--topic T]` and its `maze d channel`.

use anyhow::{Result, anyhow, bail};

use super::{Generator, Mode, Outcome, validate_topic, variables};
use crate::args::ChannelArgs;
use crate::names::{Kind, Name};
use crate::plan::Plan;
use crate::project::Project;
use maze_routing::TopicPattern;

pub fn plan(project: &Project, args: &ChannelArgs, mode: Mode) -> Result<Outcome> {
    let channel = Name::parse(&args.name, Kind::Channel)?;
    let pattern = args.topic.clone().unwrap_or_else(|| format!("{}:*", channel.base));
    validate_topic(&pattern)?;
    let socket = socket_to_attach(project, args.socket.as_deref())?;
    if mode == Mode::Generate
        && let Some(socket) = &socket
    {
        refuse_unreachable(project, socket, &channel, &pattern)?;
        super::refuse_bound_elsewhere(project, &channel, socket, args.write.skip)?;
    }

    let mut plan = Plan::new(&project.root);
    Generator::load("channel", Some(&project.root))?.apply(&mut plan, mode, &{
        let mut context = variables::channel(&channel, &pattern, socket.as_ref(), args.presence);
        context.extend(variables::app(project)?);
        context
    })?;
    let next = (mode == Mode::Generate && socket.is_none()).then(|| {
        format!(
            "No socket to attach {} to yet. Create one with `maze g socket NAME`, or add this line\n\
             to a socket's `fn channels` in src/sockets/:\n\n    channels.add::<crate::channels::{}>({pattern:?});",
            channel.type_name, channel.type_name
        )
    });
    Ok(Outcome { plan, next, preview: None })
}

/// Refuses a channel that `socket` would never route to: one of its
/// patterns, tried first, already matches every topic `pattern` does
/// (regenerating the same channel is not a clash).
fn refuse_unreachable(project: &Project, socket: &Name, channel: &Name, pattern: &str) -> Result<()> {
    let file = format!("src/sockets/{}.rs", socket.file);
    let source = std::fs::read_to_string(project.root.join(&file)).unwrap_or_default();
    let new = TopicPattern::parse(pattern).map_err(|reason| anyhow!("{reason}"))?;
    for taken in crate::routes::channels_of(&source) {
        let same_channel = taken.channel.rsplit("::").next() == Some(channel.type_name.as_str());
        let covered = TopicPattern::parse(&taken.topic).is_ok_and(|taken| taken.covers(&new));
        if covered && !same_channel {
            bail!(
                "topic pattern {pattern:?} is already routed to {} by {:?} in {file}: {} would never be reached. \
                 Nothing was written; choose another --topic",
                taken.channel,
                taken.topic,
                channel.type_name,
            );
        }
    }
    Ok(())
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
