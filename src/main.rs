use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tenantry::server::cli::run().await
}
