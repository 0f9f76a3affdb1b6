//! The example queries the SQL console offers, each a link that puts it in the query box to be
//! read, changed and run. DataFusion as the lake uses it has no JSON functions, so a field of
//! `properties` (a JSON string) is read with `regexp_match`.

/// One example: its name in links, what it shows, and its SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    pub name: &'static str,
    pub title: &'static str,
    pub sql: &'static str,
}

/// The examples, in the order the console lists them; the first is what the box holds before
/// anything is chosen or typed.
pub const EXAMPLES: [Example; 6] = [
    Example {
        name: "per-type",
        title: "Events per type",
        sql: "SELECT event_type, count(*) AS events\nFROM events\nGROUP BY event_type\nORDER BY events DESC",
    },
    Example {
        name: "per-day",
        title: "Events and sessions per day",
        sql: "SELECT event_date, count(*) AS events, count(DISTINCT session_id) AS sessions\nFROM events\nGROUP BY event_date\nORDER BY event_date",
    },
    Example {
        name: "revenue",
        title: "Conversions and revenue per day",
        sql: "SELECT event_date, count(*) AS conversions, round(sum(value), 2) AS revenue\nFROM events\nWHERE event_type = 'conversion'\nGROUP BY event_date\nORDER BY event_date",
    },
    Example {
        name: "funnel",
        title: "Funnel steps (properties.step)",
        sql: "SELECT regexp_match(properties, '\"step\":\\s*(\\d+)')[1] AS step, count(*) AS events\nFROM events\nWHERE event_type = 'funnel_step'\nGROUP BY 1\nORDER BY 1",
    },
    Example {
        name: "pages",
        title: "Top pages",
        sql: "SELECT path, count(*) AS views, count(DISTINCT visitor_id) AS visitors\nFROM events\nWHERE event_type = 'page_view'\nGROUP BY path\nORDER BY views DESC\nLIMIT 20",
    },
    Example {
        name: "latest",
        title: "The latest events",
        sql: "SELECT received_at, event_type, event_name, path, country\nFROM events\nORDER BY received_at DESC\nLIMIT 50",
    },
];

/// The example called `name`.
pub fn example(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|example| example.name == name)
}
