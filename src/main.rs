//! The `scimgate` command line: a thin wrapper around [`scimgate::cli`].

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    scimgate::cli::main().await
}
