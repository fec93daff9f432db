//! The worker side: connect to the host, handshake, and serve lifecycle requests with a
//! [`Provider`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio::task::JoinSet;

use crate::authoring::{
    BackendError, BoxFuture, ChildResource, DispatchError, DispatchRequest, Provider,
    RuntimeBackend, Target, WaitOutcome,
};
use crate::models::LifecycleState;
use crate::worker::messages::{
    decode_params, ApplyResourceParams, ChildParams, DispatchParams, HandshakeParams,
    HandshakeResult, QueryParams, ResourceTypeInfo, TargetParams, WaitForStateParams,
    WaitForStateResult, PROTOCOL_VERSION,
};
use crate::worker::rpc::{
    CallError, Connection, Incoming, RpcError, RpcPeer, INTERNAL_ERROR, INVALID_PARAMS,
    METHOD_NOT_FOUND, UNSUPPORTED_VERSION,
};

/// How a worker names its provider's package in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerIdentity {
    /// The provider's package name (`distribution`).
    pub distribution: String,
    /// The provider's crate (`package`).
    pub package: String,
}

impl WorkerIdentity {
    /// The identity a worker of the provider `name` uses when none is given:
    /// `pragma-provider-{name}` as distribution and `pragma_provider_{name}` as package.
    pub fn for_provider(name: &str) -> Self {
        WorkerIdentity {
            distribution: format!("pragma-provider-{name}"),
            package: format!("pragma_provider_{}", name.replace('-', "_")),
        }
    }
}

/// Why a worker stopped serving before the host asked it to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The host's socket could not be reached.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The host speaks none of the worker's protocol versions.
    #[error("the host speaks protocol version {host:?}, this worker speaks {PROTOCOL_VERSION}")]
    UnsupportedVersion {
        /// The version the host named, if it did.
        host: Option<u64>,
    },
    /// The handshake failed otherwise.
    #[error("handshake failed: {0}")]
    Handshake(CallError),
    /// The connection closed without a `shutdown` (the host went away, or sent a malformed
    /// frame).
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The command line is not understood.
    #[error("usage: {0}")]
    Usage(String),
}

/// The handshake params announcing `provider`.
pub fn handshake_params(provider: &Provider, identity: &WorkerIdentity) -> HandshakeParams {
    let resource_types = provider
        .resource_types()
        .map(|resource| {
            let capabilities = provider.capabilities(resource);
            ResourceTypeInfo {
                resource: resource.to_owned(),
                observe: false,
                computed: false,
                logs: capabilities.is_some_and(|c| c.logs),
                health: capabilities.is_some_and(|c| c.health),
            }
        })
        .collect();
    HandshakeParams {
        protocol_versions: vec![PROTOCOL_VERSION],
        sdk_version: env!("CARGO_PKG_VERSION").to_owned(),
        distribution: identity.distribution.clone(),
        short_name: provider.name().to_owned(),
        package: identity.package.clone(),
        resource_types,
    }
}

/// Connects to the host's socket at `socket` and serves `provider` until the host sends
/// `shutdown`.
///
/// # Errors
///
/// See [`WorkerError`].
pub async fn serve(provider: Provider, socket: &Path) -> Result<(), WorkerError> {
    let identity = WorkerIdentity::for_provider(provider.name());
    serve_as(provider, identity, socket).await
}

/// As [`serve`], announcing the provider with `identity`.
///
/// # Errors
///
/// See [`WorkerError`].
pub async fn serve_as(
    provider: Provider,
    identity: WorkerIdentity,
    socket: &Path,
) -> Result<(), WorkerError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| WorkerError::Connect {
            path: socket.to_owned(),
            source,
        })?;
    serve_stream(provider, identity, stream).await
}

