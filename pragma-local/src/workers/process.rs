//! Starting, supervising and talking to one worker process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pragma_sdk::authoring::{
    DispatchError, DispatchRequest, LifecycleError, RuntimeBackend, Target,
};
use pragma_sdk::models::{LogEntry, ResourceDefinition, ResourceHealth, Timestamp};
use pragma_sdk::worker::messages::{
    decode_params, DispatchParams, HandshakeParams, OwnerParams, QueryParams, TargetParams,
    PROTOCOL_VERSION,
};
use pragma_sdk::worker::rpc::{
    CallError, Connection, Incoming, RpcError, RpcPeer, INVALID_PARAMS, UNSUPPORTED_VERSION,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixListener;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::hosted::{BoxFuture, HostedProvider};
use crate::workers::callbacks::{self, Backends};

/// The longest socket path a Unix socket address holds, less its terminator.
const MAX_SOCKET_PATH: usize = 107;

/// How to start a worker, and how patiently to supervise it.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    program: PathBuf,
    args: Vec<String>,
    read_schemas: bool,
    socket_dir: PathBuf,
    handshake_timeout: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    shutdown_grace: Duration,
}

impl WorkerSpec {
    /// A worker binary written with this SDK: asked for its definitions with `--schemas`
    /// first, then started with `--socket PATH`; its socket lives in the system temp dir.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        WorkerSpec {
            program: program.into(),
            args: Vec::new(),
            read_schemas: true,
            socket_dir: std::env::temp_dir(),
            handshake_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(5),
        }
    }

    /// Arguments placed before `--socket PATH` (or `--schemas`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Whether to run the program with `--schemas` for its definitions (on by default; off for
    /// workers written with another SDK, whose types get empty schemas).
    pub fn read_schemas(mut self, read: bool) -> Self {
        self.read_schemas = read;
        self
    }

    /// The directory for the worker's socket (the data dir, or a temp dir).
    pub fn socket_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.socket_dir = dir.into();
        self
    }

    /// How long a worker may take to connect and handshake before it is killed (10 s by
    /// default).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The first and the longest wait before restarting a worker that died (100 ms and 5 s by
    /// default). The wait doubles after each failed start and each death of a worker that had
    /// not yet stayed up ten times the first wait (and at least the longest wait); it starts
    /// over from the first once a worker has.
    pub fn restart_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

/// Why a worker could not be started or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The socket could not be set up.
    #[error("cannot listen on {path}: {message}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The worker exited before it handshook.
    #[error("worker {program} exited before its handshake ({status})")]
    Exited {
        /// The program.
        program: PathBuf,
        /// How it exited.
        status: String,
    },
    /// The worker did not connect and handshake in time; it was killed.
    #[error("worker {program} did not handshake within {timeout:?}; killed")]
    HandshakeTimeout {
        /// The program.
        program: PathBuf,
        /// Its process id.
        pid: Option<u32>,
        /// The time allowed.
        timeout: Duration,
    },
    /// The worker's handshake was refused.
    #[error("worker {program} handshake refused: {message}")]
    Handshake {
        /// The program.
        program: PathBuf,
        /// Why.
        message: String,
    },
}

/// What the supervisor is doing with the worker process.
#[derive(Clone)]
enum State {
    Starting,
    Running {
        peer: Arc<RpcPeer>,
        pid: Option<u32>,
    },
    Stopped,
}

struct Inner {
    spec: WorkerSpec,
    handshake: HandshakeParams,
    definitions: Vec<ResourceDefinition>,
    state: watch::Sender<State>,
    backends: Arc<Backends>,
    restarts: AtomicU64,
    stop: watch::Sender<bool>,
    supervisor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A provider living in a worker process, hosted like an in-process one.
///
/// Cheap to clone; clones share the process. Call [`WorkerProvider::shutdown`] to stop it.
///
/// Limitation: a `WorkerProvider` dropped without `shutdown` keeps its supervisor (and the
/// worker process) until the tokio runtime stops, which kills the process.
#[derive(Clone)]
pub struct WorkerProvider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WorkerProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerProvider")
            .field("name", &self.inner.handshake.short_name)
            .field("program", &self.inner.spec.program)
            .field("pid", &self.pid())
            .finish()
    }
}

