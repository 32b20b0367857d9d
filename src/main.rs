//! `maze`: generators for maze apps.
//!
//! Layout: `args` (the command line), `project` (finding the app), `names`
//! (turning user input into Rust and file names), `templates` (the embedded
//! Tera templates), `lexer` (Rust/JS tokens, so comments and strings are never
//! mistaken for code), `patch` (marker insertion and TOML edits), `plan`
//! (every change computed in memory, then applied or refused as a whole),
//! `generators` (new, socket, channel) and `routes` (`maze routes`).

mod args;
mod generators;
mod lexer;
mod names;
mod patch;
mod plan;
mod project;
mod routes;
mod templates;

use std::process::ExitCode;

use clap::Parser;

use args::{Args, Command, Generate};

/// Exit codes: 0 done, 1 refused (bad input, conflict, missing marker), 2 usage (clap's own).
fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = &args.directory {
        if let Err(error) = std::env::set_current_dir(dir) {
            eprintln!("error: cannot enter {}: {error}", dir.display());
            return ExitCode::from(1);
        }
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{} {error:#}", console::style("error:").red().bold());
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    match args.command {
        Command::New(new) => generators::new::run(&cwd, &new),
        Command::Generate { what } => {
            let project = project::Project::discover(&cwd)?;
            match what {
                Generate::Socket(socket) => generators::socket::run(&project, &socket),
                Generate::Channel(channel) => generators::channel::run(&project, &channel),
            }
        }
        Command::Routes(options) => {
            let project = project::Project::discover(&cwd)?;
            routes::run(&project, &options)
        }
    }
}
