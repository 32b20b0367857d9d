//! `maze new`, `maze init`, `maze generate` and `maze destroy`: a
//! generator's plan, applied (asking about conflicts on a terminal), then
//! what to do next.

use crate::args::Generate;
use crate::generators::{self, Mode, Outcome};
use crate::{plan, project, prompt};

pub fn generate(cwd: &std::path::Path, what: Generate, mode: Mode, quiet: bool) -> anyhow::Result<()> {
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
pub fn finish(outcome: Outcome, settings: plan::Settings) -> anyhow::Result<()> {
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
