//! The command line.

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::plan::{OnConflict, Settings};

const EXIT_CODES: &str =
    "Exit codes: 0 done, 1 refused (bad input, conflict, missing marker: nothing written), 2 usage error.";

#[derive(Parser, Debug)]
#[command(
    name = "maze",
    version,
    about = "Generators for maze apps: sockets, channels and their JavaScript clients, wired in.",
    after_help = EXIT_CODES
)]
pub struct Args {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Print errors only, not what happened to each file.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour output: auto (when a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the app: its maze dependency resolves (with --maze-path, repoint it).
    #[command(after_help = "Examples:\n  maze doctor\n  maze doctor --maze-path ~/src/maze/runtime")]
    Doctor(DoctorArgs),
    /// Add maze to an existing axum app: sockets, channels and their scripts, merged into its router.
    #[command(
        after_help = "Examples:\n  maze init\n  maze init --router src/main.rs:14 --dry-run\n  maze d init   # undoes it"
    )]
    Init(InitArgs),
    /// Create a new app in the folder NAME.
    #[command(
        after_help = "Examples:\n  maze new chat && cd chat && cargo run\n  maze new chat --redis\n  maze new chat --redis-cluster"
    )]
    New(NewArgs),
    /// Generate code into the current app.
    #[command(visible_alias = "g")]
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
    /// Undo a `generate`: remove its files and the lines it inserted.
    #[command(
        visible_alias = "d",
        after_help = "Example:\n  maze d socket ChatSocket chat_room   # undoes `maze g socket ChatSocket chat_room`"
    )]
    Destroy {
        #[command(subcommand)]
        what: Generate,
    },
    /// List the app's HTTP routes and sockets, with their channel topics.
    #[command(after_help = "Examples:\n  maze routes\n  maze routes --sockets\n  maze routes -g chat --json")]
    Routes(RoutesArgs),
    /// List or eject the generators' templates.
    Templates {
        #[command(subcommand)]
        what: Templates,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  maze completions bash > ~/.local/share/bash-completion/completions/maze"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    /// A controller: a handler, a route and a test per action (added to an existing controller).
    #[command(after_help = "Actions index, show, new, create, edit, update and destroy get REST routes\n\
                      (GET /posts, GET /posts/{id}, GET /posts/new, POST /posts, GET /posts/{id}/edit,\n\
                      PUT and PATCH /posts/{id}, DELETE /posts/{id}); any other is GET /posts/ACTION.\n\n\
                      Examples:\n  maze g controller Posts index show\n  maze g controller Session me   # adds `me` to Session")]
    Controller(ControllerArgs),
    /// A controller with the seven REST actions (index, show, new, create, edit, update, destroy).
    #[command(after_help = "Example:\n  maze g resource Orders")]
    Resource(ResourceArgs),
    /// maze in an existing axum app (`maze init`; `maze d init` undoes it).
    Init(InitArgs),
}

#[derive(Subcommand, Debug)]
pub enum Templates {
    /// Each generator's templates, marking those the app overrides.
    List,
    /// Copy the built-in templates into .maze/templates/ to edit them there.
    #[command(
        after_help = "Example:\n  maze templates eject socket && $EDITOR .maze/templates/socket/src/sockets/*.tera"
    )]
    Eject {
        /// Only this generator's (default: every generator's).
        generator: Option<String>,
        #[command(flatten)]
        write: WriteOptions,
    },
}

/// What every command that writes accepts.
#[derive(ClapArgs, Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Print what would change; write nothing.
    #[arg(long, visible_alias = "pretend")]
    pub dry_run: bool,
    /// Overwrite (or remove) files that differ from what maze would generate.
    #[arg(long, conflicts_with = "skip")]
    pub force: bool,
    /// Keep files that differ from what maze would generate.
    #[arg(long)]
    pub skip: bool,
}

impl WriteOptions {
    /// How to apply a plan: these flags, and the global --quiet.
    pub fn settings(self, quiet: bool) -> Settings {
        let on_conflict = match (self.force, self.skip) {
            (true, _) => OnConflict::Overwrite,
            (_, true) => OnConflict::Keep,
            _ => OnConflict::Ask,
        };
        Settings { on_conflict, dry_run: self.dry_run, report: !quiet }
    }
}

