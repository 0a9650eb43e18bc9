//! The `zoo` command: see `zoo --help`. The command line lives in `cli.rs`; everything it does
//! is in the library crates (`zoo-train`, `zoo-experiments`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