/// A started process that has handshaken.
struct Launched {
    child: Child,
    connection: Connection,
    handshake: HandshakeParams,
}

impl WorkerProvider {
    /// Starts the worker, waits for its handshake, and begins supervising it.
    ///
    /// # Errors
    ///
    /// See [`WorkerError`]; a worker that fails to start is not left running.
    pub async fn start(spec: WorkerSpec) -> Result<Self, WorkerError> {
        let schemas = if spec.read_schemas {
            read_schemas(&spec).await
        } else {
            None
        };
        let launched = launch(&spec).await?;
        let handshake = launched.handshake.clone();
        let definitions = definitions(&handshake, schemas);
        let (state, _) = watch::channel(State::Running {
            peer: launched.connection.peer.clone(),
            pid: launched.child.id(),
        });
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            spec,
            handshake,
            definitions,
            state,
            backends: Arc::new(Backends::default()),
            restarts: AtomicU64::new(0),
            stop,
            supervisor: Mutex::new(None),
        });
        let task = tokio::spawn(supervise(inner.clone(), launched));
        *inner
            .supervisor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(task);
        Ok(WorkerProvider { inner })
    }

    /// The worker's handshake.
    pub fn handshake(&self) -> &HandshakeParams {
        &self.inner.handshake
    }

    /// The process id of the running worker, if one is running.
    pub fn pid(&self) -> Option<u32> {
        match &*self.inner.state.borrow() {
            State::Running { pid, .. } => *pid,
            _ => None,
        }
    }

    /// Whether a worker process is connected and has handshaken.
    pub fn is_running(&self) -> bool {
        matches!(&*self.inner.state.borrow(), State::Running { .. })
    }

    /// How many times the worker was restarted after dying.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    /// Waits until a worker process is running (after a restart); false when it is not within
    /// `timeout` or the worker is shut down.
    pub async fn wait_running(&self, timeout: Duration) -> bool {
        self.peer(timeout).await.is_ok()
    }

    /// Sends `shutdown`, waits for the worker to exit (killing it after a grace period), and
    /// stops supervising it.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let task = self
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn peer(&self, timeout: Duration) -> Result<Arc<RpcPeer>, DispatchError> {
        let mut state = self.inner.state.subscribe();
        let wait = state.wait_for(|s| !matches!(s, State::Starting));
        let state = match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(state)) => state.clone(),
            Ok(Err(_)) => State::Stopped,
            Err(_) => {
                return Err(DispatchError::Unavailable(format!(
                    "worker {} is restarting",
                    self.inner.handshake.short_name
                )))
            }
        };
        match state {
            State::Running { peer, .. } => Ok(peer),
            _ => Err(DispatchError::Unavailable(format!(
                "worker {} is stopped",
                self.inner.handshake.short_name
            ))),
        }
    }

    async fn call(
        &self,
        method: &str,
        params: Value,
        backend: Arc<dyn RuntimeBackend>,
    ) -> Result<Value, DispatchError> {
        let peer = self.peer(self.inner.spec.handshake_timeout).await?;
        let id = peer.reserve_id();
        let _registration = self.inner.backends.register(id, backend);
        let answer = peer.request_with_id(id, method, params).await;
        answer.map_err(|err| call_error(&self.inner.handshake.short_name, err))
    }

    fn query_params(&self, target: Target, since: Option<Timestamp>, tail: u32) -> Value {
        let params = QueryParams {
            target: target_params(target),
            since,
            tail,
            provider: self.inner.handshake.short_name.clone(),
        };
        serde_json::to_value(params).unwrap_or_default()
    }
}