#[derive(ClapArgs, Debug)]
pub struct DoctorArgs {
    /// Point the app's maze dependency at this runtime folder (version and path).
    #[arg(long, value_name = "DIR")]
    pub maze_path: Option<PathBuf>,
}

#[derive(ClapArgs, Debug)]
pub struct NewArgs {
    /// The app's name, also its folder (chat, my_app).
    pub name: String,
    /// The maze runtime to depend on (default: the runtime/ folder beside this CLI's source; env MAZE_PATH).
    #[arg(long, env = "MAZE_PATH", value_name = "DIR")]
    pub maze_path: Option<PathBuf>,
    /// Depend on the published maze crate at this version instead of a runtime folder.
    #[arg(long, value_name = "VERSION")]
    pub maze_version: Option<String>,
    /// Broadcast through Redis, so several instances of the app share their subscribers.
    #[arg(long)]
    pub redis: bool,
    /// Broadcast through a Redis Cluster, with sharded pub/sub (past what one Redis carries).
    #[arg(long, conflicts_with = "redis")]
    pub redis_cluster: bool,
    #[command(flatten)]
    pub write: WriteOptions,
}

#[derive(ClapArgs, Debug)]
pub struct InitArgs {
    /// The line where the app's router starts (`Router::new()`), when maze cannot
    /// find the only one under src/ by itself: src/main.rs:14.
    #[arg(long, value_name = "FILE:LINE")]
    pub router: Option<String>,
    /// The maze runtime to depend on (default: the runtime/ folder beside this CLI's source; env MAZE_PATH).
    #[arg(long, env = "MAZE_PATH", value_name = "DIR")]
    pub maze_path: Option<PathBuf>,
    /// Depend on the published maze crate at this version instead of a runtime folder.
    #[arg(long, value_name = "VERSION")]
    pub maze_version: Option<String>,
    #[command(flatten)]
    pub write: WriteOptions,
}

#[derive(ClapArgs, Debug)]
pub struct SocketArgs {
    /// The socket (ChatSocket, Chat and chat_socket all name ChatSocket).
    pub name: String,
    /// Channels to create and map (none: add them later with `maze g channel`).
    pub channels: Vec<String>,
    /// The URL path of the socket (default: /NAME, e.g. /chat).
    #[arg(long)]
    pub path: Option<String>,
    /// Track who is on each channel's topics (presence), and show it on the page.
    #[arg(long)]
    pub presence: bool,
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
    /// Track who is on the channel's topics (presence), and show it on the page.
    #[arg(long)]
    pub presence: bool,
    #[command(flatten)]
    pub write: WriteOptions,
}

#[derive(ClapArgs, Debug)]
pub struct ControllerArgs {
    /// The controller (Posts, PostsController and posts all name the module controllers::posts).
    pub name: String,
    /// Actions (none: index). REST names get REST routes; others are GET /NAME/ACTION.
    pub actions: Vec<String>,
    #[command(flatten)]
    pub write: WriteOptions,
}

#[derive(ClapArgs, Debug)]
pub struct ResourceArgs {
    /// The resource's controller (Orders names the module controllers::orders, at /orders).
    pub name: String,
    #[command(flatten)]
    pub write: WriteOptions,
}

#[derive(ClapArgs, Debug)]
pub struct RoutesArgs {
    /// Print JSON for tools instead of a table (schema in the README).
    #[arg(long)]
    pub json: bool,
    /// Only routes whose verb, path, handler or channel topics contain PATTERN.
    #[arg(short = 'g', long = "grep", value_name = "PATTERN")]
    pub grep: Option<String>,
    /// Only sockets.
    #[arg(long)]
    pub sockets: bool,
}

impl Generate {
    /// The write options of whichever generator this is.
    pub fn write_options(&self) -> WriteOptions {
        match self {
            Generate::Socket(args) => args.write,
            Generate::Channel(args) => args.write,
            Generate::Controller(args) => args.write,
            Generate::Resource(args) => args.write,
            Generate::Init(args) => args.write,
        }
    }
}
