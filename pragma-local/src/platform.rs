//! The platform as a library: build it with its providers, then serve it on an address or on
//! an ephemeral loopback port for tests.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use pragma_sdk::authoring::ProviderError;
use pragma_sdk::models::UserInfo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::deploy::{DeployError, DeployOptions, Deployments};
use crate::engine::{Engine, RetryPolicy};
use crate::hosted::{HostedProvider, ProviderRegistry};
use crate::server::{self, AppState};
use crate::store::{Store, StoreError};

/// Why the platform could not be built or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A built-in provider could not be assembled.
    #[error("built-in provider: {0}")]
    Provider(#[from] ProviderError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        message: String,
    },
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(String),
    /// The provider deployment side (builds, deployments) could not be set up.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The data directory could not be created or resolved to an absolute path.
    #[error("data dir {path}: {message}")]
    DataDir {
        /// The directory as given.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// The local user `/auth/me` reports unless another is configured.
pub fn default_user() -> UserInfo {
    UserInfo {
        user_id: "local".to_owned(),
        email: None,
        organization_id: "local".to_owned(),
        organization_name: Some("Local".to_owned()),
    }
}

/// Builds a [`Platform`].
///
/// ```no_run
/// # async fn run() -> Result<(), pragma_local::PlatformError> {
/// let platform = pragma_local::Platform::builder()
///     .in_memory()
///     .token("s3cret")
///     .build()?;
/// let server = platform.spawn_ephemeral().await?;
/// println!("listening on {}", server.base_url());
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct PlatformBuilder {
    providers: Vec<Arc<dyn HostedProvider>>,
    data_dir: Option<PathBuf>,
    in_memory: bool,
    token: Option<String>,
    user: UserInfo,
    retry: RetryPolicy,
    deploy: DeployOptions,
}

impl fmt::Debug for PlatformBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.providers.iter().map(|p| p.name()).collect();
        f.debug_struct("PlatformBuilder")
            .field("providers", &names)
            .field("data_dir", &self.data_dir)
            .field("in_memory", &self.in_memory)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("user", &self.user)
            .field("retry", &self.retry)
            .field("deploy", &self.deploy)
            .finish()
    }
}

impl PlatformBuilder {
    /// Hosts `provider` (a [`pragma_sdk::Provider`] or any other [`HostedProvider`]).
    pub fn provider<P: HostedProvider + 'static>(mut self, provider: P) -> Self {
        self.providers.push(Arc::new(provider));
        self
    }

    /// Hosts an already shared provider.
    pub fn hosted(mut self, provider: Arc<dyn HostedProvider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Keeps the store (`pragma.db`), pushed providers and their builds in `dir`, created if
    /// needed. A relative `dir` is resolved against the working directory once, when the
    /// platform is built.
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.data_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Keeps the store in memory only: nothing survives the process. This is the default when
    /// no data directory is given, and wins over one.
    pub fn in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }

    /// Requires `Authorization: Bearer <token>` on every endpoint but `/health`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The user `/auth/me` reports.
    pub fn user(mut self, user: UserInfo) -> Self {
        self.user = user;
        self
    }

    /// Gives each event `attempts` attempts in all, waiting `base_delay` before the second and
    /// twice as long before each further one.
    pub fn retry(mut self, attempts: u32, base_delay: Duration) -> Self {
        self.retry = RetryPolicy {
            attempts: attempts.max(1),
            base_delay,
            ..self.retry
        };
        self
    }

    /// How long one attempt's handler may run before it is abandoned and counts as a failed
    /// attempt (default ten minutes), so that a handler that never returns cannot keep its
    /// resource processing, and its dispatch slot taken, for ever.
    ///
    /// A zero timeout is taken as one millisecond. When a worker-hosted handler times out,
    /// the worker is not told and may still be running it (see [`Engine`]).
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.retry.handler_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How pushed providers are built and deployed (cargo, target dir, limits).
    pub fn deploy_options(mut self, options: DeployOptions) -> Self {
        self.deploy = options;
        self
    }

    /// Opens the store and builds the platform; the built-in provider `pragma` is hosted
    /// unless a provider of that name was given.
    ///
    /// # Errors
    ///
    /// [`PlatformError::DataDir`] when the data dir cannot be created or resolved,
    /// [`PlatformError::Store`] when the store cannot be opened or holds corrupt rows.
    pub fn build(self) -> Result<Platform, PlatformError> {
        let data_dir = match &self.data_dir {
            Some(dir) if !self.in_memory => {
                let absolute =
                    crate::dirs::absolute_dir(dir).map_err(|message| PlatformError::DataDir {
                        path: dir.clone(),
                        message,
                    })?;
                crate::dirs::restrict_to_owner(&absolute).map_err(|message| {
                    PlatformError::DataDir {
                        path: dir.clone(),
                        message,
                    }
                })?;
                Some(absolute)
            }
            _ => None,
        };
        let dir = data_dir.as_deref();
        let (store, loaded) = Store::open(dir)?;
        let mut providers: Vec<Arc<dyn HostedProvider>> = Vec::new();
        if !self
            .providers
            .iter()
            .any(|p| p.name() == crate::builtin::PROVIDER)
        {
            providers.push(Arc::new(crate::builtin::provider()?));
        }
        providers.extend(self.providers);
        let engine = Engine::new(store, loaded, self.retry, providers)?;
        let deployments =
            Deployments::open(Arc::new(engine.clone()), data_dir.clone(), self.deploy)?;
        Ok(Platform {
            engine,
            deployments,
            data_dir,
            token: self.token.map(Arc::from),
            user: Arc::new(self.user),
        })
    }
}