fn target_params(target: Target) -> TargetParams {
    TargetParams {
        project_id: String::new(),
        resource: target.resource,
        name: target.name,
        config: target.config,
        tags: target.tags,
        outputs: target.outputs,
    }
}

/// Maps a failed request to the worker to the engine's error.
fn call_error(provider: &str, err: CallError) -> DispatchError {
    match err {
        CallError::Closed(reason) => {
            DispatchError::Unavailable(format!("worker {provider} went away: {reason}"))
        }
        CallError::Rpc(err) if err.code == INVALID_PARAMS => invalid_params(err),
        CallError::Rpc(err) => {
            DispatchError::Lifecycle(LifecycleError::infrastructure(err.message))
        }
        other => DispatchError::Unavailable(other.to_string()),
    }
}

/// Reads a worker's -32602 answer back into the field it names.
fn invalid_params(err: RpcError) -> DispatchError {
    let field = err
        .data
        .as_ref()
        .and_then(|d| d.get("field"))
        .and_then(Value::as_str)
        .unwrap_or("config")
        .to_owned();
    let (what, path) = match field.split_once('.') {
        Some(("previous_config", rest)) => ("previous_config", rest.to_owned()),
        Some(("outputs", rest)) => ("outputs", rest.to_owned()),
        Some(("config", rest)) => ("config", rest.to_owned()),
        _ => (
            "config",
            field.strip_prefix("config").unwrap_or(&field).to_owned(),
        ),
    };
    let prefix = format!("invalid {what} at {path}: ");
    let message = err
        .message
        .strip_prefix(&prefix)
        .unwrap_or(&err.message)
        .to_owned();
    DispatchError::InvalidParams {
        what,
        path,
        message,
    }
}

impl HostedProvider for WorkerProvider {
    fn name(&self) -> &str {
        &self.inner.handshake.short_name
    }

    fn definitions(&self) -> Vec<ResourceDefinition> {
        self.inner.definitions.clone()
    }

