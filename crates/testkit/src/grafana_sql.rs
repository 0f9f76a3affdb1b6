//! Grafana's PostgreSQL macros and template variables, expanded the way Grafana expands them
//! before it sends a panel's SQL to the database, so that a test can run the very same query.

use chrono::{DateTime, SecondsFormat, Utc};

/// The dashboard time range and the interval Grafana would pick for it.
#[derive(Debug, Clone)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `$__interval`, as Grafana writes it (`1h`, `5m`, `30s`).
    pub interval: String,
}

/// A template variable's value: several values (a multi-value variable, quoted and joined with
/// commas, as Grafana does for SQL data sources) or one (inserted as it is, quotes doubled).
#[derive(Debug, Clone)]
pub enum Value {
    Multi(Vec<String>),
    Single(String),
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Multi(values) => values.iter().map(|v| quote(v)).collect::<Vec<_>>().join(","),
            Value::Single(value) => value.replace('\'', "''"),
        }
    }
}

/// `sql` with `$name` and `${name}` replaced by the variables' values (longest names first, so
/// that `$project` never eats the start of `$project_id`).
pub fn expand_variables(sql: &str, variables: &[(String, Value)]) -> String {
    let mut sorted: Vec<_> = variables.iter().collect();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut sql = sql.to_string();
    for (name, value) in sorted {
        let rendered = value.render();
        sql = sql.replace(&format!("${{{name}}}"), &rendered);
        sql = sql.replace(&format!("${name}"), &rendered);
    }
    sql
}

/// Seconds in a Grafana interval such as `1h` or `'5m'`.
fn interval_seconds(text: &str) -> Result<i64, String> {
    let text = text.trim().trim_matches(|c| c == '\'' || c == '"');
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("interval {text:?} has no unit"))?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| format!("interval {text:?}"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("interval {text:?} has an unknown unit")),
    };
    Ok(number * unit)
}

fn time(at: DateTime<Utc>) -> String {
    quote(&at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The arguments of a macro call whose `(` is at the start of `rest`, split on top-level commas,
/// and the length of the call up to and including its `)`.
fn arguments(rest: &str) -> Result<(Vec<String>, usize), String> {
    let mut depth = 0;
    let mut args = vec![String::new()];
    for (at, c) in rest.char_indices() {
        match c {
            '(' if depth == 0 => {
                depth = 1;
                continue;
            }
            '(' => depth += 1,
            ')' if depth == 1 => {
                let args = args
                    .into_iter()
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty());
                return Ok((args.collect(), at + 1));
            }
            ')' => depth -= 1,
            ',' if depth == 1 => {
                args.push(String::new());
                continue;
            }
            _ => {}
        }
        args.last_mut().expect("one argument at least").push(c);
    }
    Err(format!("unclosed macro call: {rest}"))
}

fn time_group(args: &[String], range: &Range) -> Result<String, String> {
    let [column, interval, ..] = args else {
        return Err(format!(
            "$__timeGroup needs a column and an interval, got {args:?}"
        ));
    };
    let interval = interval.replace("$__interval", &range.interval);
    let seconds = interval_seconds(&interval)?;
    Ok(format!("floor(extract(epoch from {column})/{seconds})*{seconds}"))
}

/// `sql` with Grafana's PostgreSQL macros expanded for `range`; an error names a macro Grafana
/// does not have (or one this expansion does not know) and anything left unexpanded.
pub fn expand_macros(sql: &str, range: &Range) -> Result<String, String> {
    let interval_ms = interval_seconds(&range.interval)? * 1000;
    let mut sql = sql
        .replace("$__interval_ms", &interval_ms.to_string())
        .replace("$__interval", &range.interval);
    while let Some(start) = sql.find("$__") {
        let name_end = sql[start + 3..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(sql.len(), |n| start + 3 + n);
        let name = &sql[start + 3..name_end];
        if !sql[name_end..].starts_with('(') {
            return Err(format!("${name} is not a macro call in: {sql}"));
        }
        let (args, length) = arguments(&sql[name_end..])?;
        let column = || {
            args.first()
                .cloned()
                .ok_or_else(|| format!("$__{name} needs a column"))
        };
        let replacement = match name {
            "timeFilter" => format!(
                "{} BETWEEN {} AND {}",
                column()?,
                time(range.from),
                time(range.to)
            ),
            "timeFrom" => time(range.from),
            "timeTo" => time(range.to),
            "timeGroup" => time_group(&args, range)?,
            "timeGroupAlias" => format!("{} AS \"time\"", time_group(&args, range)?),
            "unixEpochFilter" => format!(
                "{0} >= {1} AND {0} <= {2}",
                column()?,
                range.from.timestamp(),
                range.to.timestamp()
            ),
            _ => return Err(format!("unknown macro $__{name}")),
        };
        sql.replace_range(start..name_end + length, &replacement);
    }
    if let Some(at) = sql.find('$') {
        return Err(format!("unexpanded variable at {:?}", &sql[at..]));
    }
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn range() -> Range {
        Range {
            from: Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap(),
            interval: "1h".into(),
        }
    }

    #[test]
    fn macros_expand_as_grafana_writes_them() {
        let sql = "SELECT $__timeGroupAlias(bucket, $__interval), sum(x) FROM t \
                   WHERE $__timeFilter(bucket) AND a < $__timeTo() GROUP BY $__timeGroup(bucket, '5m')";
        assert_eq!(
            expand_macros(sql, &range()).unwrap(),
            "SELECT floor(extract(epoch from bucket)/3600)*3600 AS \"time\", sum(x) FROM t \
             WHERE bucket BETWEEN '2026-10-01T00:00:00Z' AND '2026-11-02T00:00:00Z' \
             AND a < '2026-11-02T00:00:00Z' GROUP BY floor(extract(epoch from bucket)/300)*300"
        );
    }

    #[test]
    fn unknown_macros_and_leftover_variables_are_errors() {
        assert!(expand_macros("SELECT $__timeFilterX(a)", &range()).is_err());
        assert!(expand_macros("SELECT 1 WHERE a IN ($project)", &range()).is_err());
    }

    #[test]
    fn variables_are_quoted_when_multi_valued_and_raw_when_single() {
        let variables = vec![
            (
                "project".to_string(),
                Value::Multi(vec!["shop".into(), "o'brien".into()]),
            ),
            ("funnel".to_string(), Value::Single("check'out".into())),
        ];
        assert_eq!(
            expand_variables(
                "p IN ($project) AND f = '${funnel}' AND project_id = 1",
                &variables
            ),
            "p IN ('shop','o''brien') AND f = 'check''out' AND project_id = 1"
        );
    }
}
