//! A PostgreSQL database of the test's own on the stack's server, dropped after the test.

use sqlx::{Connection, Executor, PgConnection};

use crate::{Stack, unique};

/// A database made for one test, dropped (with its connections) when the value is dropped.
#[derive(Debug)]
pub struct TempDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TempDatabase {
    pub async fn create(stack: &Stack) -> Self {
        let name = unique("test").replace('-', "_");
        let mut admin = PgConnection::connect(&stack.database_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL (is `scripts/stack up` running?): {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        let url = replace_database(&stack.database_url, &name);
        Self {
            name,
            url,
            admin_url: stack.database_url.clone(),
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ = admin.execute(statement.as_str()).await;
                    }
                });
            }
        })
        .join();
    }
}

/// The same URL with another database name (the path), keeping any query string.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_credentials_host_and_query() {
        assert_eq!(
            replace_database("postgres://u:p@h:5432/main?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/main", "t2"),
            "postgres://u:p@h/t2"
        );
    }
}
