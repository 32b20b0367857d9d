//! `maze templates list` and `maze templates eject [GENERATOR]`.

use anyhow::{Result, bail};
use std::io::Write;
use std::path::Path;

use crate::args::Templates;
use crate::generators::Generator;
use crate::plan::Plan;
use crate::project::Project;
use crate::templates::{self, OVERRIDES};

pub fn run(project: &Project, what: Templates, quiet: bool) -> Result<()> {
    match what {
        Templates::List => list(project),
        Templates::Eject { generator, write } => {
            let names = match generator {
                Some(name) if templates::generators().contains(&name.as_str()) => vec![name],
                Some(name) => {
                    bail!("there is no generator {name:?}: they are {}", templates::generators().join(", "))
                }
                None => templates::generators().into_iter().map(String::from).collect(),
            };
            let mut plan = Plan::new(&project.root);
            for name in &names {
                for template in templates::load(name, None)? {
                    plan.create(Path::new(OVERRIDES).join(name).join(&template.relative), template.source)?;
                }
            }
            plan.apply(write.settings(quiet), None)?;
            if !write.dry_run && !quiet {
                println!(
                    "\nEdit them there: each file overrides its built-in; delete one to use the built-in again."
                );
            }
            Ok(())
        }
    }
}

fn list(project: &Project) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for name in templates::generators() {
        let generator = Generator::load(name, Some(&project.root))?;
        writeln!(out, "{name}: {}", generator.description())?;
        for template in generator.templates() {
            match &template.overridden_by {
                Some(path) => writeln!(out, "  {}  (overridden by {})", template.relative, path.display())?,
                None => writeln!(out, "  {}", template.relative)?,
            }
        }
    }
    Ok(())
}