    fn dispatch(
        &self,
        request: DispatchRequest,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<Value, DispatchError>> {
        Box::pin(async move {
            let provider = self.inner.handshake.short_name.clone();
            let owner = OwnerParams {
                project_id: String::new(),
                provider: provider.clone(),
                resource: request.target.resource.clone(),
                name: request.target.name.clone(),
            };
            let params = DispatchParams {
                event_type: request.event_type,
                target: target_params(request.target),
                previous_config: request.previous_config,
                resolved_files: Default::default(),
                owner_reference: Some(owner),
                provider,
            };
            let params = serde_json::to_value(params).unwrap_or_default();
            self.call("dispatch", params, backend).await
        })
    }

    fn health(
        &self,
        target: Target,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<ResourceHealth, DispatchError>> {
        Box::pin(async move {
            let params = self.query_params(target, None, 0);
            let result = self.call("resource_health", params, backend).await?;
            decode_params(result).map_err(|message| {
                DispatchError::Lifecycle(LifecycleError::infrastructure(format!(
                    "worker health answer: {message}"
                )))
            })
        })
    }

    fn logs(
        &self,
        target: Target,
        since: Option<Timestamp>,
        tail: u32,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<Vec<LogEntry>, DispatchError>> {
        Box::pin(async move {
            let params = self.query_params(target, since, tail);
            let result = self.call("resource_logs", params, backend).await?;
            decode_params(result).map_err(|message| {
                DispatchError::Lifecycle(LifecycleError::infrastructure(format!(
                    "worker logs answer: {message}"
                )))
            })
        })
    }
}

/// The definitions of the handshake's types: the schemas from `--schemas` where the worker
/// printed them, empty schemas otherwise.
fn definitions(
    handshake: &HandshakeParams,
    schemas: Option<Vec<ResourceDefinition>>,
) -> Vec<ResourceDefinition> {
    let schemas = schemas.unwrap_or_default();
    handshake
        .resource_types
        .iter()
        .map(|info| {
            schemas
                .iter()
                .find(|d| d.resource == info.resource && d.provider == handshake.short_name)
                .cloned()
                .unwrap_or_else(|| ResourceDefinition {
                    provider: handshake.short_name.clone(),
                    resource: info.resource.clone(),
                    schema: Default::default(),
                    outputs_schema: Default::default(),
                    description: None,
                    tags: None,
                    created_at: None,
                    updated_at: None,
                })
        })
        .collect()
}

/// Runs the program with `--schemas`; `None` (logged) when it does not print definitions.
async fn read_schemas(spec: &WorkerSpec) -> Option<Vec<ResourceDefinition>> {
    let output = Command::new(&spec.program)
        .args(&spec.args)
        .arg("--schemas")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(spec.handshake_timeout, output).await {
        Ok(Ok(output)) if output.status.success() => output,
        Ok(Ok(output)) => {
            tracing::info!(program = %spec.program.display(), status = %output.status, "worker offers no --schemas");
            return None;
        }
        Ok(Err(err)) => {
            tracing::info!(program = %spec.program.display(), error = %err, "worker --schemas failed");
            return None;
        }
        Err(_) => {
            tracing::info!(program = %spec.program.display(), "worker --schemas timed out");
            return None;
        }
    };
    match serde_json::from_slice(&output.stdout) {
        Ok(definitions) => Some(definitions),
        Err(err) => {
            tracing::info!(program = %spec.program.display(), error = %err, "worker --schemas printed no definitions");
            None
        }
    }
}

static SOCKET_COUNTER: AtomicU64 = AtomicU64::new(0);

fn socket_path(dir: &Path) -> Result<PathBuf, WorkerError> {
    let n = SOCKET_COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("worker-{}-{n}.sock", std::process::id()));
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(WorkerError::Socket {
            message: format!("the path is longer than {MAX_SOCKET_PATH} bytes"),
            path,
        });
    }
    Ok(path)
}

/// Starts the process and waits for its handshake; kills it when that fails.
async fn launch(spec: &WorkerSpec) -> Result<Launched, WorkerError> {
    let path = socket_path(&spec.socket_dir)?;
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|err| WorkerError::Socket {
        path: path.clone(),
        message: err.to_string(),
    })?;
    let child = Command::new(&spec.program)
        .args(&spec.args)
        .arg("--socket")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(source) => {
            let _ = std::fs::remove_file(&path);
            return Err(WorkerError::Spawn {
                program: spec.program.clone(),
                source,
            });
        }
    };
    let pid = child.id();
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward_stderr(stderr, pid));
    }

    // A worker that exits at once is reported as soon as it does, not after the timeout.
    let accepted = tokio::time::timeout(spec.handshake_timeout, async {
        tokio::select! {
            accepted = accept(listener, &spec.program) => accepted,
            status = child.wait() => Err(WorkerError::Exited {
                program: spec.program.clone(),
                status: match status {
                    Ok(status) => status.to_string(),
                    Err(err) => format!("its status is unknown: {err}"),
                },
            }),
        }
    })
    .await;
    let _ = std::fs::remove_file(&path);
    match accepted {
        Ok(Ok((connection, handshake))) => {
            tracing::info!(pid, provider = %handshake.short_name, "worker handshaken");
            Ok(Launched {
                child,
                connection,
                handshake,
            })
        }
        Ok(Err(err)) => {
            let _ = child.kill().await;
            Err(err)
        }
        Err(_) => {
            let _ = child.kill().await;
            tracing::warn!(pid, program = %spec.program.display(), "worker did not handshake in time; killed");
            Err(WorkerError::HandshakeTimeout {
                program: spec.program.clone(),
                pid,
                timeout: spec.handshake_timeout,
            })
        }
    }
}

