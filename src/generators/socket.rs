//! `maze g socket NAME [CHANNEL...]` and its `maze d socket`.

use anyhow::{Result, bail};

use super::{Generator, Mode, Outcome, validate_path, variables};
use crate::args::SocketArgs;
use crate::names::{Kind, Name};
use crate::plan::Plan;
use crate::project::Project;

pub fn plan(project: &Project, args: &SocketArgs, mode: Mode) -> Result<Outcome> {
    let socket = Name::parse(&args.name, Kind::Socket)?;
    let path = args.path.clone().unwrap_or_else(|| format!("/{}", socket.base));
    validate_path(&path)?;
    if mode == Mode::Generate {
        let served = [path.clone(), format!("{}/websocket", path.trim_end_matches('/'))]
            .map(|path| ("GET".to_string(), path));
        let own = format!("::{}", socket.type_name);
        super::refuse_routed(
            project,
            &served,
            |handler| handler.ends_with(&own),
            "choose another path with --path",
        )?;
    }
    let mut channels: Vec<Name> = Vec::new();
    for input in &args.channels {
        let channel = Name::parse(input, Kind::Channel)?;
        if channels.contains(&channel) {
            bail!("channel {} is named twice", channel.type_name);
        }
        if mode == Mode::Generate {
            super::refuse_bound_elsewhere(project, &channel, &socket, args.write.skip)?;
        }
        channels.push(channel);
    }

    let mut plan = Plan::new(&project.root);
    let app = variables::app(project)?;
    let mut context = variables::socket(&socket);
    context.extend(app.clone());
    context.insert("path", &path);
    let socket_generator = Generator::load("socket", Some(&project.root))?;
    let channel_generator = Generator::load("channel", Some(&project.root))?;
    let channel_contexts: Vec<_> = channels
        .iter()
        .map(|name| {
            let mut context =
                variables::channel(name, &format!("{}:*", name.base), Some(&socket), args.presence);
            context.extend(app.clone());
            context
        })
        .collect();
    // Files first, shared settings last: destroying, they then see whether
    // any socket or channel file is left.
    socket_generator.apply_files(&mut plan, mode, &context)?;
    for channel_context in &channel_contexts {
        channel_generator.apply_files(&mut plan, mode, channel_context)?;
    }
    for channel_context in &channel_contexts {
        channel_generator.edit_toml(&mut plan, mode, channel_context, None)?;
    }
    socket_generator.edit_toml(&mut plan, mode, &context, None)?;
    let embedded = project.is_embedded();
    let next = (mode == Mode::Generate).then(|| match channels.first() {
        Some(channel) if embedded => format!(
            "{} is served at {path} (and {path}/websocket for the phoenix client). Next: `cargo run`,\n\
             then add to a page of the app\n\
             \x20 <script type=\"module\" src=\"/maze/js/app.js\"></script> <div id=\"maze-channels\"></div>\n\
             and open it in two tabs: it joins {}:123. `cargo test` runs its tests.",
            socket.type_name, channel.base
        ),
        Some(channel) => format!(
            "{} is served at {path}. Next: `cargo run`, then open http://127.0.0.1:3000 in two tabs;\n\
             the page joins {}:123, and every visit broadcasts to it. `cargo test` runs its tests.",
            socket.type_name, channel.base
        ),
        None => format!(
            "{} is served at {path}, with no channel yet. Next: `maze g channel Room --socket {}`\n\
             maps the topics room:* to a new RoomChannel.",
            socket.type_name, socket.type_name
        ),
    });
    Ok(Outcome { plan, next, preview: None })
}
