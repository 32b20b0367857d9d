//! `maze g socket NAME [CHANNEL...]`.

use anyhow::{bail, Result};

use super::{add_channel, add_socket, validate_path};
use crate::args::SocketArgs;
use crate::names::{Kind, Name};
use crate::plan::Plan;
use crate::project::Project;

pub fn run(project: &Project, args: &SocketArgs) -> Result<()> {
    let socket = Name::parse(&args.name, Kind::Socket)?;
    let path = args.path.clone().unwrap_or_else(|| format!("/{}", socket.base));
    validate_path(&path)?;
    // No channel named: one channel named after the socket (ChatSocket → ChatChannel).
    let inputs = if args.channels.is_empty() { vec![socket.base.clone()] } else { args.channels.clone() };
    let mut channels: Vec<Name> = Vec::new();
    for input in &inputs {
        let channel = Name::parse(input, Kind::Channel)?;
        if channels.contains(&channel) {
            bail!("channel {} is named twice", channel.type_name);
        }
        channels.push(channel);
    }

    let mut plan = Plan::new(&project.root, args.write);
    add_socket(&mut plan, &socket, &path)?;
    for channel in &channels {
        add_channel(&mut plan, channel, &format!("{}:*", channel.base), Some(&socket))?;
    }
    plan.apply()?;
    if !args.write.dry_run {
        println!(
            "\n{} is served at {path}. Next: `cargo run`, then open http://127.0.0.1:3000 in two tabs;\n\
             the page joins {}:123, and every visit broadcasts to it.",
            socket.type_name, channels[0].base
        );
    }
    Ok(())
}
