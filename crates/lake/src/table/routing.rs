//! Which table of the lake an event goes to (`LAKE_TABLES`): every event in `<lake>/events` (the
//! default), one table per project (`<lake>/projects/<project_id>/events`), one per event type
//! (`<lake>/event_types/<event_type>/events`), or an ordered list of rules, the first that matches
//! naming the table (`event_type in (signup, purchase) => conversions; * => events`; a named
//! table is `<lake>/tables/<name>/events`, `events` the lake's own). Every table has the same
//! schema, partitioning and properties (DESIGN.md §8.1), and evolves on its own.
//!
//! A project id or an event type becomes one folder name: ASCII letters, digits and `-` are kept
//! and every other byte is written `_XX` (its two hex digits; `.`, `/` and `_` included), so that
//! no value can name another folder (`..`, `a/b`) and two values never share one. Not percent
//! encoding: object stores decode a `%2F` in a URL back into `/`.

use std::fmt::{self, Write};
use std::str::FromStr;

use lakehouse_event::EnrichedEvent;

use crate::table::location::LakeLocation;

/// The folder name of an empty value: an encoded `_` is always followed by two hex digits, so a
/// lone one names nothing else.
const EMPTY: &str = "_";

/// The folders of the lake that hold routed tables, one table per subfolder.
pub(crate) const FOLDERS: [&str; 3] = ["projects", "event_types", "tables"];

/// The longest table name a rule may give.
const MAX_NAME: usize = 64;

/// The longest folder a table name may come to once encoded: an object key (S3's limit) is no
/// longer, so no table of the lake is, and a name past it is refused before the store is asked.
const MAX_FOLDER: usize = 1024;

/// Where events go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Routing {
    /// Every event in `<lake>/events`.
    #[default]
    Events,
    /// One table per project.
    Project,
    /// One table per event type.
    EventType,
    /// The first rule that matches; the last rule matches every event.
    Rules(Vec<Rule>),
}

/// `<field> in (<values>) => <table>`, or `* => <table>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `None` for `*`.
    pub matches: Option<(Field, Vec<String>)>,
    pub table: TableName,
}

/// What a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    EventType,
    ProjectId,
}

/// A table a rule names: lowercase letters, digits and `_`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName(String);

/// One table of the lake: the folder under the lake root that holds its `events` folder (`""` for
/// the lake's own `<lake>/events`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TablePath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("LAKE_TABLES rule {0:?} is not `<field> in (<values>) => <table>` or `* => <table>`")]
    Malformed(String),
    #[error("LAKE_TABLES rule {rule:?}: {field:?} is not a field rules can match (event_type, project_id)")]
    UnknownField { rule: String, field: String },
    #[error(
        "LAKE_TABLES: table name {0:?} is not 1 to 64 lowercase letters, digits and `_` (it names a folder of the lake)"
    )]
    BadName(String),
    #[error("LAKE_TABLES: the last rule must be `* => <table>`, so that every event has a table")]
    NoCatchAll,
    #[error("LAKE_TABLES: rule {0:?} comes after `*` and can never match")]
    Unreachable(String),
    #[error(
        "table {0:?} is not `events`, `projects/<project_id>`, `event_types/<event_type>` or `tables/<name>`"
    )]
    BadTable(String),
    #[error(
        "a table name of {0} bytes names no table: its folder would be longer than an object key may be ({MAX_FOLDER} bytes)"
    )]
    TooLong(usize),
}

impl FromStr for TableName {
    type Err = RoutingError;

    fn from_str(name: &str) -> Result<Self, RoutingError> {
        let valid = (1..=MAX_NAME).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Self(name.into()))
        } else {
            Err(RoutingError::BadName(name.into()))
        }
    }
}

impl FromStr for Routing {
    type Err = RoutingError;

    /// `events` (or nothing), `project`, `event_type`, or rules separated by `;`.
    fn from_str(spec: &str) -> Result<Self, RoutingError> {
        match spec.trim() {
            "" | "events" => return Ok(Self::Events),
            "project" | "project_id" => return Ok(Self::Project),
            "event_type" => return Ok(Self::EventType),
            _ => {}
        }
        let mut rules = Vec::new();
        for text in spec.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            if rules.last().is_some_and(|rule: &Rule| rule.matches.is_none()) {
                return Err(RoutingError::Unreachable(text.into()));
            }
            rules.push(rule(text)?);
        }
        match rules.last() {
            Some(last) if last.matches.is_none() => Ok(Self::Rules(rules)),
            _ => Err(RoutingError::NoCatchAll),
        }
    }
}

