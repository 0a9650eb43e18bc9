//! Where a search keeps its study and trials: behind [`SearchStorage`], so a server database can
//! replace the SQLite file for workers on several machines.
//!
//! Liveness is by heartbeat, not process id: a worker running a trial refreshes the trial's
//! heartbeat every few seconds ([`HEARTBEAT_SECONDS`]), and a running trial whose heartbeat is
//! older than the grace period is given to the next worker that asks. Every write a worker makes
//! to its trial names the worker's claim token, so a worker whose trial was taken over (it was
//! paused past the grace, say) has its late report and result refused: a trial counts once.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::space::Assignment;

/// The version of the storage schema; a database of another version is refused, naming both.
pub const SCHEMA_VERSION: i64 = 2;

/// Seconds between two heartbeats of a running trial.
pub const HEARTBEAT_SECONDS: u64 = 5;

/// A running trial silent for this long is re-run by default (`--heartbeat-grace`).
pub const DEFAULT_GRACE_SECONDS: f64 = 60.0;

/// What a study is: everything that must match for another process to join it.
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
    /// Epochs of a trial that is never pruned (the budget of each trial).
    pub epochs_max: usize,
}

impl StudySpec {
    /// What differs between this stored spec and `asked`, in words, or `None` when they match.
    /// The recipe is compared key by key, so the message names the recipe key.
    pub fn difference(&self, asked: &StudySpec) -> Option<String> {
        let fields = [
            ("strategy", self.strategy.clone(), asked.strategy.clone()),
            ("metric", self.metric.clone(), asked.metric.clone()),
            ("direction", self.direction.clone(), asked.direction.clone()),
            ("seed", self.seed.to_string(), asked.seed.to_string()),
            (
                "epochs_max",
                self.epochs_max.to_string(),
                asked.epochs_max.to_string(),
            ),
        ];
        if let Some((name, stored, new)) = fields.into_iter().find(|(_, a, b)| a != b) {
            return Some(format!("{name} is {stored} in the study, {new} here"));
        }
        if self.recipe != asked.recipe {
            let parse = |text: &str| -> Option<toml::Table> { toml::from_str(text).ok() };
            let key = match (parse(&self.recipe), parse(&asked.recipe)) {
                (Some(a), Some(b)) => zoo_train::recipe::differing_keys(&a, &b)
                    .into_iter()
                    .next()
                    .map(|d| d.to_string()),
                _ => None,
            };
            return Some(format!(
                "the recipe differs: {}",
                key.unwrap_or_else(|| "its text changed".to_string())
            ));
        }
        None
    }
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
    /// The claim token of who runs or ran it (`host:pid:nanoseconds`).
    pub worker: String,
    /// Wall-clock seconds from claim to finish.
    pub seconds: Option<f64>,
    /// When the trial last showed a sign of life (seconds since the Unix epoch).
    pub heartbeat: f64,
    /// The metric after each epoch, in order.
    pub epochs: Vec<f64>,
}

/// Proposes trial `number`'s parameters and bracket from the trials so far.
pub type Propose<'a> = dyn FnMut(usize, &[TrialRecord]) -> Result<(Assignment, usize)> + 'a;

