//! Who runs an action when no `--actor` is given: the operating-system user.

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
