//! `maze`: generators for maze apps.
//!
//! Layout: `args` (the command line), `project` (finding the app), `names`
//! (turning user input into Rust and file names), `templates` (built-in and
//! overridden Tera templates), `lexer` (Rust/JS tokens, so comments and
//! strings are never mistaken for code), `patch` (marker insertion and TOML
//! edits), `plan` (every change computed in memory, then applied or refused
//! as a whole), `prompt` (asking about conflicts on a terminal),
//! `generators` (new, socket, channel, controller; forwards and backwards),
//! `templates_cmd` (`maze templates`), `routes` (`maze routes`),
//! `runtime_dep` (the app's dependency on the runtime) and `doctor`
//! (`maze doctor`).

mod args;
mod doctor;
mod generators;
mod lexer;
mod names;
mod patch;
mod plan;
mod project;
mod prompt;
mod routes;
mod runtime_dep;
mod templates;
mod templates_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Args, Color, Command, Generate};
use generators::{Mode, Outcome};

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
        Command::Doctor(options) => doctor::run(&project::Project::discover(&cwd)?, &options),
        Command::Routes(options) => routes::run(&project::Project::discover(&cwd)?, &options),
        Command::Templates { what } => templates_cmd::run(&project::Project::discover(&cwd)?, what, quiet),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Args::command(), "maze", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn generate(cwd: &std::path::Path, what: Generate, mode: Mode, quiet: bool) -> anyhow::Result<()> {
    let settings = what.write_options().settings(quiet);
    if let Generate::Init(args) = &what {
        // Before there is a maze.toml to find the app by.
        return finish(generators::init::plan(cwd, args, mode)?, settings);
    }
    let project = project::Project::discover(cwd)?;
    let outcome = match &what {
        Generate::Socket(args) => generators::socket::plan(&project, args, mode)?,
        Generate::Channel(args) => generators::channel::plan(&project, args, mode)?,
        Generate::Controller(args) => {
            generators::controller::plan(&project, &args.name, &args.actions, mode)?
        }
        Generate::Resource(args) => {
            let actions = generators::controller::RESOURCE_ACTIONS.map(String::from);
            generators::controller::plan(&project, &args.name, &actions, mode)?
        }
        Generate::Init(_) => unreachable!("planned above"),
    };
    finish(outcome, settings)
}

/// Applies the plan (asking about conflicts on a terminal), then says what's next.
fn finish(outcome: Outcome, settings: plan::Settings) -> anyhow::Result<()> {
    // A dry run asks nothing: it reports conflicts as they are.
    let asks = settings.on_conflict == plan::OnConflict::Ask && !settings.dry_run;
    let mut terminal = if asks { prompt::TerminalPrompt::if_interactive() } else { None };
    if let Some(preview) = outcome.preview.as_ref().filter(|_| settings.report) {
        println!("{preview}");
    }
    outcome.plan.apply(settings, terminal.as_mut().map(|t| t as &mut dyn prompt::ConflictPrompt))?;
    if let Some(next) = outcome.next.filter(|_| !settings.dry_run && settings.report) {
        println!("\n{next}");
    }
    Ok(())
}
