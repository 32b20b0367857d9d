//! The command line.

use clap::{Args as ClapArgs, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "maze",
    version,
    about = "Generators for maze apps: sockets, channels and their JavaScript clients, wired in."
)]
pub struct Args {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new app in the folder NAME.
    #[command(after_help = "Example:\n  maze new chat && cd chat && cargo run")]
    New(NewArgs),
    /// Generate code into the current app.
    #[command(visible_alias = "g")]
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
    /// List the app's HTTP routes and sockets, with their channel topics.
    Routes(RoutesArgs),
}

#[derive(Subcommand, Debug)]
pub enum Generate {
    /// A socket, its channels and their JavaScript, wired into the app.
    #[command(
        after_help = "Examples:\n  maze g socket ChatSocket chat_room\n  maze g socket Admin --path /admin/live alerts audit"
    )]
    Socket(SocketArgs),
    /// A channel and its JavaScript, attached to a socket.
    #[command(
        after_help = "Examples:\n  maze g channel Lobby --socket ChatSocket\n  maze g channel Presence --topic presence"
    )]
    Channel(ChannelArgs),
}

/// What every generator accepts about writing.
#[derive(ClapArgs, Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Print what would change; write nothing.
    #[arg(long, visible_alias = "pretend")]
    pub dry_run: bool,
    /// Overwrite files that differ from what would be generated.
    #[arg(long, conflicts_with = "skip")]
    pub force: bool,
    /// Keep files that differ from what would be generated.
    #[arg(long)]
    pub skip: bool,
}

#[derive(ClapArgs, Debug)]
pub struct NewArgs {
    /// The app's name, also its folder (chat, my_app).
    pub name: String,
    /// The maze runtime to depend on (default: the runtime/ folder beside this CLI's source; env MAZE_PATH).
    #[arg(long, env = "MAZE_PATH", value_name = "DIR")]
    pub maze_path: Option<PathBuf>,
    /// Broadcast through Redis, so several instances of the app share their subscribers.
    #[arg(long)]
    pub redis: bool,
    #[command(flatten)]
    pub write: WriteOptions,
}

#[derive(ClapArgs, Debug)]
pub struct SocketArgs {
    /// The socket (ChatSocket, Chat and chat_socket all name ChatSocket).
    pub name: String,
    /// Channels to create and map; none: one channel named after the socket.
    pub channels: Vec<String>,
    /// The URL path of the socket (default: /NAME, e.g. /chat).
    #[arg(long)]
    pub path: Option<String>,
    #[command(flatten)]
    pub write: WriteOptions,
}

#[derive(ClapArgs, Debug)]
pub struct ChannelArgs {
    /// The channel (Lobby, LobbyChannel and lobby all name LobbyChannel).
    pub name: String,
    /// The socket that maps the channel (default: the app's only socket).
    #[arg(long)]
    pub socket: Option<String>,
    /// The topic pattern (default: NAME:*, e.g. lobby:*).
    #[arg(long)]
    pub topic: Option<String>,
    #[command(flatten)]
    pub write: WriteOptions,
}

#[derive(ClapArgs, Debug)]
pub struct RoutesArgs {
    /// Print JSON for tools instead of a table.
    #[arg(long)]
    pub json: bool,
}