/// The operations a search needs from its storage. Every method is safe to call from several
/// threads and several processes at once. `worker` is the claim token of one trial run: unique
/// per claim, it is what [`heartbeat`](SearchStorage::heartbeat), [`report`](SearchStorage::report)
/// and [`finish`](SearchStorage::finish) prove ownership with.
pub trait SearchStorage: Send + Sync {
    /// Creates the study, or joins it if it exists with the same spec (an error saying what
    /// differs otherwise).
    fn open_study(&self, spec: &StudySpec) -> Result<i64>;
    /// The spec of a study by name.
    fn study(&self, name: &str) -> Result<(i64, StudySpec)>;
    /// Atomically: gives `worker` a running trial whose heartbeat is older than
    /// `grace_seconds`, or creates the next one from `propose(number, trials so far) ->
    /// (params, bracket)`; `None` once `budget` trials are finished or running.
    fn claim(
        &self,
        study: i64,
        budget: usize,
        worker: &str,
        grace_seconds: f64,
        propose: &mut Propose,
    ) -> Result<Option<TrialRecord>>;
    /// Refreshes the heartbeat of `worker`'s trial; `false` when the trial is no longer
    /// `worker`'s (taken over, or finished).
    fn heartbeat(&self, trial: i64, worker: &str) -> Result<bool>;
    /// Records the metric after an epoch (also a heartbeat); `false` as for `heartbeat`.
    fn report(&self, trial: i64, worker: &str, epoch: usize, value: f64) -> Result<bool>;
    /// Ends `worker`'s trial; `false` (and nothing written) when it is no longer `worker`'s.
    fn finish(
        &self,
        trial: i64,
        worker: &str,
        status: TrialStatus,
        value: Option<f64>,
        reason: Option<&str>,
    ) -> Result<bool>;
    /// Every trial of a study, by number, with its per-epoch values.
    fn trials(&self, study: i64) -> Result<Vec<TrialRecord>>;
}

/// Seconds since the Unix epoch, as stored in heartbeats.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A claim token for one trial run: `host:pid:nanoseconds`, unique across processes and
/// machines for all practical purposes (it names who ran a trial in the leaderboard).
pub fn claim_token() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{host}:{}:{nanos}", std::process::id())
}

/// [`SearchStorage`] in one SQLite file (WAL mode; a busy database is waited for).
pub struct SqliteStorage {
    connection: Mutex<Connection>,
}

/// The tables of a study store, in SQLite's types ([`super::postgres`] maps them to PostgreSQL's).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, recipe TEXT NOT NULL, strategy TEXT NOT NULL,
    metric TEXT NOT NULL, direction TEXT NOT NULL, seed INTEGER NOT NULL,
    epochs_max INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL REFERENCES studies(id), number INTEGER NOT NULL,
    params TEXT NOT NULL, status TEXT NOT NULL, value REAL, reason TEXT, bracket INTEGER NOT NULL,
    worker TEXT NOT NULL, started REAL NOT NULL, heartbeat REAL NOT NULL, finished REAL,
    UNIQUE (study_id, number));
CREATE TABLE IF NOT EXISTS trial_epochs (
    trial_id INTEGER NOT NULL REFERENCES trials(id), epoch INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (trial_id, epoch));
