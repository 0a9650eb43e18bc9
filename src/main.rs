//! The `zoo` command: see `zoo --help`, and `zoo_train::cli` for the implementation.

fn main() -> std::process::ExitCode {
    zoo_train::cli::main()
}