async fn accept(
    listener: UnixListener,
    program: &Path,
) -> Result<(Connection, HandshakeParams), WorkerError> {
    let (stream, _) = listener
        .accept()
        .await
        .map_err(|err| WorkerError::Handshake {
            program: program.to_owned(),
            message: format!("accepting the connection failed: {err}"),
        })?;
    accept_handshake(stream, program).await
}

/// Reads a worker's `handshake` from an established stream and answers it: accepted when the
/// worker speaks protocol version 1, refused with -32001 and `data: {"protocol_version": 1}`
/// otherwise. `program` names the worker in errors.
///
/// # Errors
///
/// [`WorkerError::Handshake`] when the first message is not a decodable handshake or offers no
/// version this host speaks.
pub async fn accept_handshake<S>(
    stream: S,
    program: &Path,
) -> Result<(Connection, HandshakeParams), WorkerError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let refused = |message: String| WorkerError::Handshake {
        program: program.to_owned(),
        message,
    };
    let mut connection = Connection::start(stream);
    let first = connection.incoming.recv().await;
    let Some(Incoming::Request { id, method, params }) = first else {
        let reason = connection.closed().await;
        return Err(refused(format!("no handshake request: {reason}")));
    };
    if method != "handshake" {
        let message = format!("the first request is {method:?}, not \"handshake\"");
        let _ = connection
            .peer
            .respond(id, Err(RpcError::new(INVALID_PARAMS, message.clone())));
        return Err(refused(message));
    }
    let handshake: HandshakeParams = match decode_params(params) {
        Ok(handshake) => handshake,
        Err(message) => {
            let _ = connection
                .peer
                .respond(id, Err(RpcError::new(INVALID_PARAMS, message.clone())));
            return Err(refused(message));
        }
    };
    if !handshake.protocol_versions.contains(&PROTOCOL_VERSION) {
        let message = format!(
            "the worker speaks protocol versions {:?}; this host speaks {PROTOCOL_VERSION}",
            handshake.protocol_versions
        );
        let error = RpcError::new(UNSUPPORTED_VERSION, message.clone())
            .with_data(json!({"protocol_version": PROTOCOL_VERSION}));
        let _ = connection.peer.respond(id, Err(error));
        // Let the answer reach the worker before the connection is dropped.
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Err(refused(message));
    }
    connection
        .peer
        .respond(id, Ok(json!({"protocol_version": PROTOCOL_VERSION})))
        .map_err(refused)?;
    Ok((connection, handshake))
}

async fn forward_stderr(stderr: tokio::process::ChildStderr, pid: Option<u32>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "pragma_local::worker", pid, "{line}");
    }
}

/// The waits before restarting a worker that keeps failing: doubling from the first up to the
/// longest with every failed start and every short-lived run, and back to the first once a
/// worker has stayed up long enough to count as healthy.
#[derive(Debug)]
struct Backoff {
    initial: Duration,
    max: Duration,
    healthy_after: Duration,
    next: Duration,
}

impl Backoff {
    fn new(spec: &WorkerSpec) -> Self {
        Backoff {
            initial: spec.initial_backoff,
            max: spec.max_backoff,
            healthy_after: spec
                .initial_backoff
                .saturating_mul(10)
                .max(spec.max_backoff),
            next: spec.initial_backoff,
        }
    }

    /// Notes that a worker died after running for `ran`: a worker that stayed up long enough
    /// starts the waits over.
    fn died_after(&mut self, ran: Duration) {
        if ran >= self.healthy_after {
            self.next = self.initial;
        }
    }

    /// The wait before the next start; the one after it is twice as long, up to the longest.
    fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }
}

