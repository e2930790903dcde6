//! Files a command creates under `state_dir` belong to the owner of `state_dir`,
//! whoever runs it (docs/reference.md, "State"). An operator's `once --dry-run` as
//! root must not leave `locks/beta.lock` or `state.db-wal` owned by root: the service
//! (a dynamic user) would then fail every pass of that portal with "Permission denied",
//! and a restart would not help.
//!
//! Root gives each file it creates to the directory's owner; another user who is not
//! the owner is refused, with the user to run as.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Clone, Copy, Debug)]
pub struct Owner {
    uid: u32,
    gid: u32,
    /// This process runs as root and the directory belongs to someone else.
    give: bool,
}

impl Owner {
    /// The owner of `dir`, and whether this process (root) must give it what it makes.
    /// A user who is not root writes as themselves: a group-writable volume (Kubernetes'
    /// `fsGroup`) is shared that way on purpose.
    pub fn of(dir: &Path) -> Result<Owner, String> {
        let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let me = rustix::process::geteuid().as_raw();
        let (uid, gid) = (meta.uid(), meta.gid());
        Ok(Owner {
            uid,
            gid,
            give: me == 0 && uid != 0,
        })
    }

    /// Refuses a symbolic link where this root process is about to open a file of the
    /// directory's owner: whoever owns the directory could point the name at one of
    /// root's files.
    pub fn no_symlink(&self, path: &Path) -> Result<(), String> {
        if self.give && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "refusing to open {}: it is a symbolic link in a directory root does not own",
                path.display()
            ));
        }
        Ok(())
    }

    /// Whom files this process makes go to: `None` when they stay its own.
    pub fn give_to(&self) -> Option<(u32, u32)> {
        self.give.then_some((self.uid, self.gid))
    }

    /// Gives `path` (if it exists) to the directory's owner when this process is root.
    pub fn adopt(&self, path: &Path) -> Result<(), String> {
        if !self.give {
            return Ok(());
        }
        // Never through a symlink: the directory belongs to someone else, who could
        // point a name in it at a file of root's.
        match std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!(
                "cannot give {} to uid {} (the state directory's owner): {e}",
                path.display(),
                self.uid
            )),
        }
    }
}
