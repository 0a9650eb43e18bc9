//! [`SearchStorage`] on a PostgreSQL server, so workers on several machines share one study:
//! `--storage postgresql://USER@HOST:PORT/DB` (or `postgres://…`).
//!
//! The tables and their meaning are SQLite's ([`super::storage`]), in PostgreSQL's types, with
//! the schema version stored in `meta` and checked on open. What changes with a server:
//!
//! - **Claims** run in one transaction that first locks the study's row (`SELECT … FOR
//!   UPDATE`): the next trial's number and its proposal (TPE reads every finished trial) need a
//!   view no other claim changes meanwhile, so the claims of one study take turns (they take
//!   milliseconds; other studies are not held up). A trial to take over is picked with `FOR
//!   UPDATE SKIP LOCKED`, so a trial whose owner is writing to it at that instant is passed over
//!   rather than waited for.
//! - **Clocks**: every time stored (`started`, `heartbeat`, `finished`, `created`) and the age
//!   of a heartbeat are the server's clock (`statement_timestamp()`), never a worker's: workers
//!   on machines whose clocks disagree still agree on which trial is silent.
//! - **Faults**: an operation whose connection drops (a server restart, a network cut) connects
//!   again and retries, waiting 0.2 s, 0.4 s, … up to 5 s between tries, for at most 60 s
//!   (`?retry_seconds=N` in the URL for another bound); then it fails. A write that reached the
//!   server before the connection dropped is not applied twice when retried: a claim first
//!   returns the running trial its claim token already holds, a finish that finds its trial
//!   already ended by the same token with the same status reports success, and reports and
//!   heartbeats are idempotent. A trial is one row, so it can never count twice; these checks
//!   make sure the worker's view agrees with the server's and no trial is left orphaned.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use postgres::config::Host;
use postgres::error::SqlState;
use postgres::{Client, Config, GenericClient, IsolationLevel, NoTls};

use super::storage::{
    check_schema_version, encode_params, Propose, SearchStorage, StudySpec, TrialRecord, TrialRow,
    TrialStatus, SCHEMA, SCHEMA_VERSION, SPEC_COLUMNS, TRIAL_COLUMNS,
};

/// How long, and how often, an operation is retried after its connection dropped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries stop once this much time has passed since the first failure.
    pub budget: Duration,
    /// The wait before the first retry; each next wait doubles.
    pub first: Duration,
    /// The longest wait between two tries.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 60 s of retries, waiting 0.2 s, 0.4 s, 0.8 s, … 5 s, 5 s, …
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(60),
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry `retry` (0-based): `first · 2^retry`, at most `max`.
    pub fn delay(&self, retry: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(retry.min(30)))
            .min(self.max)
    }

    /// The wait before retry `retry`, `elapsed` after the first failure; `None` when that wait
    /// would end past the budget (give up).
    pub fn next_wait(&self, retry: u32, elapsed: Duration) -> Option<Duration> {
        let wait = self.delay(retry);
        (elapsed + wait <= self.budget).then_some(wait)
    }
}

/// A parsed `postgresql://` storage URL.
#[derive(Clone, Debug)]
pub struct PostgresUrl {
    /// What the client connects with (the URL's parameters, plus defaults for the timeouts).
    pub config: Config,
    /// The retries after a dropped connection (`retry_seconds` sets the budget).
    pub retry: RetryPolicy,
    /// The URL without its password, for messages.
    pub display: String,
}