/// Keeps the worker running: restarts it with backoff when it dies, until shut down.
async fn supervise(inner: Arc<Inner>, first: Launched) {
    let mut stop = inner.stop.subscribe();
    let mut launched = first;
    let mut backoff = Backoff::new(&inner.spec);
    loop {
        let running_since = tokio::time::Instant::now();
        let Launched {
            mut child,
            connection,
            ..
        } = launched;
        let pid = child.id();
        let peer = connection.peer.clone();
        let closed = connection.closed();
        inner.state.send_replace(State::Running {
            peer: peer.clone(),
            pid,
        });
        tokio::spawn(callbacks::serve(connection, inner.backends.clone()));

        let reason = tokio::select! {
            status = child.wait() => match status {
                Ok(status) => format!("exited with {status}"),
                Err(err) => format!("cannot be waited for: {err}"),
            },
            reason = closed => format!("closed its connection: {reason}"),
            _ = stopped(&mut stop) => {
                stop_worker(&inner, &peer, &mut child).await;
                return;
            }
        };
        inner.state.send_replace(State::Starting);
        let _ = child.kill().await;
        backoff.died_after(running_since.elapsed());

        let mut wait = backoff.next_wait();
        tracing::warn!(
            pid,
            provider = %inner.handshake.short_name,
            %reason,
            wait_ms = wait.as_millis() as u64,
            "worker died; restarting"
        );
        launched = loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped(&mut stop) => {
                    inner.state.send_replace(State::Stopped);
                    return;
                }
            }
            let attempt = tokio::select! {
                attempt = launch(&inner.spec) => attempt,
                _ = stopped(&mut stop) => {
                    inner.state.send_replace(State::Stopped);
                    return;
                }
            };
            match attempt {
                Ok(next) if next.handshake.short_name == inner.handshake.short_name => break next,
                Ok(mut next) => {
                    tracing::error!(
                        expected = %inner.handshake.short_name,
                        got = %next.handshake.short_name,
                        "restarted worker announces another provider; killed"
                    );
                    let _ = next.child.kill().await;
                }
                Err(err) => tracing::warn!(error = %err, "worker restart failed"),
            }
            wait = backoff.next_wait();
        };
        inner.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn stop_worker(inner: &Inner, peer: &RpcPeer, child: &mut Child) {
    inner.state.send_replace(State::Stopped);
    let _ = peer.notify("shutdown", Value::Null);
    match tokio::time::timeout(inner.spec.shutdown_grace, child.wait()).await {
        Ok(_) => tracing::info!(provider = %inner.handshake.short_name, "worker shut down"),
        Err(_) => {
            tracing::warn!(provider = %inner.handshake.short_name, "worker ignored shutdown; killed");
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn restart_waits_grow_while_a_worker_keeps_failing_and_start_over_once_it_stays_up() {
        let spec = WorkerSpec::new("worker").restart_backoff(millis(100), millis(500));
        let mut backoff = Backoff::new(&spec);

        // Dying right after each start, or failing to start, doubles the wait up to the longest.
        let mut waits = Vec::new();
        for _ in 0..5 {
            backoff.died_after(millis(10));
            waits.push(backoff.next_wait());
        }
        waits.push(backoff.next_wait());
        assert_eq!(waits, [100, 200, 400, 500, 500, 500].map(millis));

        // Up for less than ten first waits is not healthy yet.
        backoff.died_after(millis(999));
        assert_eq!(backoff.next_wait(), millis(500));

        backoff.died_after(millis(1000));
        assert_eq!(backoff.next_wait(), millis(100));
        assert_eq!(backoff.next_wait(), millis(200));
    }

    #[test]
    fn a_worker_counts_as_healthy_no_sooner_than_the_longest_wait() {
        let spec = WorkerSpec::new("worker").restart_backoff(millis(10), millis(2000));
        let mut backoff = Backoff::new(&spec);
        for _ in 0..3 {
            backoff.next_wait();
        }
        backoff.died_after(millis(1999));
        assert_eq!(backoff.next_wait(), millis(80));
        backoff.died_after(millis(2000));
        assert_eq!(backoff.next_wait(), millis(10));
    }
}
