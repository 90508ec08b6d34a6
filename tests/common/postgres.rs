//! A database of its own for each test, on the PostgreSQL server the tests use
//! (`REGWAY_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432`; `scripts/test`
//! starts or installs it): created with a random name, dropped when the handle is.

use tokio_postgres::NoTls;

/// The server, without a database name.
pub fn server() -> String {
    std::env::var("REGWAY_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into())
}

/// Runs `sql` on the server's `postgres` database, on a thread of its own (callers
/// may be inside a runtime or not).
pub fn admin(sql: String) -> Result<(), String> {
    let url = format!("{}/postgres", server());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let (client, conn) = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                tokio_postgres::connect(&url, NoTls),
            )
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            client.batch_execute(&sql).await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}

pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A new, empty database; `None` (through `cannot_run`) when no server answers.
    pub fn create(test: &str) -> Option<TestDatabase> {
        static JANITOR: std::sync::Once = std::sync::Once::new();
        JANITOR.call_once(drop_orphans);
        let bytes: [u8; 8] = rand::random();
        let name = format!(
            "regway_test_p{}_{}",
            std::process::id(),
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        if let Err(e) = admin(format!("CREATE DATABASE {name}")) {
            super::cannot_run(
                test,
                &format!(
                    "no PostgreSQL at {} ({e}); scripts/test starts one",
                    server()
                ),
            );
            return None;
        }
        Some(TestDatabase {
            url: format!("{}/{name}", server()),
            name,
        })
    }

    /// The same database as a URL with extra parameters (`sslmode=require`).
    pub fn url_with(&self, params: &str) -> String {
        format!("{}?{params}", self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Drops the databases of test processes that are gone (those kept for a data
/// directory, [`for_data`], live as long as their process).
fn drop_orphans() {
    let Ok(names) = query_text(
        &format!("{}/postgres", server()),
        "SELECT coalesce(string_agg(datname, ' '), '') FROM pg_database \
         WHERE datname LIKE 'regway\\_test\\_p%'",
    ) else {
        return;
    };
    for name in names.split_whitespace() {
        let pid = name
            .strip_prefix("regway_test_p")
            .and_then(|r| r.split('_').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// The database of a data directory when the shared tests run on PostgreSQL: a server
/// started again on the same directory finds the same records, as with sled.
pub fn for_data(data: &std::path::Path) -> std::sync::Arc<TestDatabase> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static BY_DATA: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<TestDatabase>>>> =
        OnceLock::new();
    let mut map = BY_DATA
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    map.entry(data.to_path_buf())
        .or_insert_with(|| {
            Arc::new(
                TestDatabase::create("a test on PostgreSQL")
                    .expect("a PostgreSQL server (REGWAY_TEST_STORE=postgres)"),
            )
        })
        .clone()
}

/// Whether this run puts the shared tests on PostgreSQL (`REGWAY_TEST_STORE=postgres`).
pub fn shared_tests_on_postgres() -> bool {
    std::env::var("REGWAY_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// The first column of the first row of `sql` on the database at `url`, as text.
pub fn query_text(url: &str, sql: &str) -> Result<String, String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let rows = client.simple_query(&sql).await.map_err(|e| e.to_string())?;
            for m in rows {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                    return Ok(r.get(0).unwrap_or_default().to_string());
                }
            }
            Err("no row".to_string())
        })
    })
    .join()
    .map_err(|_| "the query thread panicked".to_string())?
}
