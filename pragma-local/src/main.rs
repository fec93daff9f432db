//! `pragma-local`: the Pragmatiks platform on one machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use std::sync::Arc;

use pragma_local::deploy::DeployOptions;
use pragma_local::workers::{WorkerProvider, WorkerSpec};
use pragma_local::{default_user, Platform};
use pragma_sdk::models::UserInfo;

#[derive(Parser)]
#[command(
    name = "pragma-local",
    version,
    about = "The Pragmatiks platform on one machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the API.
    Serve(ServeArgs),
    #[command(flatten)]
    Everyday(pragma_local::cli::Command),
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    bind: SocketAddr,
    /// Where the store (`pragma.db`) lives.
    #[arg(long, env = "PRAGMA_LOCAL_DATA_DIR", default_value = ".pragma-local")]
    data_dir: PathBuf,
    /// Keeps everything in memory; nothing survives a restart.
    #[arg(long)]
    in_memory: bool,
    /// Requires `Authorization: Bearer <TOKEN>` on every endpoint but /health.
    #[arg(long, env = "PRAGMA_LOCAL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The user id /auth/me reports.
    #[arg(long, default_value = "local")]
    user_id: String,
    /// The email /auth/me reports.
    #[arg(long)]
    user_email: Option<String>,
    /// The organization id /auth/me reports.
    #[arg(long, default_value = "local")]
    organization_id: String,
    /// The organization name /auth/me reports.
    #[arg(long)]
    organization_name: Option<String>,
    /// Attempts per event before it becomes a dead-letter event.
    #[arg(long, default_value_t = 3)]
    retry_attempts: u32,
    /// Delay before the second attempt, in milliseconds; it doubles for each further one.
    #[arg(long, default_value_t = 200)]
    retry_delay_ms: u64,
    /// How long one attempt's handler may run before it counts as failed, in seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    handler_timeout_secs: u64,
    /// Starts the worker binary at PATH (built with the SDK's `worker_main`) and hosts its
    /// provider; may be given several times, each worker announcing a provider of its own
    /// (not the built-in `pragma`).
    #[arg(long = "worker", value_name = "PATH")]
    workers: Vec<PathBuf>,
    /// How long a worker may take to handshake, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    worker_handshake_timeout_ms: u64,
    /// How long one build of a pushed provider may run before it is killed and fails, in
    /// seconds.
    #[arg(long, default_value_t = 15 * 60, value_parser = clap::value_parser!(u64).range(1..))]
    build_timeout_secs: u64,
    /// Hosts the `demo` provider, whose handlers sleep; for testing only.
    #[arg(long, hide = true)]
    demo_slow_provider: bool,
}

/// Hosts a started worker's provider, or shuts the worker down when its provider name is
/// refused: a built-in provider's, or one another `--worker` already announced.
async fn host_worker(
    platform: &Platform,
    worker: WorkerProvider,
    path: &Path,
) -> Result<WorkerProvider, String> {
    let provider = worker.handshake().short_name.clone();
    match platform.registry().register_new(Arc::new(worker.clone())) {
        Ok(()) => {
            tracing::info!(%provider, worker = %path.display(), "hosting worker");
            Ok(worker)
        }
        Err(err) => {
            tracing::error!(%provider, worker = %path.display(), error = %err, "worker refused");
            worker.shutdown().await;
            Err(format!("worker {}: {err}", path.display()))
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let user = UserInfo {
        user_id: args.user_id,
        email: args.user_email,
        organization_id: args.organization_id,
        organization_name: args.organization_name.or(default_user().organization_name),
    };
    let mut builder = Platform::builder()
        .user(user)
        .retry(
            args.retry_attempts,
            Duration::from_millis(args.retry_delay_ms),
        )
        .handler_timeout(Duration::from_secs(args.handler_timeout_secs));
    builder = if args.in_memory {
        builder.in_memory()
    } else {
        builder.data_dir(&args.data_dir)
    };
    if let Some(token) = args.token {
        builder = builder.token(token);
    }
    builder = builder.deploy_options(DeployOptions {
        build_timeout: Duration::from_secs(args.build_timeout_secs),
        ..DeployOptions::default()
    });
    if args.demo_slow_provider {
        let demo = pragma_local::demo::slow_provider().map_err(|err| err.to_string())?;
        builder = builder.provider(demo);
    }
    let platform = builder.build().map_err(|err| err.to_string())?;

    let socket_dir = platform
        .data_dir()
        .map(ToOwned::to_owned)
        .unwrap_or_else(std::env::temp_dir);
    let mut workers = Vec::new();
    for path in &args.workers {
        let spec = WorkerSpec::new(path)
            .socket_dir(&socket_dir)
            .handshake_timeout(Duration::from_millis(args.worker_handshake_timeout_ms));
        let started = match WorkerProvider::start(spec).await {
            Ok(worker) => host_worker(&platform, worker, path).await,
            Err(err) => Err(err.to_string()),
        };
        match started {
            Ok(worker) => workers.push(worker),
            Err(message) => {
                for worker in workers {
                    worker.shutdown().await;
                }
                return Err(message);
            }
        }
    }

    let served = platform
        .serve(args.bind)
        .await
        .map_err(|err| err.to_string());
    for worker in workers {
        worker.shutdown().await;
    }
    served
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Everyday(command) => return pragma_local::cli::run(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pragma-local: {message}");
            ExitCode::FAILURE
        }
    }
}
