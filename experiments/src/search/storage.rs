//! Where a search keeps its study and trials: behind [`SearchStorage`], so a shared server
//! database can replace the SQLite file for workers on several machines.

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::space::Assignment;

/// What a study is: everything that must match for a second process to join it.
#[derive(Clone, Debug, PartialEq)]
pub struct StudySpec {
    /// Study name, unique in the storage.
    pub name: String,
    /// The base recipe, as TOML (with its `[search]` space).
    pub recipe: String,
    /// `grid`, `random`, `halving`, `hyperband` or `tpe`.
    pub strategy: String,
    /// The metric optimized, e.g. `valid_accuracy`.
    pub metric: String,
    /// `max` or `min`.
    pub direction: String,
    /// Seed of the proposals.
    pub seed: u64,
}

/// Where a trial is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialStatus {
    /// Claimed by a worker, training.
    Running,
    /// Trained to the end.
    Complete,
    /// Stopped early by the pruner (halving, hyperband).
    Pruned,
    /// Ended by an error (NaN loss, ...); the reason is stored.
    Failed,
}

impl TrialStatus {
    /// The stored name: `running`, `complete`, `pruned` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialStatus::Running => "running",
            TrialStatus::Complete => "complete",
            TrialStatus::Pruned => "pruned",
            TrialStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "complete" => TrialStatus::Complete,
            "pruned" => TrialStatus::Pruned,
            "failed" => TrialStatus::Failed,
            _ => TrialStatus::Running,
        }
    }

    /// Whether the trial counts against the `--trials` budget as finished.
    pub fn is_finished(self) -> bool {
        self != TrialStatus::Running
    }
}

/// One trial as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRecord {
    /// Row id.
    pub id: i64,
    /// 0-based number within the study, in claim order.
    pub number: usize,
    /// The hyperparameters.
    pub params: Assignment,
    /// Life stage.
    pub status: TrialStatus,
    /// The metric at the end (or where it was pruned).
    pub value: Option<f64>,
    /// Why it failed.
    pub reason: Option<String>,
    /// Hyperband bracket (0 for the other strategies).
    pub bracket: usize,
    /// Who runs or ran it (`host:pid:thread`).
    pub worker: String,
    /// Wall-clock seconds from claim to finish.
    pub seconds: Option<f64>,
    /// The metric after each epoch, in order.
    pub epochs: Vec<f64>,
}

/// Proposes trial `number`'s parameters and bracket from the trials so far.
pub type Propose<'a> = dyn FnMut(usize, &[TrialRecord]) -> Result<(Assignment, usize)> + 'a;

/// The operations a search needs from its storage. Every method is safe to call from several
/// threads and several processes at once.
pub trait SearchStorage: Send + Sync {
    /// Creates the study, or joins it if it exists with the same spec (an error otherwise).
    fn open_study(&self, spec: &StudySpec) -> Result<i64>;
    /// The spec of a study by name.
    fn study(&self, name: &str) -> Result<(i64, StudySpec)>;
    /// Atomically: re-assigns a trial whose worker died to `worker`, or creates the next one
    /// from `propose(number, trials so far) -> (params, bracket)`; `None` once `budget` trials are
    /// finished or running.
    fn claim(
        &self,
        study: i64,
        budget: usize,
        worker: &str,
        propose: &mut Propose,
    ) -> Result<Option<TrialRecord>>;
    /// Records the metric after an epoch (also a heartbeat).
    fn report(&self, trial: i64, epoch: usize, value: f64) -> Result<()>;
    /// Ends a trial.
    fn finish(
        &self,
        trial: i64,
        status: TrialStatus,
        value: Option<f64>,
        reason: Option<&str>,
    ) -> Result<()>;
    /// Every trial of a study, by number, with its per-epoch values.
    fn trials(&self, study: i64) -> Result<Vec<TrialRecord>>;
}

/// [`SearchStorage`] in one SQLite file (WAL mode; a busy database is waited for).
pub struct SqliteStorage {
    connection: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, recipe TEXT NOT NULL, strategy TEXT NOT NULL,
    metric TEXT NOT NULL, direction TEXT NOT NULL, seed INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL REFERENCES studies(id), number INTEGER NOT NULL,
    params TEXT NOT NULL, status TEXT NOT NULL, value REAL, reason TEXT, bracket INTEGER NOT NULL,
    worker TEXT NOT NULL, started REAL NOT NULL, heartbeat REAL NOT NULL, finished REAL,
    UNIQUE (study_id, number));
CREATE TABLE IF NOT EXISTS trial_epochs (
    trial_id INTEGER NOT NULL REFERENCES trials(id), epoch INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (trial_id, epoch));
";

/// A `studies` row: id, recipe, strategy, metric, direction, seed.
type StoredStudy = (i64, String, String, String, String, i64);

/// A running trial whose worker shows no sign of life for this long is re-run.
const STALE_AFTER_SECONDS: f64 = 3600.0;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This process's worker prefix: `host:pid`.
pub fn process_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!("{host}:{}", std::process::id())
}