impl PostgresUrl {
    /// Parses `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS]` (or `postgres://`). The
    /// parameters are libpq's (`connect_timeout`, `sslmode`, …; TLS is not built in, so
    /// `sslmode=require` fails) plus `retry_seconds=N`, the bound on retries after a dropped
    /// connection (60 by default). Unset, the connect timeout is 10 s, TCP keepalives start
    /// after 30 s of silence and unacknowledged data drops the connection after 30 s, so a
    /// server gone without a word is noticed and retried.
    pub fn parse(url: &str) -> Result<Self> {
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            bail!("'{url}' is not a PostgreSQL URL: use postgresql://USER@HOST:PORT/DB");
        }
        let mut retry = RetryPolicy::default();
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("retry_seconds", value)) => {
                    let seconds: f64 = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                        .with_context(|| {
                            format!("retry_seconds={value} in the storage URL: a number of seconds >= 0")
                        })?;
                    retry.budget = Duration::from_secs_f64(seconds);
                }
                _ => kept.push(pair),
            }
        }
        let client_url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: Config = client_url
            .parse()
            .map_err(|e| anyhow!("invalid PostgreSQL URL '{}': {e}", redact(&client_url)))?;
        if config.get_hosts().is_empty() {
            bail!(
                "the PostgreSQL URL '{}' names no host: use postgresql://USER@HOST:PORT/DB",
                redact(&client_url)
            );
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(30));
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(Duration::from_secs(10));
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(30));
        }
        if config.get_application_name().is_none() {
            config.application_name("zoo search");
        }
        let display = describe(&config);
        Ok(Self {
            config,
            retry,
            display,
        })
    }
}

/// `postgresql://USER@HOST:PORT/DB` from a config: what messages name (no password).
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let user = config.get_user().map_or(String::new(), |u| format!("{u}@"));
    let db = config.get_dbname().unwrap_or("");
    format!("postgresql://{user}{}/{db}", hosts.join(","))
}

/// A URL with its password (`user:secret@`) masked, for an error about the URL itself.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Whether an error is the connection's (dropped, refused, the server shutting down or starting
/// up, a deadlock or serialization conflict): worth reconnecting and retrying. An error in what
/// was asked (bad SQL, a missing database, a refused password) is not.
fn is_transient(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        let transient = [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
        ];
        return code.code().starts_with("08") || transient.contains(code);
    }
    // No answer from the server: an I/O failure (refused, reset, timed out).
    std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>())
}

/// Why an attempt failed: the connection's fault (maybe retried) or the request's (never).
enum Fault {
    Db(postgres::Error),
    Other(anyhow::Error),
}

impl From<postgres::Error> for Fault {
    fn from(err: postgres::Error) -> Self {
        Fault::Db(err)
    }
}

impl From<anyhow::Error> for Fault {
    fn from(err: anyhow::Error) -> Self {
        Fault::Other(err)
    }
}

/// The server's clock, in seconds since the Unix epoch, as every stored time is. One value per
/// statement, taken when the statement starts (after any lock it waited for at the start of
/// its transaction).
const NOW: &str = "extract(epoch from statement_timestamp())::float8";

/// [`SearchStorage`] on a PostgreSQL server: one connection per storage (opened again after a
/// drop), every operation retried by a [`RetryPolicy`].
pub struct PostgresStorage {
    url: PostgresUrl,
    client: Mutex<Option<Client>>,
    /// Set while the server is unreachable, so an outage is reported once, with its end.
    outage: AtomicBool,
}

