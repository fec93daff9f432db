//! The everyday commands of `pragma-local`, beside `serve`: they talk to any platform's API
//! (`--api-url`) with the SDK's client and print human tables, JSON or YAML.
//!
//! Exit codes, for scripts:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a resource failed, or the platform refused the operation |
//! | 2 | usage: bad arguments, or a manifest that cannot be read |
//! | 3 | not found: no such resource, dead-letter event or provider |
//! | 4 | timeout: `wait` (or `apply --wait`) ran out of time, or a request timed out |
//! | 5 | connection or authentication: the platform cannot be reached, or refused the token |
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(subcommand)]
//!     command: pragma_local::cli::Command,
//! }
//!
//! # async fn run() {
//! let cli = Cli::parse_from(["pragma", "list", "--provider", "pragma"]);
//! let code = pragma_local::cli::run(cli.command).await;
//! # let _ = code;
//! # }
//! ```

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use pragma_sdk::{AsyncPragmaClient, ClientBuilder};

/// The exit code of a success.
pub const EXIT_OK: u8 = 0;
/// The exit code when a resource failed or the platform refused the operation.
pub const EXIT_FAILED: u8 = 1;
/// The exit code of a usage error: bad arguments or an unreadable manifest.
pub const EXIT_USAGE: u8 = 2;
/// The exit code when what was asked for does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// The exit code when waiting, or a request, ran out of time.
pub const EXIT_TIMEOUT: u8 = 4;
/// The exit code when the platform cannot be reached or refuses the credentials.
pub const EXIT_CONNECTION: u8 = 5;

/// The exit codes, as the commands' help shows them.
pub const EXIT_CODES_HELP: &str = "Exit codes: 0 ok, 1 a resource failed or the platform refused, \
2 usage or unreadable manifest, 3 not found, 4 timeout, 5 connection or authentication.";

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Tables for people.
    #[default]
    Table,
    /// JSON, for scripts.
    Json,
    /// YAML, for scripts.
    Yaml,
}

/// Where the platform is and how to authenticate, shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The platform's API URL.
    #[arg(long, env = "PRAGMA_API_URL", default_value = "http://localhost:8000")]
    pub api_url: String,
    /// The credentials context to use (instead of `PRAGMA_CONTEXT` or the configured one).
    #[arg(long)]
    pub context: Option<String>,
    /// The token to send, skipping credentials discovery (`PRAGMA_AUTH_TOKEN`, the
    /// credentials file).
    #[arg(long)]
    pub token: Option<String>,
    /// How long one request may take, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub request_timeout: u64,
    /// How results are printed.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

impl Connection {
    fn client(&self) -> Result<AsyncPragmaClient, CliError> {
        let mut builder = ClientBuilder::new()
            .base_url(&self.api_url)
            .timeout(Duration::from_secs(self.request_timeout.max(1)));
        if let Some(context) = &self.context {
            builder = builder.context(context);
        }
        if let Some(token) = &self.token {
            builder = builder.auth_token(token);
        }
        builder.build().map_err(CliError::from)
    }
}

/// The everyday commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Creates or updates the resources of manifest files.
    Apply(ApplyArgs),
    /// Shows one resource.
    Get(GetArgs),
    /// Lists resources.
    List(ListArgs),
    /// Deletes resources, with what they own.
    Delete(DeleteArgs),
    /// Waits until resources are ready (exit 0) or failed (exit 1).
    Wait(WaitArgs),
    /// Lists the resource types that can be used.
    Types(TypesArgs),
    /// Inspects, retries and removes the events that failed after their last attempt.
    #[command(subcommand)]
    DeadLetter(DeadLetterCommand),
    /// Lists providers and their deployments.
    #[command(subcommand)]
    Providers(ProvidersCommand),
}

/// Arguments of `apply`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct ApplyArgs {
    /// Manifest files (YAML, documents separated by `---`); all are read before any is applied.
    #[arg(short, long = "file", value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Stores the resources as drafts, without processing them.
    #[arg(long, conflicts_with = "wait")]
    pub draft: bool,
    /// Waits until every applied resource is ready or one fails.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
    /// Where the platform is and how results are printed.
    #[command(flatten)]
    pub connection: Connection,
}

/// Arguments of `get`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct GetArgs {
    /// The resource, as `PROVIDER/RESOURCE/NAME`.
    #[arg(value_name = "PROVIDER/RESOURCE/NAME")]
    pub resource: String,
    /// Where the platform is and how results are printed.
    #[command(flatten)]
    pub connection: Connection,
}

/// Arguments of `list`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct ListArgs {
    /// Only resources of this provider.
    #[arg(long)]
    pub provider: Option<String>,
    /// Only resources of this resource type.
    #[arg(long)]
    pub resource: Option<String>,
    /// Only resources carrying this tag; repeat for several (all must match).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Where the platform is and how results are printed.
    #[command(flatten)]
    pub connection: Connection,
}

