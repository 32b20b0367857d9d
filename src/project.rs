//! Finding the app: the nearest folder at or above the current one with a `maze.toml`.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Where an app `maze init` set up declares and serves its sockets.
pub const SOCKETS_MODULE: &str = "src/sockets/mod.rs";

pub struct Project {
    /// The folder holding `maze.toml`.
    pub root: PathBuf,
}

impl Project {
    pub fn discover(start: &Path) -> Result<Project> {
        for dir in start.ancestors() {
            if dir.join("maze.toml").is_file() {
                return Ok(Project { root: dir.to_path_buf() });
            }
        }
        bail!(
            "not inside a maze app: no maze.toml in {} or any folder above it.\n\
             Create an app with `maze new NAME`, or point at one with `maze -C DIR ...`",
            start.display()
        )
    }

    /// Whether this is an axum app `maze init` set up rather than a `maze
    /// new` one: its `src/sockets/mod.rs` serves the sockets (the
    /// `// maze:sockets` marker is there, not in `src/routes.rs`).
    pub fn is_embedded(&self) -> bool {
        std::fs::read_to_string(self.root.join(SOCKETS_MODULE))
            .is_ok_and(|module| module.lines().any(|line| line.trim() == "// maze:sockets"))
    }

    /// The app's crate name, as its tests `use` it: `[package].name` of its
    /// Cargo.toml, `-` written `_`.
    pub fn crate_name(&self) -> Result<String> {
        let manifest = self.root.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let doc: toml_edit::DocumentMut =
            text.parse().with_context(|| format!("{} is not valid TOML", manifest.display()))?;
        let Some(name) = doc.get("package").and_then(|package| package.get("name")).and_then(|n| n.as_str())
        else {
            bail!("{} has no [package] name", manifest.display());
        };
        Ok(name.replace('-', "_"))
    }

    /// The app's own Rust files under `src/` (not maze's `src/sockets/` and
    /// `src/channels/`), relative to its root, with their text, in order.
    pub fn own_sources(&self) -> Result<Vec<(PathBuf, String)>> {
        let mut files = Vec::new();
        let mut folders = vec![PathBuf::from("src")];
        while let Some(folder) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(self.root.join(&folder)) else { continue };
            for entry in entries {
                let entry = entry?;
                let path = folder.join(entry.file_name());
                if entry.file_type()?.is_dir() {
                    if path != Path::new("src/sockets") && path != Path::new("src/channels") {
                        folders.push(path);
                    }
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|file| {
                let text = std::fs::read_to_string(self.root.join(&file))
                    .with_context(|| format!("cannot read {}", file.display()))?;
                Ok((file, text))
            })
            .collect()
    }

    /// The socket types the app has, from the files in `src/sockets/`.
    pub fn sockets(&self) -> Result<Vec<String>> {
        let dir = self.root.join("src/sockets");
        let entries = std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
                if stem != "mod" {
                    files.push(stem);
                }
            }
        }
        files.sort();
        Ok(files)
    }
}