impl PostgresStorage {
    /// Connects to the server of `url` (see [`PostgresUrl::parse`]), creates the tables in an
    /// empty database and checks the schema version of a used one.
    pub fn from_url(url: &str) -> Result<Self> {
        let storage = Self {
            url: PostgresUrl::parse(url)?,
            client: Mutex::new(None),
            outage: AtomicBool::new(false),
        };
        storage.with_retry(|client| {
            let mut tx = client.transaction()?;
            // Workers starting together create the tables once.
            tx.execute("SELECT pg_advisory_xact_lock(4122020002)", &[])?;
            let tables: i64 = tx
                .query_one(
                    "SELECT count(*) FROM unnest(ARRAY['meta', 'studies', 'trials', 'trial_epochs']) AS t(name)
                     WHERE to_regclass(t.name) IS NOT NULL",
                    &[],
                )?
                .get(0);
            if tables == 0 {
                tx.batch_execute(&postgres_schema())?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', $1)",
                    &[&SCHEMA_VERSION.to_string()],
                )?;
            }
            let version: Option<String> = if tables == 0 || has_meta(&mut tx)? {
                tx.query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?
                    .map(|r| r.get(0))
            } else {
                None
            };
            check_schema_version(
                version.as_deref(),
                &format!("the database {}", storage.url.display),
                "use another database",
            )?;
            tx.commit()?;
            Ok(())
        })?;
        Ok(storage)
    }

    /// The connection, opened if there is none (a failed open leaves none).
    fn connected<'a>(
        &self,
        slot: &'a mut Option<Client>,
    ) -> Result<&'a mut Client, postgres::Error> {
        if slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
        }
        if slot.is_none() {
            let mut client = self.url.config.connect(NoTls)?;
            // A worker that dies inside a claim must not hold the study's lock for long.
            client.batch_execute("SET idle_in_transaction_session_timeout = '300s'")?;
            *slot = Some(client);
        }
        Ok(slot.as_mut().expect("connected above"))
    }

    fn lock(&self) -> MutexGuard<'_, Option<Client>> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `op` on the connection; a connection failure drops the connection and retries `op`
    /// on a new one, waiting as the retry policy says (the lock is not held while waiting, so
    /// the heartbeat thread tries too). Any other failure is returned at once.
    fn with_retry<T>(&self, mut op: impl FnMut(&mut Client) -> Result<T, Fault>) -> Result<T> {
        let mut first_failure: Option<Instant> = None;
        let mut retry = 0;
        loop {
            let attempt = {
                let mut slot = self.lock();
                let result = match self.connected(&mut slot) {
                    Ok(client) => op(client),
                    Err(err) => Err(Fault::Db(err)),
                };
                if matches!(&result, Err(Fault::Db(err)) if is_transient(err)) {
                    *slot = None;
                }
                result
            };
            let err = match attempt {
                Ok(value) => {
                    if self.outage.swap(false, Ordering::SeqCst) {
                        eprintln!("reconnected to PostgreSQL at {}", self.url.display);
                    }
                    return Ok(value);
                }
                Err(Fault::Other(err)) => return Err(err),
                Err(Fault::Db(err)) if !is_transient(&err) => {
                    return Err(anyhow::Error::new(err))
                        .with_context(|| format!("PostgreSQL at {}", self.url.display));
                }
                Err(Fault::Db(err)) => err,
            };
            let since = *first_failure.get_or_insert_with(Instant::now);
            let Some(wait) = self.url.retry.next_wait(retry, since.elapsed()) else {
                return Err(anyhow::Error::new(err)).with_context(|| {
                    format!(
                        "PostgreSQL at {} unreachable; gave up after {:.0} s of retries",
                        self.url.display,
                        since.elapsed().as_secs_f64()
                    )
                });
            };
            if !self.outage.swap(true, Ordering::SeqCst) {
                eprintln!(
                    "warning: lost PostgreSQL at {} ({err}); retrying for up to {:.0} s",
                    self.url.display,
                    self.url.retry.budget.as_secs_f64()
                );
            }
            std::thread::sleep(wait);
            retry += 1;
        }
    }
}

/// The SQLite schema in PostgreSQL's types: 64-bit integers, identity keys, doubles.
fn postgres_schema() -> String {
    SCHEMA
        .replace("id INTEGER PRIMARY KEY", "id BIGSERIAL PRIMARY KEY")
        .replace(" INTEGER", " BIGINT")
        .replace(" REAL", " DOUBLE PRECISION")
}

fn has_meta(client: &mut impl GenericClient) -> Result<bool, postgres::Error> {
    Ok(client
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])?
        .get(0))
}