/// The platform: the lifecycle engine over its store, and the HTTP API over the engine.
#[derive(Clone)]
pub struct Platform {
    engine: Engine,
    deployments: Deployments,
    data_dir: Option<PathBuf>,
    token: Option<Arc<str>>,
    user: Arc<UserInfo>,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("engine", &self.engine)
            .field("data_dir", &self.data_dir)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("user", &self.user)
            .finish()
    }
}

impl Platform {
    /// A builder with no providers but the built-in one, an in-memory store, no token, the
    /// [`default_user`], and 3 attempts per event starting 200 ms apart.
    pub fn builder() -> PlatformBuilder {
        PlatformBuilder {
            providers: Vec::new(),
            data_dir: None,
            in_memory: false,
            token: None,
            user: default_user(),
            retry: RetryPolicy::default(),
            deploy: DeployOptions::default(),
        }
    }

    /// The data dir, absolute, or `None` when everything is kept in memory.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// The engine as the provider deployment side sees it: register and unregister hosted
    /// providers, count and delete their resources.
    pub fn registry(&self) -> Arc<dyn ProviderRegistry> {
        Arc::new(self.engine.clone())
    }

    /// The provider deployment side: pushed builds and the worker processes of deployed
    /// providers.
    pub fn deployments(&self) -> &Deployments {
        &self.deployments
    }

    /// Starts the lifecycle engine and the deployments kept from an earlier run; serving does
    /// this itself. Must be called inside a tokio runtime.
    pub fn start(&self) {
        self.engine.start();
        self.deployments.start();
    }

    /// Stops the worker processes of deployed providers, sending each `shutdown`.
    pub async fn stop_workers(&self) {
        self.deployments.shutdown().await;
    }

    /// The whole HTTP API as a router, with authentication applied.
    ///
    /// Queued events are dispatched as soon as there is a runtime (the router is built inside
    /// one when served).
    pub fn router(&self) -> Router {
        let state = AppState {
            engine: self.engine.clone(),
            user: self.user.clone(),
        };
        let app = server::routes(state).merge(self.deployments.router());
        server::finish(app, self.token.clone())
    }

    /// Serves the API on `addr` until the process receives Ctrl-C.
    ///
    /// # Errors
    ///
    /// [`PlatformError::Bind`] when `addr` cannot be bound, [`PlatformError::Serve`] when
    /// serving fails.
    pub async fn serve(self, addr: SocketAddr) -> Result<(), PlatformError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|err| PlatformError::Bind {
                addr,
                message: err.to_string(),
            })?;
        let local = listener.local_addr().unwrap_or(addr);
        tracing::info!(addr = %local, "serving the Pragmatiks API");
        self.start();
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|err| PlatformError::Serve(err.to_string()));
        self.stop_workers().await;
        served
    }

    /// Serves the API on an ephemeral port of 127.0.0.1, in the background, for tests.
    ///
    /// # Errors
    ///
    /// [`PlatformError::Bind`] when no port can be bound.
    pub async fn spawn_ephemeral(self) -> Result<EphemeralServer, PlatformError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|err| PlatformError::Bind {
                addr,
                message: err.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|err| PlatformError::Bind {
            addr,
            message: err.to_string(),
        })?;
        self.start();
        let router = self.router();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(err) = result {
                tracing::error!(error = %err, "ephemeral server failed");
            }
        });
        Ok(EphemeralServer {
            addr,
            stop: Some(stop),
            task: Some(task),
            platform: self,
        })
    }
}

/// A platform served in the background on a loopback port; see
/// [`Platform::spawn_ephemeral`].
#[derive(Debug)]
pub struct EphemeralServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    platform: Platform,
}

impl EphemeralServer {
    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the API (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The platform being served.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Stops serving, waiting (at most five seconds) for open requests to finish, and stops
    /// the worker processes of deployed providers.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.platform.stop_workers().await;
    }
}

impl Drop for EphemeralServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM (what service managers and `kill` send), so that
/// either stops the server cleanly: workers are shut down and running builds killed.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
