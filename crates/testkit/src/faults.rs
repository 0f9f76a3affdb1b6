//! Faults injected into the local stack through `scripts/stack`: a part frozen (`SIGSTOP`, as a
//! hung VM or a long pause looks), or stopped and started again. Tests that inject them disturb
//! every test using the same stack, so each lives in its own test target (cargo runs test targets
//! one after another).

use crate::stack::stack_script;

/// A part of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Postgres,
    Tansu,
    Moto,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Tansu => "tansu",
            Self::Moto => "moto",
        }
    }
}

/// Runs `scripts/stack <action> <part>` (`freeze`, `thaw`, `stop`, `start`); panics if it fails.
pub fn stack(action: &str, part: Part) {
    let status = std::process::Command::new(stack_script())
        .args([action, part.name()])
        .status()
        .unwrap_or_else(|error| panic!("scripts/stack runs: {error}"));
    assert!(status.success(), "scripts/stack {action} {} failed", part.name());
}

/// A part frozen until this is dropped (also when the test fails half-way).
#[derive(Debug)]
#[must_use = "the part thaws when this is dropped"]
pub struct Frozen(Part);

impl Frozen {
    pub fn freeze(part: Part) -> Self {
        stack("freeze", part);
        Self(part)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        stack("thaw", self.0);
    }
}