/// Whether the process that claimed a trial is gone: same host and no such pid, or silent for
/// an hour (another host).
fn worker_is_dead(worker: &str, heartbeat: f64) -> bool {
    let mut parts = worker.split(':');
    let (host, pid) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let me = process_id();
    let my_host = me.split(':').next().unwrap_or("");
    if host == my_host {
        if pid == std::process::id().to_string() {
            return false;
        }
        return !Path::new("/proc").join(pid).exists();
    }
    now() - heartbeat > STALE_AFTER_SECONDS
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create '{}'", parent.display()))?;
        }
        let connection = Connection::open(path)
            .with_context(|| format!("cannot open study storage '{}'", path.display()))?;
        connection.busy_timeout(std::time::Duration::from_secs(60))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection
            .execute_batch(SCHEMA)
            .with_context(|| format!("'{}' is not a study database", path.display()))?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    /// Parses `sqlite:PATH` (the `--storage` flag).
    pub fn from_url(url: &str) -> Result<Self> {
        match url.strip_prefix("sqlite:") {
            Some(path) if !path.is_empty() => Self::open(Path::new(path)),
            _ => bail!("unsupported storage '{url}': use sqlite:PATH (e.g. sqlite:studies.db)"),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().expect("storage lock")
    }
}

fn load_trials(conn: &Connection, study: i64) -> Result<Vec<TrialRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, number, params, status, value, reason, bracket, worker, started, finished
         FROM trials WHERE study_id = ?1 ORDER BY number",
    )?;
    let mut epochs_stmt =
        conn.prepare("SELECT value FROM trial_epochs WHERE trial_id = ?1 ORDER BY epoch")?;
    let rows = stmt.query_map(params![study], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<f64>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, f64>(8)?,
            r.get::<_, Option<f64>>(9)?,
        ))
    })?;
    let mut trials = Vec::new();
    for row in rows {
        let (id, number, params, status, value, reason, bracket, worker, started, finished) = row?;
        let params: toml::Table =
            toml::from_str(&params).context("corrupt trial parameters in the study database")?;
        let epochs = epochs_stmt
            .query_map(params![id], |r| r.get::<_, f64>(0))?
            .collect::<Result<Vec<f64>, _>>()?;
        trials.push(TrialRecord {
            id,
            number: number as usize,
            params: params.into_iter().collect(),
            status: TrialStatus::parse(&status),
            value,
            reason,
            bracket: bracket as usize,
            worker,
            seconds: finished.map(|f| f - started),
            epochs,
        });
    }
    Ok(trials)
}

impl SearchStorage for SqliteStorage {
    fn open_study(&self, spec: &StudySpec) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<StoredStudy> = tx
            .query_row(
                "SELECT id, recipe, strategy, metric, direction, seed FROM studies WHERE name = ?1",
                params![spec.name],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?;
        let id = match existing {
            Some((id, recipe, strategy, metric, direction, seed)) => {
                let stored = StudySpec {
                    name: spec.name.clone(),
                    recipe,
                    strategy,
                    metric,
                    direction,
                    seed: seed as u64,
                };
                if &stored != spec {
                    bail!(
                        "study '{}' already exists with other settings (strategy {}, metric {} {}, seed {}, or another recipe); pick another --study name",
                        spec.name, stored.strategy, stored.direction, stored.metric, stored.seed
                    );
                }
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO studies (name, recipe, strategy, metric, direction, seed, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![spec.name, spec.recipe, spec.strategy, spec.metric, spec.direction, spec.seed as i64, now()],
                )?;
                tx.last_insert_rowid()
            }
        };
        tx.commit()?;
        Ok(id)
    }

    fn study(&self, name: &str) -> Result<(i64, StudySpec)> {
        let conn = self.conn();
        conn.query_row(
            "SELECT id, recipe, strategy, metric, direction, seed FROM studies WHERE name = ?1",
            params![name],
            |r| {
                Ok((
                    r.get(0)?,
                    StudySpec {
                        name: name.to_string(),
                        recipe: r.get(1)?,
                        strategy: r.get(2)?,
                        metric: r.get(3)?,
                        direction: r.get(4)?,
                        seed: r.get::<_, i64>(5)? as u64,
                    },
                ))
            },
        )
        .optional()?
        .with_context(|| format!("no study named '{name}' in this storage"))
    }