/// One rule's text.
fn rule(text: &str) -> Result<Rule, RoutingError> {
    let malformed = || RoutingError::Malformed(text.into());
    let (condition, table) = text.split_once("=>").ok_or_else(malformed)?;
    let table: TableName = table.trim().parse()?;
    let condition = condition.trim();
    if condition == "*" {
        return Ok(Rule { matches: None, table });
    }
    let (field, values) = condition.split_once(" in ").ok_or_else(malformed)?;
    let field = match field.trim() {
        "event_type" => Field::EventType,
        "project_id" => Field::ProjectId,
        other => {
            return Err(RoutingError::UnknownField {
                rule: text.into(),
                field: other.into(),
            });
        }
    };
    let values = values
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(malformed)?;
    let values: Vec<String> = values
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err(malformed());
    }
    Ok(Rule {
        matches: Some((field, values)),
        table,
    })
}

impl Routing {
    /// True when every event goes to the lake's own table (no routing at all).
    pub fn is_single(&self) -> bool {
        self == &Self::Events
    }

    /// The table `event` goes to.
    pub fn table_of(&self, event: &EnrichedEvent) -> TablePath {
        match self {
            Self::Events => TablePath::events(),
            Self::Project => TablePath::project(&event.project_id),
            Self::EventType => TablePath(format!("event_types/{}", folder(&event.event_type))),
            Self::Rules(rules) => {
                let rule = rules.iter().find(|rule| match &rule.matches {
                    None => true,
                    Some((Field::EventType, values)) => values.contains(&event.event_type),
                    Some((Field::ProjectId, values)) => values.contains(&event.project_id),
                });
                rule.map_or_else(TablePath::events, |rule| TablePath::named(&rule.table))
            }
        }
    }
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Events => f.write_str("events"),
            Self::Project => f.write_str("project"),
            Self::EventType => f.write_str("event_type"),
            Self::Rules(rules) => {
                let texts: Vec<String> = rules
                    .iter()
                    .map(|rule| match &rule.matches {
                        None => format!("* => {}", rule.table.0),
                        Some((field, values)) => format!(
                            "{} in ({}) => {}",
                            match field {
                                Field::EventType => "event_type",
                                Field::ProjectId => "project_id",
                            },
                            values.join(", "),
                            rule.table.0
                        ),
                    })
                    .collect();
                f.write_str(&texts.join("; "))
            }
        }
    }
}

/// A value as one folder name: ASCII letters, digits and `-` kept, every other byte `_XX`.
fn folder(value: &str) -> String {
    if value.is_empty() {
        return EMPTY.into();
    }
    let mut name = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            name.push(char::from(byte));
        } else {
            let _ = write!(name, "_{byte:02X}");
        }
    }
    name
}

/// The value [`folder`] made `name` from; `None` for a name it never makes.
fn value(name: &str) -> Option<String> {
    if name == EMPTY {
        return Some(String::new());
    }
    let mut bytes = Vec::with_capacity(name.len());
    let mut rest = name.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte == b'_' {
            let hex = std::str::from_utf8(after.get(..2)?).ok()?;
            if !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            {
                return None;
            }
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &after[2..];
        } else if byte.is_ascii_alphanumeric() || byte == b'-' {
            bytes.push(byte);
            rest = after;
        } else {
            return None;
        }
    }
    let value = String::from_utf8(bytes).ok()?;
    // Only the one encoding of each value: `folder` never keeps a byte it could have written as
    // `_XX`, nor writes a kept one so.
    (folder(&value) == name).then_some(value)
}

impl TablePath {
    /// The lake's own table, `<lake>/events`.
    pub fn events() -> Self {
        Self(String::new())
    }

    /// A project's table, `<lake>/projects/<project_id>/events`.
    pub fn project(project_id: &str) -> Self {
        Self(format!("projects/{}", folder(project_id)))
    }

    /// A table a rule names, `<lake>/tables/<name>/events` (`events` is the lake's own).
    pub fn named(name: &TableName) -> Self {
        if name.0 == "events" {
            Self::events()
        } else {
            Self(format!("tables/{}", name.0))
        }
    }

    /// The project whose events the table holds, when it is a project's table
    /// (`projects/<project_id>`, `LAKE_TABLES=project`): what a rebuild or reconcile of that
    /// table alone compares it with in the warehouse.
    pub fn project_id(&self) -> Option<String> {
        value(self.0.strip_prefix("projects/")?)
    }

