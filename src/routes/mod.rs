//! `maze routes`: the app's routes and sockets, read from its source as text.

mod parse;

use anyhow::{Context, Result};
use heck::ToSnakeCase;
use std::io::Write;

use crate::args::RoutesArgs;
use crate::project::Project;
pub use parse::Route;

/// Every route of the app, sockets with the channels their files map.
pub fn collect(project: &Project) -> Result<Vec<Route>> {
    let router = project.root.join("src/routes.rs");
    let source = std::fs::read_to_string(&router)
        .with_context(|| format!("cannot read the router file {}", router.display()))?;
    let mut routes = parse::routes(&source);
    for route in routes.iter_mut().filter(|r| r.verb == "WS") {
        let type_name = route.handler.rsplit("::").next().unwrap_or(&route.handler);
        let file = project.root.join(format!("src/sockets/{}.rs", type_name.to_snake_case()));
        match std::fs::read_to_string(&file) {
            Ok(socket) => route.channels = Some(parse::channels(&socket)),
            Err(error) => eprintln!(
                "warning: cannot read {} ({error}): channels of {} not listed",
                file.display(),
                route.handler
            ),
        }
    }
    Ok(routes)
}

pub fn run(project: &Project, args: &RoutesArgs) -> Result<()> {
    let routes = collect(project)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &routes)?;
        writeln!(out)?;
        return Ok(());
    }
    write!(out, "{}", table(&routes))?;
    Ok(())
}

/// Verb, path and handler columns; a socket's topics on the lines under it.
fn table(routes: &[Route]) -> String {
    let path_width = routes.iter().map(|r| r.path.len()).max().unwrap_or(0).max(4);
    let mut text = format!("{:<6} {:<path_width$}  {}\n", "Verb", "Path", "Handler");
    for route in routes {
        text.push_str(&format!("{:<6} {:<path_width$}  {}\n", route.verb, route.path, route.handler));
        for channel in route.channels.iter().flatten() {
            text.push_str(&format!(
                "{:<6} {:<path_width$}    {}  {}\n",
                "", "", channel.topic, channel.channel
            ));
        }
    }
    text
}
