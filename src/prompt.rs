//! Asking about conflicts, on a terminal: overwrite, skip, all, quit, or
//! show the diff first. The plan asks through [`ConflictPrompt`], so tests
//! can answer without a terminal.

use anyhow::Result;
use console::{Term, style};
use similar::{ChangeTag, TextDiff};
use std::path::Path;

/// What to do with a file that differs from what maze would write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Overwrite,
    Skip,
    /// Overwrite this file and every later conflict.
    All,
    /// Stop; write nothing.
    Quit,
    /// Not decided: report a conflict.
    Conflict,
}

pub trait ConflictPrompt {
    /// `current` is the file on disk; `planned` what maze would write (`None`: maze would remove it).
    fn ask(&mut self, path: &Path, current: &str, planned: Option<&str>) -> Result<Answer>;
}

/// A unified diff from `current` to `planned`, coloured when colours are on.
pub fn unified_diff(path: &Path, current: &str, planned: &str) -> String {
    let diff = TextDiff::from_lines(current, planned);
    let mut text = format!("--- {} (yours)\n+++ {} (maze's)\n", path.display(), path.display());
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        text.push_str(&format!("{}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let line = format!("{}{}", change.tag_sign(), change);
            let line = if line.ends_with('\n') { line } else { format!("{line}\n") };
            text.push_str(&match change.tag() {
                ChangeTag::Delete => style(line).red().to_string(),
                ChangeTag::Insert => style(line).green().to_string(),
                ChangeTag::Equal => line,
            });
        }
    }
    text
}

trait TagSign {
    fn tag_sign(&self) -> char;
}

impl<T: similar::DiffableStr + ?Sized> TagSign for similar::Change<&T> {
    fn tag_sign(&self) -> char {
        match self.tag() {
            ChangeTag::Delete => '-',
            ChangeTag::Insert => '+',
            ChangeTag::Equal => ' ',
        }
    }
}

/// Reads one key per question from the terminal.
pub struct TerminalPrompt {
    term: Term,
}

impl TerminalPrompt {
    /// A prompt when both standard input and output are terminals.
    pub fn if_interactive() -> Option<TerminalPrompt> {
        let term = Term::stdout();
        (term.is_term()
            && console::user_attended_stderr()
            && std::io::IsTerminal::is_terminal(&std::io::stdin()))
        .then_some(TerminalPrompt { term })
    }
}

impl ConflictPrompt for TerminalPrompt {
    fn ask(&mut self, path: &Path, current: &str, planned: Option<&str>) -> Result<Answer> {
        let verb = if planned.is_some() { "Overwrite" } else { "Remove (you edited it)" };
        loop {
            self.term.write_str(&format!(
                "{} {} {verb}? [y]es, [n]o, [a]ll, [q]uit, [d]iff: ",
                style("conflict").red().bold(),
                path.display()
            ))?;
            let key = self.term.read_char()?;
            self.term.write_line(&key.to_string())?;
            match key.to_ascii_lowercase() {
                'y' => return Ok(Answer::Overwrite),
                'n' => return Ok(Answer::Skip),
                'a' => return Ok(Answer::All),
                'q' => return Ok(Answer::Quit),
                'd' => self.term.write_str(&unified_diff(path, current, planned.unwrap_or("")))?,
                _ => continue,
            }
        }
    }
}

/// Answers from a script, for tests.
#[cfg(test)]
pub struct ScriptedPrompt {
    pub answers: Vec<Answer>,
    pub asked: Vec<String>,
}

#[cfg(test)]
impl ConflictPrompt for ScriptedPrompt {
    fn ask(&mut self, path: &Path, _current: &str, _planned: Option<&str>) -> Result<Answer> {
        self.asked.push(path.display().to_string());
        if self.answers.is_empty() {
            anyhow::bail!("asked more than scripted");
        }
        Ok(self.answers.remove(0))
    }
}
