//! Hyperparameter search: search spaces parsed from a recipe's `[search]` table, samplers, the
//! runner, and the storages that share a study between workers (SQLite, PostgreSQL).
pub mod postgres;
pub mod report;
pub mod runner;
pub mod sampler;
pub mod space;
pub mod storage;

use std::sync::Arc;

use anyhow::{bail, Result};

use self::postgres::PostgresStorage;
use self::storage::{SearchStorage, SqliteStorage};

/// The storage a `--storage` URL names: `sqlite:PATH` (a file, workers on one machine) or
/// `postgresql://USER@HOST:PORT/DB` / `postgres://…` (a server, workers anywhere).
pub fn open_storage(url: &str) -> Result<Arc<dyn SearchStorage>> {
    if url.starts_with("postgresql://") || url.starts_with("postgres://") {
        Ok(Arc::new(PostgresStorage::from_url(url)?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStorage::from_url(url)?))
    } else {
        bail!(
            "unsupported storage '{url}': use sqlite:PATH (e.g. sqlite:studies.db) or postgresql://USER@HOST:PORT/DB"
        )
    }
}
