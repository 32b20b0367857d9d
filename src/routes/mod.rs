//! `maze routes`: the app's routes and sockets, read from its source as text.

mod parse;

use anyhow::{Context, Result};
use heck::ToSnakeCase;

use crate::project::Project;
pub use parse::channels as channels_of;
// The runtime's definition of the route table, so both print the same JSON.
pub use maze_routing::{ChannelInfo, RouteInfo};

/// Every route of the app, sockets with the channels their files map.
pub fn collect(project: &Project) -> Result<Vec<RouteInfo>> {
    let mut routes = if project.is_embedded() { embedded_routes(project)? } else { app_routes(project)? };
    for route in routes.iter_mut().filter(|r| r.verb == "WS") {
        route.handler = defining_path(project, "sockets", &route.handler);
        let file = project.root.join(format!("src/{}.rs", module_of(&route.handler)));
        match std::fs::read_to_string(&file) {
            Ok(socket) => {
                let mut channels = parse::channels(&socket);
                for channel in &mut channels {
                    channel.channel = defining_path(project, "channels", &channel.channel);
                }
                route.channels = Some(channels);
            }
            Err(error) => {
                eprintln!(
                    "warning: cannot read {} ({error}): channels of {} not listed",
                    file.display(),
                    route.handler
                )
            }
        }
    }
    Ok(routes)
}

/// A maze app's routes: its router, `src/routes.rs`.
fn app_routes(project: &Project) -> Result<Vec<RouteInfo>> {
    let router = project.root.join("src/routes.rs");
    let source = std::fs::read_to_string(&router)
        .with_context(|| format!("cannot read the router file {}", router.display()))?;
    Ok(parse::routes(&source))
}

/// An axum app's routes (`maze init`): the `.route(...)` calls of its Rust
/// files, then the sockets `src/sockets/mod.rs` serves.
fn embedded_routes(project: &Project) -> Result<Vec<RouteInfo>> {
    let mut routes = Vec::new();
    for (_, source) in project.own_sources()? {
        routes.extend(parse::axum_routes(&source));
    }
    let sockets = project.root.join(crate::project::SOCKETS_MODULE);
    let source =
        std::fs::read_to_string(&sockets).with_context(|| format!("cannot read {}", sockets.display()))?;
    routes.extend(parse::routes(&source).into_iter().filter(|route| route.verb == "WS"));
    Ok(routes)
}

/// `sockets::ChatSocket` (a re-export) → `sockets::chat_socket::ChatSocket`,
/// where the type is defined, when its file is where maze puts it. The
/// runtime's own route table names types by that path too.
fn defining_path(project: &Project, folder: &str, path: &str) -> String {
    let type_name = path.rsplit("::").next().unwrap_or(path);
    let module = type_name.to_snake_case();
    let short = path.strip_prefix("crate::").unwrap_or(path);
    let is_reexport = short == format!("{folder}::{type_name}") || short == type_name;
    if is_reexport && project.root.join(format!("src/{folder}/{module}.rs")).is_file() {
        format!("{folder}::{module}::{type_name}")
    } else {
        short.to_string()
    }
}

/// `sockets::chat_socket::ChatSocket` → `sockets/chat_socket`.
fn module_of(path: &str) -> String {
    match path.split("::").collect::<Vec<_>>().as_slice() {
        [folder, module, _type] => format!("{folder}/{module}"),
        segments => format!("sockets/{}", segments.last().copied().unwrap_or_default().to_snake_case()),
    }
}
