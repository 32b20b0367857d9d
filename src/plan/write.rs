//! Writing a decided plan: every changed file staged beside its target,
//! then renamed into place, so a failure leaves no file half-written.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

use super::Plan;

impl Plan {
    /// Stages every changed file beside its target, renames them all into
    /// place, then deletes what is removed (and folders that left empty).
    pub(super) fn write(self) -> Result<()> {
        let mut staged = Vec::new();
        let mut deleted = Vec::new();
        let mut paths: Vec<_> = self.files.iter().collect();
        paths.sort_by(|a, b| a.0.cmp(b.0));
        for (path, file) in paths {
            let target = self.root.join(path);
            if file.delete {
                deleted.push(target);
                continue;
            }
            // A removed file that stays was kept with --skip: as the user has
            // it, or without the lines this command takes out.
            if file.keep || file.on_disk.as_deref() == Some(file.contents.as_str()) {
                continue;
            }
            let dir = target.parent().expect("files live in a folder");
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let mut temp = tempfile::Builder::new()
                .prefix(".maze-")
                .tempfile_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            temp.write_all(file.contents.as_bytes())?;
            keep_permissions(temp.as_file(), &target)?;
            staged.push((temp, target));
        }
        for (temp, target) in staged {
            temp.persist(&target).with_context(|| format!("cannot write {}", target.display()))?;
        }
        for target in deleted {
            std::fs::remove_file(&target).with_context(|| format!("cannot remove {}", target.display()))?;
            let mut dir = target.parent();
            while let Some(folder) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
                // Only folders the removal emptied; remove_dir refuses any other.
                if std::fs::remove_dir(folder).is_err() {
                    break;
                }
                dir = folder.parent();
            }
        }
        Ok(())
    }
}

/// Temporary files are private (0600); the written file gets the permissions
/// the old one had, or the usual 0644 for a new one.
fn keep_permissions(temp: &std::fs::File, target: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = match std::fs::metadata(target) {
            Ok(old) => old.permissions(),
            Err(_) => std::fs::Permissions::from_mode(0o644),
        };
        temp.set_permissions(permissions)?;
    }
    #[cfg(not(unix))]
    let _ = (temp, target);
    Ok(())
}