    fn claim(
        &self,
        study: i64,
        budget: usize,
        worker: &str,
        propose: &mut Propose,
    ) -> Result<Option<TrialRecord>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let trials = load_trials(&tx, study)?;
        let heartbeats: Vec<(i64, f64)> = {
            let mut stmt = tx.prepare(
                "SELECT id, heartbeat FROM trials WHERE study_id = ?1 AND status = 'running'",
            )?;
            let rows = stmt.query_map(params![study], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let heartbeat = |id: i64| {
            heartbeats
                .iter()
                .find(|(i, _)| *i == id)
                .map_or(0.0, |(_, h)| *h)
        };
        let stale = trials.iter().find(|t| {
            t.status == TrialStatus::Running && worker_is_dead(&t.worker, heartbeat(t.id))
        });
        let claimed = if let Some(t) = stale {
            tx.execute(
                "DELETE FROM trial_epochs WHERE trial_id = ?1",
                params![t.id],
            )?;
            tx.execute(
                "UPDATE trials SET worker = ?1, started = ?2, heartbeat = ?2 WHERE id = ?3",
                params![worker, now(), t.id],
            )?;
            Some(TrialRecord {
                worker: worker.to_string(),
                epochs: Vec::new(),
                ..t.clone()
            })
        } else if trials.len() >= budget {
            None
        } else {
            let number = trials.len();
            let (params, bracket) = propose(number, &trials)?;
            let table: toml::Table = params.clone().into_iter().collect();
            tx.execute(
                "INSERT INTO trials (study_id, number, params, status, bracket, worker, started, heartbeat)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?6)",
                params![study, number as i64, toml::to_string(&table)?, bracket as i64, worker, now()],
            )?;
            Some(TrialRecord {
                id: tx.last_insert_rowid(),
                number,
                params,
                status: TrialStatus::Running,
                value: None,
                reason: None,
                bracket,
                worker: worker.to_string(),
                seconds: None,
                epochs: Vec::new(),
            })
        };
        tx.commit()?;
        Ok(claimed)
    }

    fn report(&self, trial: i64, epoch: usize, value: f64) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR REPLACE INTO trial_epochs (trial_id, epoch, value) VALUES (?1, ?2, ?3)",
            params![trial, epoch as i64, value],
        )?;
        conn.execute(
            "UPDATE trials SET heartbeat = ?1 WHERE id = ?2",
            params![now(), trial],
        )?;
        Ok(())
    }

    fn finish(
        &self,
        trial: i64,
        status: TrialStatus,
        value: Option<f64>,
        reason: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE trials SET status = ?1, value = ?2, reason = ?3, finished = ?4 WHERE id = ?5",
            params![status.as_str(), value, reason, now(), trial],
        )?;
        Ok(())
    }

    fn trials(&self, study: i64) -> Result<Vec<TrialRecord>> {
        load_trials(&self.conn(), study)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> StudySpec {
        StudySpec {
            name: name.into(),
            recipe: "r".into(),
            strategy: "random".into(),
            metric: "valid_accuracy".into(),
            direction: "max".into(),
            seed: 1,
        }
    }

    fn one(number: usize) -> Result<(Assignment, usize)> {
        let mut a = Assignment::new();
        a.insert(
            "optimizer.lr".into(),
            toml::Value::Float(0.001 * (number + 1) as f64),
        );
        Ok((a, 0))
    }

    #[test]
    fn claims_stop_at_the_budget_and_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("s.db")).unwrap();
        let study = storage.open_study(&spec("a")).unwrap();
        let me = format!("{}:0", process_id());
        let t0 = storage
            .claim(study, 2, &me, &mut |n, _| one(n))
            .unwrap()
            .unwrap();
        let t1 = storage
            .claim(study, 2, &me, &mut |n, _| one(n))
            .unwrap()
            .unwrap();
        assert!(storage
            .claim(study, 2, &me, &mut |n, _| one(n))
            .unwrap()
            .is_none());
        storage.report(t0.id, 1, 0.5).unwrap();
        storage.report(t0.id, 2, 0.7).unwrap();
        storage
            .finish(t0.id, TrialStatus::Complete, Some(0.7), None)
            .unwrap();
        storage
            .finish(t1.id, TrialStatus::Failed, None, Some("loss became NaN"))
            .unwrap();
        let trials = storage.trials(study).unwrap();
        assert_eq!(trials[0].epochs, vec![0.5, 0.7]);
        assert_eq!(trials[0].params["optimizer.lr"].as_float(), Some(0.001));
        assert_eq!(trials[1].status, TrialStatus::Failed);
        assert_eq!(trials[1].reason.as_deref(), Some("loss became NaN"));
    }

    #[test]
    fn a_dead_workers_trial_is_claimed_again_with_its_params() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("s.db")).unwrap();
        let study = storage.open_study(&spec("a")).unwrap();
        let host = process_id().split(':').next().unwrap().to_string();
        let dead = format!("{host}:999999999:0"); // no such pid
        let t = storage
            .claim(study, 1, &dead, &mut |n, _| one(n))
            .unwrap()
            .unwrap();
        storage.report(t.id, 1, 0.1).unwrap();
        let me = format!("{}:0", process_id());
        let again = storage
            .claim(study, 1, &me, &mut |_, _| panic!("no new trial"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (again.id, again.number, again.params.clone()),
            (t.id, t.number, t.params)
        );
        assert!(
            storage.trials(study).unwrap()[0].epochs.is_empty(),
            "old epochs cleared"
        );
    }

    #[test]
    fn joining_a_study_with_other_settings_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("s.db")).unwrap();
        storage.open_study(&spec("a")).unwrap();
        assert_eq!(
            storage.open_study(&spec("a")).unwrap(),
            storage.study("a").unwrap().0
        );
        let other = StudySpec {
            strategy: "tpe".into(),
            ..spec("a")
        };
        let err = storage.open_study(&other).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert!(SqliteStorage::from_url("postgres://x").is_err());
    }
}