fn load_trials(client: &mut impl GenericClient, study: i64) -> Result<Vec<TrialRecord>, Fault> {
    let mut epochs: HashMap<i64, Vec<f64>> = HashMap::new();
    for row in client.query(
        "SELECT e.trial_id, e.value FROM trial_epochs e JOIN trials t ON t.id = e.trial_id
         WHERE t.study_id = $1 ORDER BY e.trial_id, e.epoch",
        &[&study],
    )? {
        epochs.entry(row.get(0)).or_default().push(row.get(1));
    }
    let rows = client.query(
        &format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE study_id = $1 ORDER BY number"),
        &[&study],
    )?;
    let mut trials = Vec::with_capacity(rows.len());
    for r in rows {
        let row = TrialRow {
            id: r.try_get(0)?,
            number: r.try_get(1)?,
            params: r.try_get(2)?,
            status: r.try_get(3)?,
            value: r.try_get(4)?,
            reason: r.try_get(5)?,
            bracket: r.try_get(6)?,
            worker: r.try_get(7)?,
            started: r.try_get(8)?,
            finished: r.try_get(9)?,
            heartbeat: r.try_get(10)?,
        };
        let trial_epochs = epochs.remove(&row.id).unwrap_or_default();
        trials.push(row.decode(trial_epochs)?);
    }
    Ok(trials)
}

fn read_spec(
    client: &mut impl GenericClient,
    name: &str,
) -> Result<Option<(i64, StudySpec)>, Fault> {
    let Some(r) = client.query_opt(
        &format!("SELECT {SPEC_COLUMNS} FROM studies WHERE name = $1"),
        &[&name],
    )?
    else {
        return Ok(None);
    };
    let text = [r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?];
    Ok(Some((
        r.try_get(0)?,
        StudySpec::from_columns(name, text, r.try_get(5)?, r.try_get(6)?),
    )))
}

impl SearchStorage for PostgresStorage {
    fn open_study(&self, spec: &StudySpec) -> Result<i64> {
        self.with_retry(|client| {
            client.execute(
                &format!(
                    "INSERT INTO studies (name, recipe, strategy, metric, direction, seed, epochs_max, created)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, {NOW}) ON CONFLICT (name) DO NOTHING"
                ),
                &[
                    &spec.name,
                    &spec.recipe,
                    &spec.strategy,
                    &spec.metric,
                    &spec.direction,
                    &(spec.seed as i64),
                    &(spec.epochs_max as i64),
                ],
            )?;
            let (id, stored) =
                read_spec(client, &spec.name)?.context("the study vanished as it was created")?;
            stored.check_joinable(spec)?;
            Ok(id)
        })
    }

    fn study(&self, name: &str) -> Result<(i64, StudySpec)> {
        self.with_retry(|client| {
            Ok(read_spec(client, name)?
                .with_context(|| format!("no study named '{name}' in this storage"))?)
        })
    }

    fn claim(
        &self,
        study: i64,
        budget: usize,
        worker: &str,
        grace_seconds: f64,
        propose: &mut Propose,
    ) -> Result<Option<TrialRecord>> {
        self.with_retry(|client| {
            let mut tx = client.transaction()?;
            // The claims of one study take turns (see the module's documentation).
            tx.query_opt("SELECT id FROM studies WHERE id = $1 FOR UPDATE", &[&study])?
                .with_context(|| format!("no study {study} in this storage"))?;
            let trials = load_trials(&mut tx, study)?;
            // A retried claim whose first try was applied before the connection dropped.
            if let Some(mine) = trials
                .iter()
                .find(|t| t.status == TrialStatus::Running && t.worker == worker)
            {
                tx.commit()?;
                return Ok(Some(mine.clone()));
            }
            let stale = tx.query_opt(
                &format!(
                    "SELECT id FROM trials WHERE study_id = $1 AND status = 'running'
                     AND heartbeat < {NOW} - $2 ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED"
                ),
                &[&study, &grace_seconds],
            )?;
            let claimed = if let Some(row) = stale {
                let id: i64 = row.get(0);
                tx.execute("DELETE FROM trial_epochs WHERE trial_id = $1", &[&id])?;
                let heartbeat: f64 = tx
                    .query_one(
                        &format!(
                            "UPDATE trials SET worker = $1, started = {NOW}, heartbeat = {NOW}
                             WHERE id = $2 RETURNING heartbeat"
                        ),
                        &[&worker, &id],
                    )?
                    .get(0);
                let old = trials
                    .iter()
                    .find(|t| t.id == id)
                    .context("the trial to take over vanished")?;
                Some(TrialRecord {
                    worker: worker.to_string(),
                    heartbeat,
                    epochs: Vec::new(),
                    ..old.clone()
                })
            } else if trials.len() >= budget {
                None
            } else {
                let number = trials.len();
                let (params, bracket) = propose(number, &trials)?;
                let row = tx.query_one(
                    &format!(
                        "INSERT INTO trials (study_id, number, params, status, bracket, worker, started, heartbeat)
                         VALUES ($1, $2, $3, 'running', $4, $5, {NOW}, {NOW}) RETURNING id, heartbeat"
                    ),
                    &[
                        &study,
                        &(number as i64),
                        &encode_params(&params)?,
                        &(bracket as i64),
                        &worker,
                    ],
                )?;
                Some(TrialRecord {
                    id: row.get(0),
                    number,
                    params,
                    status: TrialStatus::Running,
                    value: None,
                    reason: None,
                    bracket,
                    worker: worker.to_string(),
                    seconds: None,
                    heartbeat: row.get(1),
                    epochs: Vec::new(),
                })
            };
            tx.commit()?;
            Ok(claimed)
        })
    }