";

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path`. A file that is not a study database,
    /// or one of another schema version, is an error naming the file.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create '{}'", parent.display()))?;
        }
        let not_a_study = || format!("'{}' is not a study database", path.display());
        let mut connection = Connection::open(path)
            .with_context(|| format!("cannot open study storage '{}'", path.display()))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        retry_while_busy(|| create_schema(&mut connection)).with_context(not_a_study)?;
        let version: Option<String> = connection
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .with_context(not_a_study)?;
        check_schema_version(
            version.as_deref(),
            &format!("'{}'", path.display()),
            "use another --storage file",
        )?;
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
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Switches a study file to WAL and creates its tables and schema version, if missing.
///
/// Creating the tables and writing the version is one write transaction, as the PostgreSQL
/// store's advisory lock makes it there: a second process opening a fresh file at the same
/// moment waits, instead of seeing the tables without their version (schema 1).
fn create_schema(connection: &mut Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let tables: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('studies', 'meta')",
        [],
        |r| r.get(0),
    )?;
    tx.execute_batch(SCHEMA)?;
    if tables == 0 {
        tx.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?1)",
            params![SCHEMA_VERSION.to_string()],
        )?;
    }
    tx.commit()
}

/// Runs `step` again while SQLite answers "database is locked", up to [`BUSY_TIMEOUT`].
///
/// SQLite skips the busy handler where waiting could deadlock: when two connections that both
/// read a fresh file want to turn it to WAL at the same moment, one gets `SQLITE_BUSY` at once.
/// Eight threads opening one fresh file failed that way in 12 of 30 runs of
/// `workers_opening_a_fresh_file_at_once_all_see_its_schema`. The failed attempt has changed
/// nothing (its transaction rolls back), so trying again is safe.
fn retry_while_busy<T>(mut step: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match step() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            outcome => return outcome,
        }
    }
}

fn load_trials(conn: &Connection, study: i64) -> Result<Vec<TrialRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {TRIAL_COLUMNS} FROM trials WHERE study_id = ?1 ORDER BY number"
    ))?;
    let mut epochs_stmt =
        conn.prepare("SELECT value FROM trial_epochs WHERE trial_id = ?1 ORDER BY epoch")?;
    let rows = stmt.query_map(params![study], |r| {
        Ok(TrialRow {
            id: r.get(0)?,
            number: r.get(1)?,
            params: r.get(2)?,
            status: r.get(3)?,
            value: r.get(4)?,
            reason: r.get(5)?,
            bracket: r.get(6)?,
            worker: r.get(7)?,
            started: r.get(8)?,
            finished: r.get(9)?,
            heartbeat: r.get(10)?,
        })
    })?;
    let mut trials = Vec::new();
    for row in rows {
        let row = row?;
        let epochs = epochs_stmt
            .query_map(params![row.id], |r| r.get::<_, f64>(0))?
            .collect::<Result<Vec<f64>, _>>()?;
        trials.push(row.decode(epochs)?);
    }
    Ok(trials)
}

fn read_spec(row: &rusqlite::Row, name: &str) -> rusqlite::Result<(i64, StudySpec)> {
    Ok((
        row.get(0)?,
        StudySpec::from_columns(
            name,
            [row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?],
            row.get(5)?,
            row.get(6)?,
        ),
    ))
}

/// The columns [`StudySpec::from_columns`] reads, after the study id.
pub(super) const SPEC_COLUMNS: &str = "id, recipe, strategy, metric, direction, seed, epochs_max";

/// The columns of a [`TrialRow`], in its order.
pub(super) const TRIAL_COLUMNS: &str =
    "id, number, params, status, value, reason, bracket, worker, started, finished, heartbeat";

/// One stored trial as both storages read it ([`TRIAL_COLUMNS`]), before decoding.
pub(super) struct TrialRow {
    pub(super) id: i64,
    pub(super) number: i64,
    pub(super) params: String,
    pub(super) status: String,
    pub(super) value: Option<f64>,
    pub(super) reason: Option<String>,
    pub(super) bracket: i64,
    pub(super) worker: String,
    pub(super) started: f64,
    pub(super) finished: Option<f64>,
    pub(super) heartbeat: f64,
}

impl TrialRow {
    /// The trial, with its per-epoch values; damaged parameters or numbers are an error.
    pub(super) fn decode(self, epochs: Vec<f64>) -> Result<TrialRecord> {
        let params: toml::Table = toml::from_str(&self.params)
            .context("corrupt trial parameters in the study database")?;
        Ok(TrialRecord {
            id: self.id,
            number: usize::try_from(self.number).context("corrupt trial number")?,
            params: params.into_iter().collect(),
            status: TrialStatus::parse(&self.status),
            value: self.value,
            reason: self.reason,
            bracket: usize::try_from(self.bracket).context("corrupt trial bracket")?,
            worker: self.worker,
            seconds: self.finished.map(|f| f - self.started),
            heartbeat: self.heartbeat,
            epochs,
        })
    }
}

/// A trial's parameters as stored (a TOML table).
pub(super) fn encode_params(params: &Assignment) -> Result<String> {
    let table: toml::Table = params.clone().into_iter().collect();
    Ok(toml::to_string(&table)?)
}

impl StudySpec {
    /// A spec from its stored columns: `[recipe, strategy, metric, direction]`, seed and
    /// epochs_max.
    pub(super) fn from_columns(name: &str, text: [String; 4], seed: i64, epochs_max: i64) -> Self {
        let [recipe, strategy, metric, direction] = text;
        StudySpec {
            name: name.to_string(),
            recipe,
            strategy,
            metric,
            direction,
            seed: seed as u64,
            epochs_max: epochs_max.max(0) as usize,
        }
    }

    /// Joining a study stored as `self` with the spec `asked`: an error saying what differs.
    pub(super) fn check_joinable(&self, asked: &StudySpec) -> Result<()> {
        if let Some(difference) = self.difference(asked) {
            bail!(
                "study '{}' already exists with other settings: {difference}; pick another --study name",
                asked.name
            );
        }
        Ok(())
    }
}

/// The schema version a store holds (`None`: tables without a version, schema 1) must be
/// [`SCHEMA_VERSION`]; `place` names the store in the error, `advice` says what to do.
pub(super) fn check_schema_version(found: Option<&str>, place: &str, advice: &str) -> Result<()> {
    let version = found.and_then(|v| v.parse::<i64>().ok()).unwrap_or(1);
    if version != SCHEMA_VERSION {
        bail!(
            "{place} holds studies of storage schema {version}, this zoo reads schema {SCHEMA_VERSION}: {advice}"
        );
    }
    Ok(())
}

impl SearchStorage for SqliteStorage {
    fn open_study(&self, spec: &StudySpec) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = tx
            .query_row(
                &format!("SELECT {SPEC_COLUMNS} FROM studies WHERE name = ?1"),
                params![spec.name],
                |r| read_spec(r, &spec.name),
            )
            .optional()?;
        let id = match existing {
            Some((id, stored)) => {
                stored.check_joinable(spec)?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO studies (name, recipe, strategy, metric, direction, seed, epochs_max, created)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        spec.name,
                        spec.recipe,
                        spec.strategy,
                        spec.metric,
                        spec.direction,
                        spec.seed as i64,
                        spec.epochs_max as i64,
                        now()
                    ],
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
            &format!("SELECT {SPEC_COLUMNS} FROM studies WHERE name = ?1"),
            params![name],
            |r| read_spec(r, name),
        )
        .optional()?
        .with_context(|| format!("no study named '{name}' in this storage"))
    }

    fn claim(
        &self,
        study: i64,
        budget: usize,
        worker: &str,
        grace_seconds: f64,
        propose: &mut Propose,
    ) -> Result<Option<TrialRecord>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let trials = load_trials(&tx, study)?;
        let now = now();
        let stale = trials
            .iter()
            .find(|t| t.status == TrialStatus::Running && now - t.heartbeat > grace_seconds);
        let claimed = if let Some(t) = stale {
            tx.execute(
                "DELETE FROM trial_epochs WHERE trial_id = ?1",
                params![t.id],
            )?;
            tx.execute(
                "UPDATE trials SET worker = ?1, started = ?2, heartbeat = ?2 WHERE id = ?3",
                params![worker, now, t.id],
            )?;
            Some(TrialRecord {
                worker: worker.to_string(),
                heartbeat: now,
                epochs: Vec::new(),
                ..t.clone()
            })
        } else if trials.len() >= budget {
            None
        } else {
            let number = trials.len();
            let (params, bracket) = propose(number, &trials)?;
            tx.execute(
                "INSERT INTO trials (study_id, number, params, status, bracket, worker, started, heartbeat)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?6)",
                params![study, number as i64, encode_params(&params)?, bracket as i64, worker, now],
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
                heartbeat: now,
                epochs: Vec::new(),
            })
        };
        tx.commit()?;
        Ok(claimed)
    }

    fn heartbeat(&self, trial: i64, worker: &str) -> Result<bool> {
        let updated = self.conn().execute(
            "UPDATE trials SET heartbeat = ?1 WHERE id = ?2 AND worker = ?3 AND status = 'running'",
            params![now(), trial, worker],
        )?;
        Ok(updated == 1)
    }

    fn report(&self, trial: i64, worker: &str, epoch: usize, value: f64) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mine = tx.execute(
            "UPDATE trials SET heartbeat = ?1 WHERE id = ?2 AND worker = ?3 AND status = 'running'",
            params![now(), trial, worker],
        )? == 1;
        if mine {
            tx.execute(
                "INSERT OR REPLACE INTO trial_epochs (trial_id, epoch, value) VALUES (?1, ?2, ?3)",
                params![trial, epoch as i64, value],
            )?;
        }
        tx.commit()?;
        Ok(mine)
    }

    fn finish(
        &self,
        trial: i64,
        worker: &str,
        status: TrialStatus,
        value: Option<f64>,
        reason: Option<&str>,
    ) -> Result<bool> {
        let updated = self.conn().execute(
            "UPDATE trials SET status = ?1, value = ?2, reason = ?3, finished = ?4
             WHERE id = ?5 AND worker = ?6 AND status = 'running'",
            params![status.as_str(), value, reason, now(), trial, worker],
        )?;
        Ok(updated == 1)
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
            recipe: "name = \"r\"\n[training]\nepochs = 3\n".into(),
            strategy: "random".into(),
            metric: "valid_accuracy".into(),
            direction: "max".into(),
            seed: 1,
            epochs_max: 3,
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

    fn storage(dir: &tempfile::TempDir) -> SqliteStorage {
        SqliteStorage::open(&dir.path().join("s.db")).unwrap()
    }

    #[test]
    fn claims_stop_at_the_budget_and_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(&dir);
        let study = storage.open_study(&spec("a")).unwrap();
        let (w0, w1) = (claim_token(), claim_token() + "-b");
        let t0 = storage
            .claim(study, 2, &w0, 60.0, &mut |n, _| one(n))
            .unwrap()
            .unwrap();
        let t1 = storage
            .claim(study, 2, &w1, 60.0, &mut |n, _| one(n))
            .unwrap()
            .unwrap();
        assert!(storage
            .claim(study, 2, &w0, 60.0, &mut |n, _| one(n))
            .unwrap()
            .is_none());
        assert!(storage.report(t0.id, &w0, 1, 0.5).unwrap());
        assert!(storage.report(t0.id, &w0, 2, 0.7).unwrap());
        assert!(storage
            .finish(t0.id, &w0, TrialStatus::Complete, Some(0.7), None)
            .unwrap());
        assert!(storage
            .finish(
                t1.id,
                &w1,
                TrialStatus::Failed,
                None,
                Some("loss became NaN")
            )
            .unwrap());
        let trials = storage.trials(study).unwrap();
        assert_eq!(trials[0].epochs, vec![0.5, 0.7]);
        assert_eq!(trials[0].params["optimizer.lr"].as_float(), Some(0.001));
        assert_eq!(trials[1].status, TrialStatus::Failed);
        assert_eq!(trials[1].reason.as_deref(), Some("loss became NaN"));
    }

    #[test]
    fn a_silent_trial_is_claimed_again_after_the_grace_and_its_old_worker_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(&dir);
        let study = storage.open_study(&spec("a")).unwrap();
        let old = claim_token() + "-old";
        let t = storage
            .claim(study, 1, &old, 60.0, &mut |n, _| one(n))
            .unwrap()
            .unwrap();
        storage.report(t.id, &old, 1, 0.1).unwrap();
        // Within the grace the trial is still its worker's: nothing to claim.
        let new = claim_token() + "-new";
        assert!(storage
            .claim(study, 1, &new, 60.0, &mut |_, _| panic!("no new trial"))
            .unwrap()
            .is_none());
        // A live process id means nothing: only the heartbeat's age counts.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let again = storage
            .claim(study, 1, &new, 0.01, &mut |_, _| panic!("no new trial"))
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
        // The first worker wakes up: its heartbeat, report and result are refused.
        assert!(!storage.heartbeat(t.id, &old).unwrap());
        assert!(!storage.report(t.id, &old, 2, 0.9).unwrap());
        assert!(!storage
            .finish(t.id, &old, TrialStatus::Complete, Some(0.9), None)
            .unwrap());
        assert!(storage
            .finish(t.id, &new, TrialStatus::Complete, Some(0.8), None)
            .unwrap());
        let trials = storage.trials(study).unwrap();
        assert_eq!((trials.len(), trials[0].value), (1, Some(0.8)));
    }

    #[test]
    fn heartbeats_keep_a_trial_alive() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(&dir);
        let study = storage.open_study(&spec("a")).unwrap();
        let w = claim_token();
        let t = storage
            .claim(study, 1, &w, 60.0, &mut |n, _| one(n))
            .unwrap()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(storage.heartbeat(t.id, &w).unwrap());
        assert!(storage
            .claim(study, 1, "other", 0.2, &mut |_, _| panic!("no new trial"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn joining_a_study_with_other_settings_names_what_differs() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(&dir);
        storage.open_study(&spec("a")).unwrap();
        assert_eq!(
            storage.open_study(&spec("a")).unwrap(),
            storage.study("a").unwrap().0
        );
        let other = |change: &dyn Fn(&mut StudySpec)| {
            let mut s = spec("a");
            change(&mut s);
            storage.open_study(&s).unwrap_err().to_string()
        };
        let err = other(&|s| s.strategy = "tpe".into());
        assert!(
            err.contains("already exists") && err.contains("strategy"),
            "{err}"
        );
        let err = other(&|s| s.epochs_max = 5);
        assert!(
            err.contains("epochs_max is 3 in the study, 5 here"),
            "{err}"
        );
        let err = other(&|s| s.recipe = s.recipe.replace("epochs = 3", "epochs = 4"));
        assert!(err.contains("training.epochs"), "{err}");
        assert!(SqliteStorage::from_url("postgres://x").is_err());
    }

    #[test]
    fn a_file_that_is_not_a_study_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.db");
        std::fs::write(&path, b"these are notes, not SQLite").unwrap();
        let err = format!("{:#}", SqliteStorage::open(&path).err().unwrap());
        assert!(err.contains("notes.db"), "{err}");
    }

    #[test]
    fn workers_opening_a_fresh_file_at_once_all_see_its_schema() {
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("fresh-{round}.db"));
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                let opened: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            SqliteStorage::open(&path).map(|_| ())
                        })
                    })
                    .collect();
                for worker in opened {
                    worker.join().unwrap().unwrap();
                }
            });
        }
    }

    #[test]
    fn a_database_of_another_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE studies (id INTEGER PRIMARY KEY, name TEXT, recipe TEXT, strategy TEXT,
             metric TEXT, direction TEXT, seed INTEGER, created REAL);",
        )
        .unwrap();
        drop(conn);
        let err = format!("{:#}", SqliteStorage::open(&path).err().unwrap());
        assert!(
            err.contains("schema 1") && err.contains("schema 2"),
            "{err}"
        );
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    }

    /// A real study database, to damage.
    fn real_database() -> &'static [u8] {
        static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        BYTES.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.db");
            let storage = SqliteStorage::open(&path).unwrap();
            let study = storage.open_study(&spec("a")).unwrap();
            let w = claim_token();
            let t = storage
                .claim(study, 2, &w, 60.0, &mut |n, _| one(n))
                .unwrap()
                .unwrap();
            storage.report(t.id, &w, 1, 0.5).unwrap();
            storage
                .finish(t.id, &w, TrialStatus::Complete, Some(0.5), None)
                .unwrap();
            // Fold the write-ahead log into the file, so the file alone holds the study.
            storage
                .conn()
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                .unwrap();
            drop(storage);
            std::fs::read(&path).unwrap()
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(cases()))]

        /// A garbage or damaged study database gives errors, never a panic.
        #[test]
        fn a_damaged_study_database_never_panics(
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..16),
            cut in proptest::prelude::any::<usize>(),
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            replace in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = if replace { garbage } else { real_database().to_vec() };
            for (at, value) in flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = value;
                }
            }
            bytes.truncate(cut % (bytes.len() + 1));
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.db");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(storage) = SqliteStorage::open(&path) {
                if let Ok((id, _)) = storage.study("a") {
                    let _ = storage.trials(id);
                    let _ = storage.claim(id, 3, "w", 60.0, &mut |n, _| one(n));
                }
            }
        }
    }
}
