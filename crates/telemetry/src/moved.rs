//! Commands that moved to `lakehouse`: a service binary given one of its old tool subcommands
//! names the new command once and exits with status 2 (refused), rather than running it
//! (DESIGN.md §13). The services themselves only `run`.

use std::process::ExitCode;

/// Where an old subcommand went: `(old subcommand, new command)`, e.g.
/// `("vacuum", "lakehouse lake vacuum")`.
pub type Moves = &'static [(&'static str, &'static str)];

/// What to tell someone who ran `binary <old...>`: the new command, or (for a subcommand that
/// never existed) what the binary does.
pub fn moved_message(binary: &str, old: &[String], moves: Moves) -> String {
    let name = old.first().map(String::as_str).unwrap_or_default();
    match moves.iter().find(|(from, _)| *from == name) {
        Some((_, to)) => format!(
            "`{binary} {name}` has moved: run `{to}` instead (`{to} --help` for its flags; \
             `lakehouse --help` lists every command). {binary} only runs the service now."
        ),
        None => format!(
            "{binary} has no subcommand `{name}`: it runs the service (`{binary} run`, or no \
             subcommand); every command a person runs is under `lakehouse` (`lakehouse --help`)."
        ),
    }
}

/// Prints [`moved_message`] on stderr and gives the exit status of a refused command.
#[expect(
    clippy::print_stderr,
    reason = "the message is for the person who typed the command"
)]
pub fn refuse_moved(binary: &str, old: &[String], moves: Moves) -> ExitCode {
    eprintln!("{}", moved_message(binary, old, moves));
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOVES: Moves = &[("vacuum", "lakehouse lake vacuum")];

    #[test]
    fn an_old_subcommand_names_its_new_command() {
        let old = ["vacuum".to_string(), "--dry-run".to_string()];
        let message = moved_message("lakehouse-delta-writer", &old, MOVES);
        assert!(
            message.contains("run `lakehouse lake vacuum` instead"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_subcommand_points_at_lakehouse() {
        let message = moved_message("lakehouse-delta-writer", &["vacum".to_string()], MOVES);
        assert!(message.contains("no subcommand `vacum`"), "{message}");
        assert!(message.contains("lakehouse --help"), "{message}");
    }
}
