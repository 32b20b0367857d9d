//! `generator.toml`: what a generator changes besides writing its templates.
//! Parsed strictly: an unknown key is an error naming the file.

use anyhow::{Result, anyhow};
use serde::Deserialize;
use toml_edit::DocumentMut;

use crate::patch;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// One line for `maze templates list`.
    pub description: String,
    /// Its files grow by insertions (a controller's actions): one that
    /// exists only receives them, and destroy deletes a file once only its
    /// template is left.
    #[serde(default)]
    pub extend_files: bool,
    #[serde(default)]
    pub inject: Vec<Injection>,
    #[serde(default)]
    pub toml: Vec<TomlEdit>,
}

/// Lines inserted above a marker comment (removed again by `maze destroy`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Injection {
    /// The file, relative to the app (a template).
    pub file: String,
    /// The marker comment, e.g. `// maze:routes`.
    pub marker: String,
    /// The lines (a template).
    pub lines: String,
    /// Only when this variable is set and not false.
    #[serde(default)]
    pub when: Option<String>,
    /// Only when this variable is unset or false.
    #[serde(default)]
    pub unless: Option<String>,
    /// Once per element of this list variable, available as `item`.
    #[serde(default)]
    pub for_each: Option<String>,
    /// A file (a template) that needs these lines: `maze destroy` takes
    /// them out only when it is gone (a `pub mod` line and its module).
    #[serde(default)]
    pub needed_by: Option<String>,
}

/// A TOML edit, from the fixed set maze knows how to make and undo.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlEdit {
    pub file: String,
    pub edit: TomlEditKind,
    #[serde(default)]
    pub value: Option<String>,
    /// Folders whose `.rs` files (but `mod.rs`) need this edit: `maze destroy`
    /// undoes it only when none of them is left.
    #[serde(default)]
    pub shared_by: Vec<String>,
    /// Only when this variable is unset or false.
    #[serde(default)]
    pub unless: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TomlEditKind {
    /// Add `value` to the features of the `maze` dependency.
    MazeFeature,
    /// Add the table `value` defines (TOML text, comments kept), unless the
    /// file has a table of that name; undone only if left as added.
    Table,
}

impl Manifest {
    pub fn parse(name: &str, text: &str) -> Result<Manifest> {
        toml_edit::de::from_str(text)
            .map_err(|error| anyhow!("{name} is not a valid generator manifest: {error}"))
    }
}

impl TomlEdit {
    /// The edit with its value rendered (it is a Tera template).
    pub fn rendered(&self, manifest: &str, context: &tera::Context) -> Result<TomlEdit> {
        let value = match &self.value {
            Some(value) => {
                Some(crate::templates::render_str(&format!("{manifest} (value)"), value, context)?)
            }
            None => None,
        };
        Ok(TomlEdit {
            file: self.file.clone(),
            edit: self.edit,
            value,
            shared_by: self.shared_by.clone(),
            unless: self.unless.clone(),
        })
    }

    fn value(&self) -> Result<&str> {
        self.value
            .as_deref()
            .ok_or_else(|| anyhow!("the {:?} edit of {} needs a `value`", self.edit, self.file))
    }

    pub fn apply(&self, doc: &mut DocumentMut) -> Result<()> {
        match self.edit {
            TomlEditKind::MazeFeature => patch::toml::add_maze_feature(doc, self.value()?),
            TomlEditKind::Table => patch::toml::ensure_table(doc, self.value()?),
        }
    }

    pub fn undo(&self, doc: &mut DocumentMut) -> Result<()> {
        match self.edit {
            TomlEditKind::MazeFeature => patch::toml::remove_maze_feature(doc, self.value()?),
            TomlEditKind::Table => patch::toml::remove_table(doc, self.value()?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_naming_the_file() {
        let error = Manifest::parse(
            "x/generator.toml",
            "description = \"d\"\n[[inject]]\nfile = \"a\"\nmarker = \"m\"\nlines = \"l\"\nwhn = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("x/generator.toml") && error.contains("whn"), "{error}");
        assert!(Manifest::parse("y", "[[toml]]\nfile = \"a\"\nedit = \"rewrite_all\"\n").is_err());
    }
}
