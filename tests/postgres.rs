//! `zoo search` on a PostgreSQL server: every strategy, several workers, a worker killed, the
//! server stopped and started again, a study joined with another spec; and the storage itself.
//!
//! The server is `$ZOO_TEST_POSTGRES_URL` (`.ci/run` starts one with
//! `scripts/postgres-test-server.sh`); unset, the tests start a throwaway server the same way,
//! stopped when the test process exits. Only where no server can be started do they print
//! `SKIPPED: <reason>` and pass (`ZOO_REQUIRE_POSTGRES=1` makes that a failure). Each test
//! works in its own database; the restart test runs its own server, since it stops it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use zoo_experiments::search::open_storage;
use zoo_experiments::search::postgres::PostgresStorage;
use zoo_experiments::search::space::Assignment;
use zoo_experiments::search::storage::{
    claim_token, SearchStorage, StudySpec, TrialRecord, TrialStatus,
};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/postgres-test-server.sh"
);

/// Runs the test-server script; its stdout, or why it failed.
fn script(args: &[&str]) -> Result<String, String> {
    let output = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {SCRIPT}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// A server this process started in its own folder; stopped (and the folder removed) on drop,
/// or by the script's watchdog when this process dies first.
struct OwnServer {
    dir: PathBuf,
    url: String,
}

impl OwnServer {
    fn start(tag: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("zoo-pg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let owner = std::process::id().to_string();
        let url = script(&["start", dir.to_str().unwrap(), "--owner", &owner])?;
        Ok(Self { dir, url })
    }

    fn stop(&self) {
        script(&["stop", self.dir.to_str().unwrap()]).expect("the server stops");
    }

    fn restart(&self) {
        let url = script(&["start", self.dir.to_str().unwrap()]).expect("the server starts");
        assert_eq!(url, self.url, "a restarted server keeps its port");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = script(&["stop", self.dir.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server every test but the restart test uses.
fn shared_server() -> Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| match std::env::var("ZOO_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Ok(url),
            // Never dropped: the script's watchdog stops it once this process exits.
            _ => OwnServer::start("shared").map(|s| std::mem::ManuallyDrop::new(s).url.clone()),
        })
        .clone()
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let slash = base.rfind('/').expect("a URL path");
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{}/{db}{query}", &base[..slash])
}

/// Says why a test does not run; a failure instead where a server is required.
fn skip(reason: &str) {
    if std::env::var("ZOO_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("ZOO_REQUIRE_POSTGRES=1 but no PostgreSQL: {reason}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

/// A fresh database named after the test on `server`.
fn fresh_database(server: &str, test: &str) -> String {
    let db = format!("zoo_{test}_{}", std::process::id());
    let admin = with_database(server, "postgres");
    script(&[
        "sql",
        &admin,
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    ])
    .unwrap();
    script(&["sql", &admin, &format!("CREATE DATABASE {db}")]).unwrap();
    with_database(server, &db)
}

/// The URL of a fresh database for `test` on the shared server; `None` (said why) without one.
fn database(test: &str) -> Option<String> {
    match shared_server() {
        Ok(server) => Some(fresh_database(&server, test)),
        Err(reason) => {
            skip(&format!("no PostgreSQL server could be started: {reason}"));
            None
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn zoo(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args(args)
        .env("ZOO_OFFLINE", "1")
        .output()
        .expect("zoo runs")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "zoo failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A search of the mini MNIST recipe over `space`, in a temporary folder.
struct Search {
    dir: tempfile::TempDir,
    recipe: PathBuf,
}

impl Search {
    fn new(space: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let shown = zoo(&["show".into(), "mlp-mnist-mini".into()]);
        let recipe_text = text(&shown.stdout);
        let base = recipe_text.split("\n[search]").next().unwrap();
        let recipe = dir.path().join("search.toml");
        std::fs::write(&recipe, format!("{base}\n[search]\n{space}\n")).unwrap();
        Self { dir, recipe }
    }

    /// `zoo search` arguments: this recipe, `strategy`, `trials`, stored in `storage`, with
    /// its own output folder per storage kind, then `extra`.
    fn args(&self, storage: &str, strategy: &str, trials: usize, extra: &[&str]) -> Vec<String> {
        let kind = storage.split(':').next().unwrap();
        let out = self.dir.path().join(format!("out-{kind}"));
        let mut args: Vec<String> = [
            "search",
            self.recipe.to_str().unwrap(),
            "--strategy",
            strategy,
            "--trials",
            &trials.to_string(),
            "--storage",
            storage,
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn sqlite(&self, name: &str) -> String {
        format!("sqlite:{}", self.dir.path().join(name).display())
    }
}

const SPACE: &str = r#""optimizer.lr" = { log_uniform = [3e-3, 3e-2] }
"model.hidden" = { choice = [[32], [64]] }"#;

/// Whether a line is a `trial N (strategy): params` start line.
fn is_start(line: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next() == Some("trial")
        && words.next().is_some_and(|n| n.parse::<usize>().is_ok())
        && words.next().is_some_and(|w| w.starts_with('('))
}

/// The trial numbers of the lines that start with `trial N` and pass `keep`.
fn trial_numbers(stdout: &str, keep: impl Fn(&str) -> bool) -> Vec<usize> {
    stdout
        .lines()
        .filter(|l| keep(l))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

fn show(storage: &str, study: &str) -> String {
    succeeded(&zoo(&[
        "search".into(),
        "show".into(),
        study.into(),
        "--storage".into(),
        storage.into(),
    ]))
}

/// A `zoo search` process whose output lines are collected, with when each arrived.
struct Worker {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    readers: Vec<std::thread::JoinHandle<String>>,
}

impl Worker {
    fn spawn(args: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zoo"))
            .args(args)
            .env("ZOO_OFFLINE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zoo starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (stdout, sink) = (child.stdout.take().unwrap(), lines.clone());
        let out = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
            String::new()
        });
        let mut stderr = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut all);
            all
        });
        Self {
            child,
            lines,
            readers: vec![out, err],
        }
    }

    fn stdout(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// When the first line passing `keep` arrived.
    fn when(&self, keep: impl Fn(&str) -> bool) -> Option<Instant> {
        let lines = self.lines.lock().unwrap();
        lines.iter().find(|(_, l)| keep(l)).map(|(at, _)| *at)
    }

    /// Waits (up to `limit`) for a start line; its trial number.
    fn wait_for_a_trial(&self, limit: Duration) -> usize {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(n) = trial_numbers(&self.stdout(), is_start).first() {
                return *n;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no trial started within {limit:?}: {}", self.stdout());
    }

    /// Waits for the process and its output; its success, stdout and stderr.
    fn finish(&mut self) -> (bool, String, String) {
        let ok = self.child.wait().unwrap().success();
        let stderr = self
            .readers
            .drain(..)
            .map(|r| r.join().unwrap())
            .collect::<String>();
        (ok, self.stdout(), stderr)
    }
}

/// Each trial of `0..n` finished exactly once across the workers' outputs, and the stored study
/// holds exactly `n` finished trials.
fn assert_exactly_once(outputs: &[&str], storage: &str, study: &str, n: usize) {
    let mut finished: Vec<usize> = outputs
        .iter()
        .flat_map(|o| trial_numbers(o, |l| l.contains(" complete: ")))
        .collect();
    finished.sort();
    assert_eq!(
        finished,
        (0..n).collect::<Vec<_>>(),
        "every trial finished once"
    );
    let board = show(storage, study);
    assert!(
        board.contains(&format!(
            "{n} trials: {n} complete, 0 pruned, 0 failed, 0 running"
        )),
        "{board}"
    );
}

/// Acceptance 1: every strategy runs against the server, writes its reports from it, and one
/// worker with one seed proposes what it proposes on SQLite.
#[test]
fn every_strategy_runs_on_postgres_and_proposes_what_it_does_on_sqlite() {
    let Some(url) = database("strategies") else {
        return;
    };
    let search = Search::new(SPACE);
    let grid = Search::new(r#""model.hidden" = { choice = [[32], [64]] }"#);
    let sqlite = search.sqlite("s.db");
    for (strategy, trials) in [
        ("grid", 2),
        ("random", 4),
        ("halving", 4),
        ("hyperband", 4),
        ("tpe", 12),
    ] {
        let searched = if strategy == "grid" { &grid } else { &search };
        // Pruning strategies get rungs to prune at.
        let epochs = if strategy.ends_with("band") || strategy == "halving" {
            "3"
        } else {
            "1"
        };
        let extra = ["--epochs-max", epochs, "--seed", "5"];
        let runs: Vec<String> = [sqlite.as_str(), url.as_str()]
            .iter()
            .map(|storage| succeeded(&zoo(&searched.args(storage, strategy, trials, &extra))))
            .collect();
        let starts = |stdout: &str| -> Vec<String> {
            stdout
                .lines()
                .filter(|l| is_start(l))
                .map(String::from)
                .collect()
        };
        assert_eq!(starts(&runs[0]).len(), trials, "{strategy}: {}", runs[0]);
        assert_eq!(
            starts(&runs[0]),
            starts(&runs[1]),
            "{strategy}: the same sequence on SQLite and PostgreSQL"
        );
        let study = format!("mlp-mnist-mini-{strategy}");
        assert!(runs[1].contains("best trial"), "{strategy}: {}", runs[1]);
        let folder = searched.dir.path().join("out-postgresql").join(&study);
        for file in ["best.toml", "leaderboard.txt", "history.png", "params.png"] {
            assert!(folder.join(file).is_file(), "{strategy}: {file} missing");
        }
        let board = show(&url, &study);
        assert!(
            board.contains(&format!("{trials} trials: ")) && board.contains(" 0 running"),
            "{strategy}: {board}"
        );
    }
}

/// Acceptance 2: three worker processes on one study run every trial exactly once, and the
/// study stops at exactly `--trials`.
#[test]
fn three_workers_run_every_trial_exactly_once() {
    let Some(url) = database("three_workers") else {
        return;
    };
    let search = Search::new(SPACE);
    let args = search.args(&url, "random", 9, &["--epochs-max", "2"]);
    let workers: Vec<Worker> = (0..3).map(|_| Worker::spawn(&args)).collect();
    let outputs: Vec<String> = workers
        .into_iter()
        .map(|mut w| {
            let (ok, stdout, stderr) = w.finish();
            assert!(ok, "a worker failed:\n{stdout}\n{stderr}");
            stdout
        })
        .collect();
    let mut started: Vec<usize> = outputs
        .iter()
        .flat_map(|o| trial_numbers(o, is_start))
        .collect();
    started.sort();
    assert_eq!(started, (0..9).collect::<Vec<_>>(), "no trial ran twice");
    let refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    assert_exactly_once(&refs, &url, "mlp-mnist-mini-random", 9);
}

/// Acceptance 3: a worker killed (SIGKILL) in the middle of a trial: another worker re-runs it
/// once its heartbeat is older than the grace, and the budget is still exact.
#[test]
fn a_worker_killed_mid_trial_is_replaced_after_the_heartbeat_grace() {
    let Some(url) = database("killed_worker") else {
        return;
    };
    let search = Search::new(SPACE);
    // 40 epochs: a trial of a second or two, long enough to be killed in.
    let args = search.args(
        &url,
        "random",
        4,
        &["--epochs-max", "40", "--heartbeat-grace", "3"],
    );
    let mut victim = Worker::spawn(&args);
    let mut survivor = Worker::spawn(&args);
    let trial = victim.wait_for_a_trial(Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(300));
    victim.child.kill().unwrap(); // SIGKILL
    let killed_at = Instant::now();
    let (_, victim_out, _) = victim.finish();
    assert!(
        !victim_out.contains(&format!("trial {trial} complete")),
        "the trial ended before the kill: {victim_out}"
    );
    let (ok, out, err) = survivor.finish();
    assert!(ok, "the surviving worker failed:\n{out}\n{err}");
    let rerun_at = survivor
        .when(|l| is_start(l) && l.starts_with(&format!("trial {trial} ")))
        .unwrap_or_else(|| panic!("trial {trial} was not re-run: {out}"));
    let after = rerun_at.duration_since(killed_at);
    assert!(
        after >= Duration::from_millis(2500),
        "re-run {after:?} after the kill, before the 3 s grace"
    );
    assert_exactly_once(&[&victim_out, &out], &url, "mlp-mnist-mini-random", 4);
}

/// Acceptance 4: the server stopped for 10 s and started again while two workers run: both
/// retry and go on; no trial is lost or counted twice.
#[test]
fn two_workers_ride_out_a_ten_second_server_stop() {
    let server = match OwnServer::start("restart") {
        Ok(server) => server,
        Err(reason) => return skip(&format!("no PostgreSQL server could be started: {reason}")),
    };
    let url = fresh_database(&server.url, "restart");
    let search = Search::new(SPACE);
    let args = search.args(&url, "random", 6, &["--epochs-max", "20"]);
    let workers = [Worker::spawn(&args), Worker::spawn(&args)];
    for worker in &workers {
        worker.wait_for_a_trial(Duration::from_secs(120));
    }
    server.stop();
    std::thread::sleep(Duration::from_secs(10));
    server.restart();
    let [mut a, mut b] = workers;
    let (a, b) = (a.finish(), b.finish());
    for (ok, out, err) in [&a, &b] {
        assert!(ok, "a worker failed across the restart:\n{out}\n{err}");
        assert!(
            err.contains("warning: lost PostgreSQL at") && err.contains("reconnected"),
            "{err}"
        );
    }
    let mut started: Vec<usize> = [&a.1, &b.1]
        .iter()
        .flat_map(|o| trial_numbers(o, is_start))
        .collect();
    started.sort();
    assert_eq!(started, (0..6).collect::<Vec<_>>(), "each trial ran once");
    assert_exactly_once(&[&a.1, &b.1], &url, "mlp-mnist-mini-random", 6);
}

/// Acceptance 5: a worker started with another search spec for the same study is refused, in
/// one line naming what differs, before it trains anything.
#[test]
fn a_worker_with_another_spec_is_refused_in_one_line() {
    let Some(url) = database("other_spec") else {
        return;
    };
    let search = Search::new(SPACE);
    let extra = ["--epochs-max", "1", "--study", "shared"];
    succeeded(&zoo(&search.args(&url, "random", 1, &extra)));
    let narrower = Search::new(r#""optimizer.lr" = { log_uniform = [3e-3, 1e-2] }"#);
    for (args, says) in [
        (
            search.args(&url, "tpe", 1, &extra),
            "strategy is random in the study, tpe here",
        ),
        (
            search.args(&url, "random", 1, &[&extra[..], &["--seed", "9"]].concat()),
            "seed is 0 in the study, 9 here",
        ),
        (
            narrower.args(&url, "random", 1, &extra),
            "the recipe differs: key 'search.",
        ),
    ] {
        let output = zoo(&args);
        let err = text(&output.stderr);
        assert!(!output.status.success(), "{}", text(&output.stdout));
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains("study 'shared' already exists with other settings") && err.contains(says),
            "{err}"
        );
        assert!(!text(&output.stdout).contains("trial 0"), "trained first");
    }
}

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

fn lr(number: usize) -> anyhow::Result<(Assignment, usize)> {
    let mut params = Assignment::new();
    params.insert(
        "optimizer.lr".into(),
        toml::Value::Float(0.01 * (number + 1) as f64),
    );
    Ok((params, number % 2))
}

fn claim(storage: &dyn SearchStorage, study: i64, worker: &str, grace: f64) -> Option<TrialRecord> {
    storage
        .claim(study, 2, worker, grace, &mut |n, _| lr(n))
        .unwrap()
}

/// The storage contract, the same on both storages: budget, round trip, heartbeats, take-over
/// of a silent trial and refusal of its old worker.
fn contract(storage: &dyn SearchStorage) {
    let study = storage.open_study(&spec("contract")).unwrap();
    assert_eq!(storage.open_study(&spec("contract")).unwrap(), study);
    assert_eq!(storage.study("contract").unwrap().1, spec("contract"));
    let (a, b) = (claim_token() + "-a", claim_token() + "-b");
    let first = claim(storage, study, &a, 60.0).unwrap();
    let second = claim(storage, study, &b, 60.0).unwrap();
    assert_eq!((first.number, second.number, second.bracket), (0, 1, 1));
    assert!(
        claim(storage, study, "c", 60.0).is_none(),
        "the budget is 2"
    );
    assert!(storage.report(first.id, &a, 1, 0.25).unwrap());
    assert!(storage.report(first.id, &a, 2, 0.5).unwrap());
    assert!(storage.heartbeat(second.id, &b).unwrap());
    std::thread::sleep(Duration::from_millis(400));
    // `a` stays alive, `b` falls silent past a grace of 0.3 s: its trial goes to `c`.
    assert!(storage.heartbeat(first.id, &a).unwrap());
    let taken = claim(storage, study, "c", 0.3).unwrap();
    assert_eq!(
        (taken.id, taken.number, &taken.worker),
        (second.id, 1, &"c".to_string())
    );
    assert!(!storage.heartbeat(second.id, &b).unwrap());
    assert!(!storage.report(second.id, &b, 1, 0.9).unwrap());
    assert!(!storage
        .finish(second.id, &b, TrialStatus::Complete, Some(0.9), None)
        .unwrap());
    assert!(storage
        .finish(first.id, &a, TrialStatus::Complete, Some(0.5), None)
        .unwrap());
    assert!(storage
        .finish(
            taken.id,
            "c",
            TrialStatus::Failed,
            None,
            Some("loss became NaN")
        )
        .unwrap());
    let trials = storage.trials(study).unwrap();
    assert_eq!(trials.len(), 2);
    assert_eq!(trials[0].epochs, vec![0.25, 0.5]);
    assert_eq!(trials[0].params["optimizer.lr"].as_float(), Some(0.01));
    assert_eq!(
        (trials[0].status, trials[0].value),
        (TrialStatus::Complete, Some(0.5))
    );
    assert!(trials[0].seconds.is_some_and(|s| s >= 0.4));
    assert_eq!(trials[1].reason.as_deref(), Some("loss became NaN"));
    let err = storage.open_study(&StudySpec {
        seed: 2,
        ..spec("contract")
    });
    assert!(format!("{:#}", err.unwrap_err()).contains("seed is 1 in the study, 2 here"));
}

#[test]
fn the_storage_contract_holds_on_sqlite_and_postgres() {
    let Some(url) = database("contract") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    contract(&*open_storage(&format!("sqlite:{}", dir.path().join("c.db").display())).unwrap());
    contract(&*open_storage(&url).unwrap());
}

/// A claim or a finish retried after its first try was applied (the answer lost with the
/// connection) is not applied twice: the claim returns the trial the token holds, the finish
/// reports success; and a killed connection is opened again without the caller noticing.
#[test]
fn retried_writes_apply_once_and_a_killed_connection_is_reopened() {
    let Some(url) = database("retries") else {
        return;
    };
    let storage = PostgresStorage::from_url(&url).unwrap();
    let study = storage.open_study(&spec("retries")).unwrap();
    let worker = claim_token();
    let trial = claim(&storage, study, &worker, 60.0).unwrap();
    let again = claim(&storage, study, &worker, 60.0).unwrap();
    assert_eq!((again.id, again.number), (trial.id, trial.number));
    let kill = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'zoo search'";
    assert_eq!(script(&["sql", &url, kill]).unwrap(), "1");
    assert!(storage.report(trial.id, &worker, 1, 0.5).unwrap());
    assert!(storage.report(trial.id, &worker, 1, 0.5).unwrap());
    for _ in 0..2 {
        assert!(storage
            .finish(trial.id, &worker, TrialStatus::Complete, Some(0.5), None)
            .unwrap());
    }
    // Ended, the trial is not this claim's to end otherwise.
    assert!(!storage
        .finish(trial.id, &worker, TrialStatus::Failed, None, None)
        .unwrap());
    script(&["sql", &url, kill]).unwrap();
    let trials = storage.trials(study).unwrap();
    assert_eq!(trials.len(), 1);
    assert_eq!(
        (trials[0].status, trials[0].epochs.clone()),
        (TrialStatus::Complete, vec![0.5])
    );
}

/// A database holding other tables, or studies of another schema version, is refused and left
/// as it was; a request error (no such database) fails at once, an unreachable server after
/// the URL's retry bound.
#[test]
fn foreign_databases_missing_databases_and_dead_servers_are_errors() {
    let Some(url) = database("foreign") else {
        return;
    };
    script(&[
        "sql",
        &url,
        "CREATE TABLE studies (id serial PRIMARY KEY, study_name text)",
    ])
    .unwrap();
    let err = format!("{:#}", PostgresStorage::from_url(&url).err().unwrap());
    assert!(
        err.contains("schema 1") && err.contains("schema 2"),
        "{err}"
    );
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'";
    assert_eq!(
        script(&["sql", &url, tables]).unwrap(),
        "1",
        "nothing created"
    );
    script(&["sql", &url, "DROP TABLE studies"]).unwrap();
    PostgresStorage::from_url(&url).unwrap();
    script(&[
        "sql",
        &url,
        "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
    ])
    .unwrap();
    let err = format!("{:#}", PostgresStorage::from_url(&url).err().unwrap());
    assert!(
        err.contains("schema 3") && err.contains("reads schema 2"),
        "{err}"
    );

    let start = Instant::now();
    let missing = with_database(&url, "zoo_no_such_database");
    let err = format!("{:#}", PostgresStorage::from_url(&missing).err().unwrap());
    assert!(
        err.contains("does not exist") && start.elapsed() < Duration::from_secs(5),
        "{err}"
    );

    // A port nothing listens on, with 1 s of retries.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("postgresql://postgres@127.0.0.1:{port}/x?retry_seconds=1");
    let start = Instant::now();
    let err = format!("{:#}", PostgresStorage::from_url(&dead).err().unwrap());
    assert!(err.contains("unreachable; gave up after"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