/// Serves `provider` on an established stream: handshakes, then answers requests, running
/// dispatches concurrently, until `shutdown` (in-flight requests are finished first).
///
/// # Errors
///
/// See [`WorkerError`].
pub async fn serve_stream<S>(
    provider: Provider,
    identity: WorkerIdentity,
    stream: S,
) -> Result<(), WorkerError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut connection = Connection::start(stream);
    let peer = connection.peer.clone();

    let params = serde_json::to_value(handshake_params(&provider, &identity)).unwrap_or_default();
    match peer.request("handshake", params).await {
        Ok(result) => {
            let accepted: Result<HandshakeResult, _> = serde_json::from_value(result);
            match accepted {
                Ok(HandshakeResult { protocol_version })
                    if protocol_version == PROTOCOL_VERSION => {}
                Ok(HandshakeResult { protocol_version }) => {
                    return Err(WorkerError::UnsupportedVersion {
                        host: Some(u64::from(protocol_version)),
                    })
                }
                Err(err) => {
                    return Err(WorkerError::Handshake(CallError::Closed(format!(
                        "handshake result does not decode: {err}"
                    ))))
                }
            }
        }
        Err(CallError::Rpc(err)) if err.code == UNSUPPORTED_VERSION => {
            let host = err
                .data
                .as_ref()
                .and_then(|d| d.get("protocol_version"))
                .and_then(Value::as_u64);
            return Err(WorkerError::UnsupportedVersion { host });
        }
        Err(err) => return Err(WorkerError::Handshake(err)),
    }
    tracing::info!(provider = provider.name(), "handshake accepted; serving");

    let provider = Arc::new(provider);
    let mut tasks = JoinSet::new();
    let outcome = loop {
        let incoming = tokio::select! {
            incoming = connection.incoming.recv() => incoming,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match incoming {
            None => break Err(WorkerError::ConnectionLost(connection.closed().await)),
            Some(Incoming::Notification { method, .. }) if method == "shutdown" => break Ok(()),
            Some(Incoming::Notification { method, .. }) => {
                tracing::warn!(%method, "unknown notification ignored");
            }
            Some(Incoming::Request { id, method, params }) => {
                let provider = provider.clone();
                let peer = peer.clone();
                tasks.spawn(async move {
                    let result = answer(&provider, &peer, id, &method, params).await;
                    if let Err(err) = &result {
                        tracing::warn!(id, %method, code = err.code, error = %err.message, "request failed");
                    }
                    let _ = peer.respond(id, result);
                });
            }
        }
    };

    if outcome.is_ok() {
        tracing::info!("shutdown requested; finishing open requests");
        while tasks.join_next().await.is_some() {}
    } else {
        tasks.abort_all();
    }
    if let Err(err) = &outcome {
        tracing::error!(error = %err, "worker stopped");
    }
    outcome
}

async fn answer(
    provider: &Provider,
    peer: &Arc<RpcPeer>,
    id: u64,
    method: &str,
    params: Value,
) -> Result<Value, RpcError> {
    let invalid = |message: String| RpcError::new(INVALID_PARAMS, message);
    match method {
        "dispatch" => {
            let params: DispatchParams = decode_params(params).map_err(invalid)?;
            let request = DispatchRequest {
                event_type: params.event_type,
                target: target(params.target),
                previous_config: params.previous_config,
            };
            let backend = Arc::new(DispatchBackend {
                peer: peer.clone(),
                dispatch_id: id,
            });
            tracing::info!(
                id,
                event_type = %request.event_type,
                resource = %request.target.resource,
                name = %request.target.name,
                "dispatch"
            );
            provider
                .dispatch(request, backend)
                .await
                .map_err(dispatch_error)
        }
        "resource_logs" => {
            let params: QueryParams = decode_params(params).map_err(invalid)?;
            let backend = Arc::new(DispatchBackend {
                peer: peer.clone(),
                dispatch_id: id,
            });
            let entries = provider
                .logs(target(params.target), params.since, params.tail, backend)
                .await
                .map_err(dispatch_error)?;
            serde_json::to_value(entries).map_err(|e| RpcError::new(INTERNAL_ERROR, e.to_string()))
        }
        "resource_health" => {
            let params: QueryParams = decode_params(params).map_err(invalid)?;
            let backend = Arc::new(DispatchBackend {
                peer: peer.clone(),
                dispatch_id: id,
            });
            let health = provider
                .health(target(params.target), backend)
                .await
                .map_err(dispatch_error)?;
            serde_json::to_value(health).map_err(|e| RpcError::new(INTERNAL_ERROR, e.to_string()))
        }
        other => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("method {other:?} not found"),
        )),
    }
}

fn target(params: TargetParams) -> Target {
    Target {
        resource: params.resource,
        name: params.name,
        config: params.config,
        outputs: params.outputs,
        tags: params.tags,
    }
}

/// The protocol answer for a failed dispatch.
pub fn dispatch_error(err: DispatchError) -> RpcError {
    match err {
        DispatchError::InvalidParams {
            what,
            path,
            message,
        } => {
            let text = format!("invalid {what} at {path}: {message}");
            RpcError::new(INVALID_PARAMS, text)
                .with_data(json!({"field": format!("{what}.{path}")}))
        }
        err @ DispatchError::UnknownResourceType { .. } => {
            RpcError::new(INVALID_PARAMS, err.to_string())
        }
        err => RpcError::new(INTERNAL_ERROR, err.to_string()),
    }
}

/// The platform as one dispatch reaches it: `apply_resource` and `wait_for_state` requests
/// carrying the dispatch's id.
struct DispatchBackend {
    peer: Arc<RpcPeer>,
    dispatch_id: u64,
}