    /// The table in `<kind>/<folder>` (one of [`FOLDERS`]), its folder name as found in the store.
    pub(crate) fn from_folder(kind: &str, folder: &str) -> Self {
        Self(format!("{kind}/{folder}"))
    }

    /// The folder under the lake root that holds the table's `events` folder (`""` for the lake's
    /// own).
    pub(crate) fn folder(&self) -> &str {
        &self.0
    }

    /// What [`FromStr`] reads back into this table: `events`, `tables/<name>`, or the project id
    /// or event type as it was sent (`projects/a/../b`, where [`fmt::Display`] writes the folder,
    /// `projects/a_2F_2E_2E_2Fb`). `None` for a folder no value encodes to (made by hand).
    pub fn name(&self) -> Option<String> {
        let name = match self.0.split_once('/') {
            None => return Some("events".into()),
            Some((kind @ ("projects" | "event_types"), folder)) => format!("{kind}/{}", value(folder)?),
            Some(_) => self.0.clone(),
        };
        (name.parse::<Self>().ok().as_ref() == Some(self)).then_some(name)
    }

    /// Where the table is: the lake's location with this folder appended to its root, so that its
    /// `events_url` is the table's.
    pub fn location(&self, lake: &LakeLocation) -> LakeLocation {
        if self.0.is_empty() {
            return lake.clone();
        }
        LakeLocation {
            uri: format!("{}/{}", lake.uri.trim_end_matches('/'), self.0),
            ..lake.clone()
        }
    }
}

impl serde::Serialize for TablePath {
    /// As [`fmt::Display`] writes it.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for TablePath {
    /// `events`, or the folder (`projects/shop`), as logs and `--table` name it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("events")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl FromStr for TablePath {
    type Err = RoutingError;