    fn heartbeat(&self, trial: i64, worker: &str) -> Result<bool> {
        self.with_retry(|client| {
            let updated = client.execute(
                &format!(
                    "UPDATE trials SET heartbeat = {NOW}
                     WHERE id = $1 AND worker = $2 AND status = 'running'"
                ),
                &[&trial, &worker],
            )?;
            Ok(updated == 1)
        })
    }

    fn report(&self, trial: i64, worker: &str, epoch: usize, value: f64) -> Result<bool> {
        self.with_retry(|client| {
            let mut tx = client.transaction()?;
            let mine = tx.execute(
                &format!(
                    "UPDATE trials SET heartbeat = {NOW}
                     WHERE id = $1 AND worker = $2 AND status = 'running'"
                ),
                &[&trial, &worker],
            )? == 1;
            if mine {
                tx.execute(
                    "INSERT INTO trial_epochs (trial_id, epoch, value) VALUES ($1, $2, $3)
                     ON CONFLICT (trial_id, epoch) DO UPDATE SET value = EXCLUDED.value",
                    &[&trial, &(epoch as i64), &value],
                )?;
            }
            tx.commit()?;
            Ok(mine)
        })
    }

    fn finish(
        &self,
        trial: i64,
        worker: &str,
        status: TrialStatus,
        value: Option<f64>,
        reason: Option<&str>,
    ) -> Result<bool> {
        // NaN is stored as no value, as SQLite does.
        let value = value.filter(|v| !v.is_nan());
        self.with_retry(|client| {
            let updated = client.execute(
                &format!(
                    "UPDATE trials SET status = $1, value = $2, reason = $3, finished = {NOW}
                     WHERE id = $4 AND worker = $5 AND status = 'running'"
                ),
                &[&status.as_str(), &value, &reason, &trial, &worker],
            )?;
            if updated == 1 {
                return Ok(true);
            }
            // Only this claim can end its trial, and an ended trial never changes: found ended
            // by this claim with this status, it is this call's own write, applied before a
            // dropped connection hid the answer.
            Ok(client
                .query_opt(
                    "SELECT 1 FROM trials WHERE id = $1 AND worker = $2 AND status = $3",
                    &[&trial, &worker, &status.as_str()],
                )?
                .is_some())
        })
    }

