//! A training run leaves every thread on one malloc arena (`zoo_train::allocator`): the run
//! sets the allocator before rayon's threads start, so none of them gets a heap of its own.
//!
//! A plain program rather than a test harness, whose threads would allocate first. It also runs
//! itself a second time with the pool started before the run, and checks that it then counts
//! more than one arena: the count sees the difference the run's ordering makes.

use std::process::{Command, ExitCode};

use burn_zoo::train::{train, Backend, Recipe, RunOptions};

/// Set in the second run: start rayon's pool, and allocate on its threads, before the run.
const POOL_FIRST: &str = "ZOO_TEST_POOL_FIRST";

/// glibc's arenas in this process: the `<heap nr=...>` entries of `malloc_info`.
fn arenas() -> usize {
    let (mut buffer, mut len) = (std::ptr::null_mut(), 0);
    // SAFETY: open_memstream gives a stream writing into a buffer it allocates; malloc_info
    // writes its XML there; fclose flushes it and sets `buffer` and `len`; the buffer is read
    // once as `len` bytes and freed with free, as open_memstream's contract says.
    let xml = unsafe {
        let stream = libc::open_memstream(&mut buffer, &mut len);
        assert!(!stream.is_null(), "open_memstream failed");
        assert_eq!(libc::malloc_info(0, stream), 0, "malloc_info failed");
        libc::fclose(stream);
        let xml = String::from_utf8_lossy(std::slice::from_raw_parts(buffer.cast::<u8>(), len))
            .into_owned();
        libc::free(buffer.cast());
        xml
    };
    xml.matches("<heap nr=").count()
}

/// A megabyte allocated and freed on every thread of rayon's global pool.
fn allocate_on_every_worker() {
    rayon::broadcast(|_| std::hint::black_box(vec![1u8; 1 << 20]).len());
}

/// Two epochs of the embedded mini MLP recipe, through the library's `train`.
fn train_mini(dir: &std::path::Path) {
    let recipe = Recipe::load("mlp-mnist-mini", &["training.epochs=2".to_string()])
        .expect("the built-in recipe loads");
    let options = RunOptions {
        backend: Backend::Flex,
        run_dir: Some(dir.join("run")),
        plain_progress: true,
        ..Default::default()
    };
    train(&recipe, &options).expect("the mini run trains");
}

fn main() -> ExitCode {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        println!("malloc_arenas: skipped, glibc's arenas exist on Linux with glibc only");
        return ExitCode::SUCCESS;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    if std::env::var_os(POOL_FIRST).is_some() {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build_global()
            .expect("the global pool is not built yet");
        allocate_on_every_worker();
        train_mini(dir.path());
        allocate_on_every_worker();
        println!("{}", arenas());
        return ExitCode::SUCCESS;
    }
    train_mini(dir.path());
    allocate_on_every_worker();
    assert_eq!(
        arenas(),
        1,
        "a training run left its threads on more than one arena"
    );
    let second = Command::new(std::env::current_exe().expect("this test's path"))
        .env(POOL_FIRST, "1")
        .output()
        .expect("the test runs itself");
    assert!(second.status.success(), "{second:?}");
    let counted: usize = String::from_utf8_lossy(&second.stdout)
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("no arena count in {second:?}"));
    assert!(
        counted > 1,
        "with the pool's threads allocating before the run, {counted} arena(s) counted"
    );
    println!("malloc_arenas: ok (1 arena after a run; {counted} with the pool started first)");
    ExitCode::SUCCESS
}
