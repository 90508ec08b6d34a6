//! The schema: versioned migrations embedded in the binary, applied at start.
//!
//! `regway_schema` holds one row per applied version. A node applies the versions it
//! knows and the database lacks, each in its own transaction, while it holds a lock on
//! `regway_schema` (nodes starting together migrate one after the other), and refuses
//! to start on a database that has a version newer than it knows.

use super::open_error as pg_error;
use crate::error::{Error, Result};
use tokio_postgres::Client;

/// Every migration, in order: (version, SQL).
pub const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("migrations/0001_store.sql"))];

/// The newest version this binary knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Brings the schema to [`latest`], or refuses a newer one. Returns the versions applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS regway_schema (
                 version INT PRIMARY KEY,
                 applied TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .or_else(|e| {
            // Two nodes creating it at once: the loser sees a unique violation.
            if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                Ok(())
            } else {
                Err(pg_error(e))
            }
        })?;
    let mut applied = Vec::new();
    loop {
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.batch_execute("LOCK TABLE regway_schema IN EXCLUSIVE MODE")
            .await
            .map_err(pg_error)?;
        let current: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM regway_schema", &[])
            .await
            .map_err(pg_error)?
            .get(0);
        if current > latest() {
            return Err(Error::new(
                crate::error::Code::Failed,
                format!(
                    "the database's schema is version {current}, newer than this regway knows \
                 ({}); run a regway that knows it",
                    latest()
                ),
            ));
        }
        let Some((version, sql)) = MIGRATIONS.iter().find(|m| m.0 == current + 1) else {
            tx.commit().await.map_err(pg_error)?;
            return Ok(applied);
        };
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute(
            "INSERT INTO regway_schema (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        tracing::info!(version, "database schema migrated");
        applied.push(*version);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, (v, _)) in super::MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i32 + 1);
        }
    }
}