    /// A table as a person names it (`--table`, the lake browser's `table`): `events`,
    /// `projects/<id>`, `event_types/<type>` (the id or type as it was sent; it is encoded here,
    /// so no text names a folder outside its kind's) or `tables/<name>`; [`TablePath::name`]
    /// writes it back.
    fn from_str(text: &str) -> Result<Self, RoutingError> {
        let bad = || RoutingError::BadTable(text.into());
        let path = match text.split_once('/') {
            None if text == "events" => Self::events(),
            Some(("projects", id)) => Self::project(id),
            Some(("event_types", kind)) => Self(format!("event_types/{}", folder(kind))),
            Some(("tables", name)) => Self::named(&name.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        if path.0.len() > MAX_FOLDER {
            return Err(RoutingError::TooLong(text.len()));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(project_id: &str, event_type: &str) -> EnrichedEvent {
        let mut record = crate::table::encode::tests::record(0, None);
        record.event.project_id = project_id.into();
        record.event.event_type = event_type.into();
        record.event
    }

    #[test]
    fn the_default_sends_everything_to_the_lakes_own_table() {
        let routing: Routing = "".parse().unwrap();
        assert!(routing.is_single());
        assert_eq!(routing.table_of(&event("shop", "click")), TablePath::events());
        assert_eq!("events".parse::<Routing>().unwrap(), Routing::Events);
    }

    #[test]
    fn projects_and_event_types_get_a_table_each() {
        let project: Routing = "project".parse().unwrap();
        assert_eq!(
            project.table_of(&event("shop", "click")).to_string(),
            "projects/shop"
        );
        let by_type: Routing = "event_type".parse().unwrap();
        assert_eq!(
            by_type.table_of(&event("shop", "page_view")).to_string(),
            "event_types/page_5Fview"
        );
    }

    #[test]
    fn no_value_escapes_its_folder() {
        let project = Routing::Project;
        for (id, folder) in [
            ("..", "projects/_2E_2E"),
            ("a/../../b", "projects/a_2F_2E_2E_2F_2E_2E_2Fb"),
            ("a%2F..", "projects/a_252F_2E_2E"),
            ("", "projects/_"),
            ("_", "projects/_5F"),
            ("Shop-1", "projects/Shop-1"),
        ] {
            let path = project.table_of(&event(id, "click"));
            assert_eq!(path.to_string(), folder, "{id:?}");
            assert_eq!(path.project_id().as_deref(), Some(id), "the id read back");
            let location = path.location(&LakeLocation::new("s3://bucket/lake"));
            assert!(
                location.uri.starts_with("s3://bucket/lake/projects/"),
                "{location:?}"
            );
            assert_eq!(
                location.uri.matches('/').count(),
                5,
                "one folder deep: {location:?}"
            );
        }
    }

    #[test]
    fn rules_apply_in_order_and_the_last_catches_all() {
        let routing: Routing = "event_type in (signup, purchase) => conversions; project_id in (internal) => internal; * => events"
            .parse()
            .unwrap();
        assert_eq!(
            routing.table_of(&event("internal", "signup")).to_string(),
            "tables/conversions"
        );
        assert_eq!(
            routing.table_of(&event("internal", "click")).to_string(),
            "tables/internal"
        );
        assert_eq!(routing.table_of(&event("shop", "click")), TablePath::events());
        assert_eq!(
            routing.to_string().parse::<Routing>().unwrap(),
            routing,
            "what it prints parses back"
        );
    }

    #[test]
    fn bad_rules_are_refused_with_what_is_wrong() {
        let refused = |spec: &str| spec.parse::<Routing>().unwrap_err();
        assert_eq!(refused("event_type in (a) => x"), RoutingError::NoCatchAll);
        assert_eq!(
            refused("* => events; * => other"),
            RoutingError::Unreachable("* => other".into())
        );
        assert_eq!(refused("* => ../up"), RoutingError::BadName("../up".into()));
        assert_eq!(refused("* => Events"), RoutingError::BadName("Events".into()));
        assert!(matches!(
            refused("country in (fr) => x; * => y"),
            RoutingError::UnknownField { .. }
        ));
        assert!(matches!(
            refused("event_type in () => x; * => y"),
            RoutingError::Malformed(_)
        ));
        assert!(matches!(
            refused("event_type => x; * => y"),
            RoutingError::Malformed(_)
        ));
    }

    #[test]
    fn only_a_projects_table_names_a_project() {
        assert_eq!(TablePath::events().project_id(), None);
        assert_eq!("tables/shop".parse::<TablePath>().unwrap().project_id(), None);
        assert_eq!(
            "event_types/shop".parse::<TablePath>().unwrap().project_id(),
            None
        );
        // Folders found in a store that the writer never makes (written by hand).
        for folder in ["foo_bar", "a_2f", "_5", "a.b", "a_41"] {
            assert_eq!(
                TablePath::from_folder("projects", folder).project_id(),
                None,
                "{folder}"
            );
        }
    }

    #[test]
    fn a_table_named_on_the_command_line_is_the_writers() {
        for text in ["events", "projects/shop", "tables/conversions"] {
            assert_eq!(text.parse::<TablePath>().unwrap().to_string(), text);
        }
        assert_eq!(
            "projects/a.b".parse::<TablePath>().unwrap(),
            TablePath::project("a.b")
        );
        for hostile in [
            "elsewhere/x",
            "tables/../x",
            "../x",
            "events/",
            "",
            "tables/Events",
        ] {
            assert_eq!(
                hostile.parse::<TablePath>(),
                Err(RoutingError::BadTable(hostile.into())),
                "{hostile:?}"
            );
        }
        let long = format!("projects/{}", "a".repeat(1_100));
        assert_eq!(long.parse::<TablePath>(), Err(RoutingError::TooLong(long.len())));
        let encoded_past_the_limit = format!("projects/{}", ".".repeat(400));
        assert!(matches!(
            encoded_past_the_limit.parse::<TablePath>(),
            Err(RoutingError::TooLong(_))
        ));
    }

    #[test]
    fn a_tables_name_reads_back_into_it() {
        for name in [
            "events",
            "projects/shop",
            "projects/a/../b",
            "projects/",
            "projects/_",
            "projects/été",
            "event_types/page_view",
            "tables/conversions",
        ] {
            let path: TablePath = name.parse().unwrap();
            assert_eq!(path.name().as_deref(), Some(name), "{path}");
        }
        assert_eq!(
            "projects/a/../b".parse::<TablePath>().unwrap().to_string(),
            "projects/a_2F_2E_2E_2Fb"
        );
        for by_hand in ["x.y", "_2f", "_2", "a_ZZ", "_FF"] {
            assert_eq!(
                TablePath::from_folder("projects", by_hand).name(),
                None,
                "{by_hand:?}"
            );
        }
        assert_eq!(
            "projects/a.b"
                .parse::<TablePath>()
                .unwrap()
                .project_id()
                .as_deref(),
            Some("a.b")
        );
    }
}
