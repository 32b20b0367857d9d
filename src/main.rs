//! `maze`: generators for maze apps.
//!
//! Layout: `args` (the command line) and `commands` (one module per
//! subcommand: `generate` applies the generators, `doctor`, `routes`,
//! `templates`); `generators` (new, init, socket, channel, controller;
//! forwards and backwards) and what they stand on: `project` (finding the
//! app), `names` (user input into Rust and file names), `templates`
//! (built-in and overridden Tera templates), `lexer` (Rust/JS tokens, so
//! comments and strings are never mistaken for code), `patch` (marker
//! insertion, a router's chain, TOML edits), `plan` (every change computed
//! in memory, then applied or refused as a whole), `prompt` (asking about
//! conflicts on a terminal), `routes` (reading an app's routes) and
//! `runtime_dependency` (the app's dependency on the runtime).

mod args;
mod commands;
mod generators;
mod lexer;
mod names;
mod patch;
mod plan;
mod project;
mod prompt;
mod routes;
mod runtime_dependency;
mod templates;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Args, Color, Command};
use commands::generate::{finish, generate};
use generators::Mode;
use project::Project;

/// Exit codes: 0 done, 1 refused (bad input, conflict, missing marker), 2 usage (clap's own).
fn main() -> ExitCode {
    let args = Args::parse();
    match args.color {
        Color::Always => console::set_colors_enabled(true),
        Color::Never => console::set_colors_enabled(false),
        Color::Auto if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => {
            console::set_colors_enabled(false)
        }
        Color::Auto => {}
    }
    if let Some(dir) = &args.directory
        && let Err(error) = std::env::set_current_dir(dir)
    {
        eprintln!("error: cannot enter {}: {error}", dir.display());
        return ExitCode::from(1);
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
    let quiet = args.quiet;
    match args.command {
        Command::New(new) => finish(generators::new::plan(&cwd, &new)?, new.write.settings(quiet)),
        Command::Init(init) => {
            let settings = init.write.settings(quiet);
            finish(generators::init::plan(&cwd, &init, Mode::Generate)?, settings)
        }
        Command::Generate { what } => generate(&cwd, what, Mode::Generate, quiet),
        Command::Destroy { what } => generate(&cwd, what, Mode::Destroy, quiet),
        Command::Doctor(options) => commands::doctor::run(&Project::discover(&cwd)?, &options),
        Command::Routes(options) => commands::routes::run(&Project::discover(&cwd)?, &options),
        Command::Templates { what } => commands::templates::run(&Project::discover(&cwd)?, what, quiet),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Args::command(), "maze", &mut std::io::stdout());
            Ok(())
        }
    }
}
