//! The `pathway` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = pathway::cli::Cli::parse();
    pathway::cli::run(cli).await
}
