//! `stampede`: parses the command line, dispatches, and maps every error to an exit code here
//! and nowhere else (0 ok, 1 run failed, 2 usage, 3 thresholds breached).

use clap::Parser;
use mimalloc::MiMalloc;

use stampede::cli::Cli;
use stampede::error::exit;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    stampede::sys::lean_memory();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match stampede::cmd::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stampede: error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
