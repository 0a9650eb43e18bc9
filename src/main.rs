//! The `zoo` command: see `zoo --help`. The command line lives in `cli.rs`; everything it does
//! is in the library crates (`zoo-train`, `zoo-experiments`).
// The doc comments of `cli.rs` are clap's `--help` text, written for a terminal: `<SEED>` and
// `[256,128]` there are what the user types, not HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

mod cli;

fn main() -> std::process::ExitCode {
    // Before any thread starts: glibc gives a thread its arena at its first allocation, so
    // rayon's workers, started just below, would otherwise each keep a heap of their own (see
    // `zoo_train::allocator`).
    zoo_train::allocator::keep_freed_memory();
    // Every command on a rayon worker, so the kernels' parallel parts start without a hand-over
    // between threads (see `zoo_kernels::threads`).
    zoo_kernels::threads::run_on_worker(cli::main)
}