fn backend_error(err: CallError) -> BackendError {
    match err {
        CallError::Rpc(err) => BackendError::Refused(err.message),
        CallError::Closed(reason) => BackendError::Unavailable(reason),
    }
}

impl RuntimeBackend for DispatchBackend {
    fn apply_resource(&self, child: ChildResource) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let params = ApplyResourceParams {
                dispatch_id: self.dispatch_id,
                child: ChildParams {
                    project_id: String::new(),
                    provider: child.provider,
                    resource: child.resource,
                    name: child.name,
                    config: child.config,
                    owner_references: child.owner_references,
                    tags: child.tags,
                },
            };
            let params = serde_json::to_value(params)
                .map_err(|e| BackendError::Refused(format!("child does not serialize: {e}")))?;
            self.peer
                .request("apply_resource", params)
                .await
                .map_err(backend_error)?;
            Ok(())
        })
    }

    fn wait_for_state(
        &self,
        resource_id: String,
        target: LifecycleState,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<WaitOutcome, BackendError>> {
        Box::pin(async move {
            let params = WaitForStateParams {
                dispatch_id: self.dispatch_id,
                resource_id: resource_id.clone(),
                target_state: target,
                timeout: timeout.as_secs_f64(),
            };
            let params =
                serde_json::to_value(params).map_err(|e| BackendError::Refused(e.to_string()))?;
            let result =
                self.peer
                    .request("wait_for_state", params)
                    .await
                    .map_err(|err| match err {
                        CallError::Rpc(err) => BackendError::Failed {
                            resource_id: resource_id.clone(),
                            message: err.message,
                        },
                        CallError::Closed(reason) => BackendError::Unavailable(reason),
                    })?;
            let result: WaitForStateResult = decode_params(result).map_err(|message| {
                BackendError::Refused(format!("wait_for_state result: {message}"))
            })?;
            Ok(WaitOutcome {
                lifecycle_state: result.lifecycle_state,
                outputs: result.outputs,
            })
        })
    }
}

/// What the worker's command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerCommand {
    /// `--schemas`: print the resource definitions as JSON and exit.
    Schemas,
    /// `--socket PATH`: connect to the host there and serve.
    Serve {
        /// The socket path.
        socket: PathBuf,
    },
}

/// Reads the worker's command line (without the program name).
///
/// # Errors
///
/// [`WorkerError::Usage`] for an unknown argument or a missing socket path.
///
/// ```
/// use pragma_sdk::worker::{parse_args, WorkerCommand};
///
/// let command = parse_args(["--socket".to_owned(), "/tmp/host.sock".to_owned()]).unwrap();
/// assert_eq!(command, WorkerCommand::Serve { socket: "/tmp/host.sock".into() });
/// assert_eq!(parse_args(["--schemas".to_owned()]).unwrap(), WorkerCommand::Schemas);
/// ```
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<WorkerCommand, WorkerError> {
    let mut args = args.into_iter();
    let mut socket = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--schemas" => return Ok(WorkerCommand::Schemas),
            "--socket" => match args.next() {
                Some(path) => socket = Some(PathBuf::from(path)),
                None => return Err(WorkerError::Usage("--socket needs a path".into())),
            },
            other => match other.strip_prefix("--socket=") {
                Some(path) => socket = Some(PathBuf::from(path)),
                None => {
                    return Err(WorkerError::Usage(format!(
                        "unknown argument {other:?}; expected --socket PATH or --schemas"
                    )))
                }
            },
        }
    }
    socket
        .map(|socket| WorkerCommand::Serve { socket })
        .ok_or_else(|| WorkerError::Usage("--socket PATH or --schemas is required".into()))
}

/// The `main` of a worker binary: with `--schemas` prints the provider's definitions and
/// exits 0; with `--socket PATH` installs a JSON log subscriber on stderr and serves the
/// provider on a current-thread runtime until the host sends `shutdown`.
///
/// ```no_run
/// use pragma_sdk::authoring::Provider;
///
/// fn main() -> std::process::ExitCode {
///     pragma_sdk::worker::worker_main(Provider::new("mycloud"))
/// }
/// ```
pub fn worker_main(provider: Provider) -> ExitCode {
    let identity = WorkerIdentity::for_provider(provider.name());
    worker_main_as(provider, identity)
}

/// As [`worker_main`], announcing the provider with `identity`.
pub fn worker_main_as(provider: Provider, identity: WorkerIdentity) -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let socket = match command {
        WorkerCommand::Schemas => {
            println!("{}", provider.definitions_json());
            return ExitCode::SUCCESS;
        }
        WorkerCommand::Serve { socket } => socket,
    };

    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_as(provider, identity, &socket)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "worker failed");
            ExitCode::FAILURE
        }
    }
}
