//! The plan's report: one line per file, in Thor's words and colours.

use anyhow::Result;
use console::{StyledObject, style};
use std::io::Write;

use super::{Plan, Status};

impl Status {
    pub(super) fn styled(self) -> StyledObject<String> {
        let word = style(format!("{:>10}", self.to_string()));
        match self {
            Status::Create | Status::Insert => word.green(),
            Status::Update | Status::Force | Status::Skip => word.yellow(),
            Status::Identical | Status::Unchanged => word.blue(),
            Status::Remove | Status::Subtract => word.magenta(),
            Status::Conflict => word.red().bold(),
        }
    }
}

impl Plan {
    /// Prints each file's status, once every status is decided.
    pub(super) fn report(&self) -> Result<()> {
        let mut out = std::io::stdout().lock();
        for (status, path) in &self.rows {
            writeln!(out, "{} {}", status.expect("decided before the report").styled(), path.display())?;
        }
        Ok(())
    }
}