    fn trials(&self, study: i64) -> Result<Vec<TrialRecord>> {
        self.with_retry(|client| {
            // One snapshot for the trials and their epochs.
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let trials = load_trials(&mut tx, study)?;
            tx.commit()?;
            Ok(trials)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_schemes_parse_and_messages_never_show_the_password() {
        for url in [
            "postgresql://zoo:secret@db.example:5433/studies",
            "postgres://zoo:secret@db.example:5433/studies",
        ] {
            let parsed = PostgresUrl::parse(url).unwrap();
            assert_eq!(parsed.display, "postgresql://zoo@db.example:5433/studies");
            assert_eq!(parsed.config.get_user(), Some("zoo"));
            assert_eq!(parsed.config.get_password(), Some(&b"secret"[..]));
            assert_eq!(parsed.config.get_dbname(), Some("studies"));
            assert_eq!(parsed.config.get_ports(), &[5433]);
            assert_eq!(parsed.retry, RetryPolicy::default());
        }
        let err = format!(
            "{:#}",
            PostgresUrl::parse("postgresql://zoo:secret@db:5432/studies?bogus=1").unwrap_err()
        );
        assert!(
            err.contains("zoo:***@db") && !err.contains("secret"),
            "{err}"
        );
    }

    #[test]
    fn the_url_sets_timeouts_and_the_retry_budget() {
        let parsed = PostgresUrl::parse("postgresql://zoo@db/s").unwrap();
        assert_eq!(
            parsed.config.get_connect_timeout(),
            Some(&Duration::from_secs(10))
        );
        assert_eq!(parsed.config.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(
            parsed.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(30))
        );
        assert_eq!(parsed.config.get_application_name(), Some("zoo search"));
        let parsed = PostgresUrl::parse(
            "postgresql://zoo@db:6000/s?connect_timeout=3&retry_seconds=120&application_name=w1",
        )
        .unwrap();
        assert_eq!(parsed.retry.budget, Duration::from_secs(120));
        assert_eq!(
            parsed.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert_eq!(parsed.config.get_application_name(), Some("w1"));
        assert_eq!(parsed.display, "postgresql://zoo@db:6000/s");
        let parsed = PostgresUrl::parse("postgresql://zoo@db/s?retry_seconds=0").unwrap();
        assert_eq!(parsed.retry.budget, Duration::ZERO);
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (url, says) in [
            ("mysql://zoo@db/s", "not a PostgreSQL URL"),
            (
                "postgresql://zoo@db/s?retry_seconds=soon",
                "retry_seconds=soon",
            ),
            ("postgresql://zoo@db/s?retry_seconds=-1", "retry_seconds=-1"),
            ("postgresql:///s", "names no host"),
            ("postgresql://zoo@db:notaport/s", "invalid PostgreSQL URL"),
        ] {
            let err = format!("{:#}", PostgresUrl::parse(url).unwrap_err());
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn retries_back_off_from_a_fifth_of_a_second_to_five_seconds_within_the_budget() {
        let policy = RetryPolicy::default();
        let waits: Vec<f64> = (0..8).map(|r| policy.delay(r).as_secs_f64()).collect();
        assert_eq!(waits, vec![0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(5));
        // Waiting as told (the tries themselves taking no time) ends within the budget.
        let (mut elapsed, mut retry) = (Duration::ZERO, 0);
        while let Some(wait) = policy.next_wait(retry, elapsed) {
            elapsed += wait;
            retry += 1;
        }
        assert!(elapsed <= policy.budget && elapsed > policy.budget - policy.max);
        assert_eq!(
            retry, 15,
            "five doubling waits (6.2 s), then ten of 5 s: 56.2 s, a sixteenth would pass 60 s"
        );
        // Slow tries use the budget up sooner.
        assert_eq!(policy.next_wait(3, Duration::from_secs(59)), None);
        let none = RetryPolicy {
            budget: Duration::ZERO,
            ..policy
        };
        assert_eq!(none.next_wait(0, Duration::ZERO), None);
    }

    #[test]
    fn the_postgres_schema_is_the_sqlite_schema_in_postgres_types() {
        let schema = postgres_schema();
        assert!(
            !schema.contains("INTEGER") && !schema.contains(" REAL"),
            "{schema}"
        );
        assert_eq!(schema.matches("BIGSERIAL PRIMARY KEY").count(), 2);
        assert_eq!(
            schema.matches("CREATE TABLE").count(),
            SCHEMA.matches("CREATE TABLE").count()
        );
        assert!(schema.contains("heartbeat DOUBLE PRECISION NOT NULL"));
    }
}
