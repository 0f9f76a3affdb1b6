//! Who runs an action: `--actor` (`LAKEHOUSE_ACTOR`), a flag group binaries flatten into their
//! config, else the operating-system user.

/// Who runs an administrative command; flatten it into a binary's config.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ActorArgs {
    /// Who runs an administrative command, for the audit log; the operating-system user when not
    /// given.
    #[arg(long = "actor", env = "LAKEHOUSE_ACTOR", global = true)]
    pub actor: Option<String>,
}

impl ActorArgs {
    /// `--actor`, or the operating-system user.
    pub fn name(&self) -> String {
        self.actor.clone().unwrap_or_else(os_user)
    }
}

/// The user this process runs as: `USER` or `LOGNAME` as a shell sets them, else the numeric uid
/// (a container's user often has no name), else `unknown`.
pub fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .or_else(uid)
        .unwrap_or_else(|| "unknown".into())
}

/// `uid:<n>` from `/proc/self/status` (Linux).
fn uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    Some(format!("uid:{}", line.split_whitespace().next()?))
}
