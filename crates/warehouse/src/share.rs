//! Which of the warehouse's events a rebuild replaces or a reconcile counts: all of them, or one
//! project's, which is what a project's lake table holds when the lake is routed by project
//! (`LAKE_TABLES=project`, DESIGN.md §8.6). Every table with events, raw or derived, has a
//! `project_id` column, so a project's share of each is exact.

/// The warehouse's events a rebuild or a reconcile works on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Share {
    /// Every project's.
    #[default]
    Everything,
    /// One project's.
    Project(String),
}

impl Share {
    /// The project, for a project's share; also the value bound to the parameter of
    /// [`Share::condition`].
    pub fn project_id(&self) -> Option<&str> {
        match self {
            Share::Everything => None,
            Share::Project(project_id) => Some(project_id),
        }
    }

    /// The SQL condition on `project_id` whose parameter `$n` is bound to [`Share::project_id`]: one
    /// statement for both shares (true for every row when the parameter is NULL).
    pub(crate) fn condition(n: u8) -> String {
        format!("(${n}::text IS NULL OR project_id = ${n})")
    }
}