/// Arguments of `delete`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct DeleteArgs {
    /// The resources, as `PROVIDER/RESOURCE/NAME`.
    #[arg(
        value_name = "PROVIDER/RESOURCE/NAME",
        required_unless_present = "files"
    )]
    pub resources: Vec<String>,
    /// Deletes the resources of these manifest files instead, last first.
    #[arg(short, long = "file", value_name = "FILE", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Where the platform is and how results are printed.
    #[command(flatten)]
    pub connection: Connection,
}

/// Arguments of `wait`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct WaitArgs {
    /// The resources, as `PROVIDER/RESOURCE/NAME`.
    #[arg(value_name = "PROVIDER/RESOURCE/NAME", required = true, num_args = 1..)]
    pub resources: Vec<String>,
    /// How long to wait, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
    /// Where the platform is and how results are printed.
    #[command(flatten)]
    pub connection: Connection,
}

/// Arguments of `types`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct TypesArgs {
    /// Only the types of this provider.
    #[arg(long)]
    pub provider: Option<String>,
    /// Where the platform is and how results are printed.
    #[command(flatten)]
    pub connection: Connection,
}

/// The `dead-letter` commands.
#[derive(Debug, Clone, Subcommand)]
#[command(after_help = EXIT_CODES_HELP)]
pub enum DeadLetterCommand {
    /// Lists dead-letter events.
    List {
        /// Only the events of this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Where the platform is and how results are printed.
        #[command(flatten)]
        connection: Connection,
    },
    /// Shows one dead-letter event.
    Get {
        /// The event's id.
        event_id: String,
        /// Where the platform is and how results are printed.
        #[command(flatten)]
        connection: Connection,
    },
    /// Queues one dead-letter event again.
    Retry {
        /// The event's id.
        event_id: String,
        /// Where the platform is and how results are printed.
        #[command(flatten)]
        connection: Connection,
    },
    /// Queues every dead-letter event again.
    RetryAll {
        /// Where the platform is and how results are printed.
        #[command(flatten)]
        connection: Connection,
    },
    /// Removes dead-letter events: one by id, all of a provider, or all.
    Delete {
        /// The event's id.
        #[arg(required_unless_present_any = ["all", "provider"], conflicts_with_all = ["all", "provider"])]
        event_id: Option<String>,
        /// Removes every dead-letter event.
        #[arg(long, conflicts_with = "provider")]
        all: bool,
        /// Removes the dead-letter events of this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Where the platform is and how results are printed.
        #[command(flatten)]
        connection: Connection,
    },
}

/// The `providers` commands.
#[derive(Debug, Clone, Subcommand)]
pub enum ProvidersCommand {
    /// Lists providers with their deployment status.
    List {
        /// Where the platform is and how results are printed.
        #[command(flatten)]
        connection: Connection,
    },
}

/// Why a command did not succeed; each kind has its exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A resource failed, or the platform refused the operation.
    #[error("{0}")]
    Failed(String),
    /// Bad arguments or an unreadable manifest.
    #[error("{0}")]
    Usage(String),
    /// What was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Waiting or a request ran out of time.
    #[error("{0}")]
    Timeout(String),
    /// The platform cannot be reached or refused the credentials.
    #[error("{0}")]
    Connection(String),
}

impl CliError {
    /// The exit code scripts see for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed(_) => EXIT_FAILED,
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::Timeout(_) => EXIT_TIMEOUT,
            CliError::Connection(_) => EXIT_CONNECTION,
        }
    }
}

impl From<pragma_sdk::Error> for CliError {
    fn from(err: pragma_sdk::Error) -> Self {
        let message = err.to_string();
        if err.is_not_found() {
            CliError::NotFound(message)
        } else if err.is_timeout() {
            CliError::Timeout(message)
        } else if err.is_connection()
            || err.is_unauthorized()
            || err.is_forbidden()
            || matches!(err, pragma_sdk::Error::Authentication { .. })
        {
            CliError::Connection(message)
        } else if matches!(err, pragma_sdk::Error::InvalidArgument(_)) {
            CliError::Usage(message)
        } else {
            CliError::Failed(message)
        }
    }
}

impl From<pragma_sdk::manifest::ManifestError> for CliError {
    fn from(err: pragma_sdk::manifest::ManifestError) -> Self {
        CliError::Usage(err.to_string())
    }
}

/// Runs one command, prints its result on standard output and any error on standard error,
/// and returns the exit code (see the [module documentation](self)).
pub async fn run(command: Command) -> ExitCode {
    let mut stdout = std::io::stdout();
    match commands::run(command, &mut stdout).await {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
