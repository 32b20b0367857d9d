//! `maze routes [--json] [-g PATTERN] [--sockets]`.

use anyhow::Result;
use std::io::Write;

use crate::args::RoutesArgs;
use crate::project::Project;
use crate::routes::{self, RouteInfo};

pub fn run(project: &Project, args: &RoutesArgs) -> Result<()> {
    let mut routes = routes::collect(project)?;
    routes.retain(|route| {
        (!args.sockets || route.verb == "WS") && args.grep.as_deref().is_none_or(|p| matches(route, p))
    });
    // Buffered: a large table is one write, not one per line.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &routes)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", RouteInfo::format_table(&routes))?;
    }
    out.flush()?;
    Ok(())
}

/// Whether `pattern` is in the route's verb, path, handler or a channel's topic or type.
fn matches(route: &RouteInfo, pattern: &str) -> bool {
    [&route.verb, &route.path, &route.handler].iter().any(|field| field.contains(pattern))
        || route.channels.iter().flatten().any(|c| c.topic.contains(pattern) || c.channel.contains(pattern))
}
