//! Which of the lake's tables a page reads (DESIGN.md §8.6, §15): the `table` query parameter,
//! named as `lakehouse lake --table` names it (`events` when absent), parsed by the lake's own
//! [`TablePath`] parser (so no name reaches a folder outside its kind's) and refused unless the
//! lake holds that table. Every link and form of a page carries it on.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lakehouse_lake::{LakeLocation, TablePath, has_table};
use maud::{Markup, html};

use crate::error::PageError;
use crate::layout::{TABLE_PARAM, on_table};
use crate::state::AppState;

/// The table a request chose, known to be in the lake.
#[derive(Debug, Clone)]
pub struct ChosenTable {
    pub path: TablePath,
    /// Where the table is (what `open_at` reads).
    pub location: LakeLocation,
    /// What the `table` parameter carries back to this table ([`TablePath::name`]).
    pub name: String,
}

impl ChosenTable {
    /// The table named `text` (`None` or blank: `events`) in the lake at `lake`: a 400 naming the
    /// parameter when the name is not one, a 404 when the lake holds no such table. Only lists
    /// under the lake's root: nothing is opened, or created, for a name before it is known.
    pub async fn choose(lake: &LakeLocation, text: Option<&str>) -> Result<Self, PageError> {
        let text = text.map(str::trim).filter(|text| !text.is_empty());
        let path: TablePath = match text {
            None => TablePath::events(),
            Some(text) => text
                .parse()
                .map_err(|error| PageError::BadRequest(format!("{TABLE_PARAM}: {error}")))?,
        };
        let name = text.map_or_else(|| "events".to_string(), str::to_string);
        if !has_table(lake, &path).await? {
            return Err(PageError::NoTable(format!(
                "{TABLE_PARAM}: there is no table {name:?} in this lake (the tables are listed at /tables)"
            )));
        }
        Ok(Self {
            location: path.location(lake),
            path,
            name,
        })
    }

    /// A table [`lakehouse_lake::tables`] listed in the lake at `lake`; `None` when its folder is
    /// not one the writer names (made by hand), which no `table` parameter could name again.
    pub fn listed(lake: &LakeLocation, path: TablePath) -> Option<Self> {
        let name = path.name()?;
        Some(Self {
            location: path.location(lake),
            path,
            name,
        })
    }

    /// Whether this is the lake's own table (`<lake>/events`), whose links carry no `table`.
    fn is_events(&self) -> bool {
        self.path == TablePath::events()
    }

    /// A link to `page` of this table with `pairs` as its query (`table` added unless `events`).
    pub fn href(&self, page: &str, pairs: &[(&str, String)]) -> String {
        on_table(Some(&self.name), page, pairs)
    }

    /// The hidden field that carries the table through a form (nothing for `events`).
    pub fn field(&self) -> Markup {
        html! {
            @if !self.is_events() {
                input type="hidden" name=(TABLE_PARAM) value=(self.name);
            }
        }
    }
}

impl FromRequestParts<AppState> for ChosenTable {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let query = parts.uri.query().unwrap_or_default();
        let text = url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == TABLE_PARAM)
            .map(|(_, value)| value.into_owned());
        Self::choose(&state.location, text.as_deref()).await
    }
}
