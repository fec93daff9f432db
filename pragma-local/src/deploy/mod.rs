//! Deploying providers: `/providers/...` endpoints that push code, build it with cargo, and
//! run the built binaries as worker processes.
//!
//! A push unpacks the tarball into its own build directory and queues a build, versioned
//! with CalVer (`YYYYMMDD.HHMMSS`); builds run one at a time with `cargo build --release`
//! against the SDK this platform was built from, and their output can be followed while they
//! run. A build that outlives [`DeployOptions::build_timeout`] is killed and fails, and
//! deleting a provider cancels its pending and running builds. A deploy starts the built
//! binary as a worker ([`WorkerProvider`]) and registers it with the engine once it has
//! handshaken, replacing the previous worker only then. Builds and deployments are kept in
//! `deploy.db` (in memory without a data dir); after a restart, the deployments that were
//! available are started again. The names of built-in providers are reserved: they cannot be
//! pushed, deployed or deleted (422).

mod build;
mod store;
mod tarball;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use chrono::Utc;
use pragma_sdk::models::{
    BuildInfo, BuildStatus, DeployRequest, DeploymentStatus, LocationItem, ProviderDeleteResult,
    ProviderInfo, ProviderStatus, PushResponse, Timestamp,
};
use tokio::sync::{watch, Semaphore};

pub use store::DeployStoreError;
pub use tarball::TarballError;

use crate::error::ApiError;
use crate::hosted::{ProviderRegistry, RegistryError};
use crate::server::{boolean, path_param, query_pairs};
use crate::workers::{WorkerProvider, WorkerSpec};
use build::{BuildLog, Builder};
use store::{BuildRow, DeployStore, DeploymentRow};

/// How many builds `GET /providers/{id}/builds` lists.
const LISTED_BUILDS: u32 = 10;

/// Settings of the deployment side.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The cargo target dir shared by all builds (default: `target` in the data dir, or in the
    /// temp dir without one).
    pub target_dir: Option<PathBuf>,
    /// The cargo program (default: `$CARGO` or `cargo`).
    pub cargo: PathBuf,
    /// The largest upload accepted (default 64 MiB).
    pub max_upload: usize,
    /// The most bytes a tarball may unpack to (default 512 MiB).
    pub max_unpacked: u64,
    /// How long a deployed worker may take to handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// How long one build may run (default 15 minutes); a build still running then is killed,
    /// with every process cargo started, and fails.
    pub build_timeout: Duration,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            target_dir: None,
            cargo: std::env::var_os("CARGO")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("cargo")),
            max_upload: 64 * 1024 * 1024,
            max_unpacked: 512 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            build_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// Why the deployment side could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The store failed to open.
    #[error(transparent)]
    Store(#[from] DeployStoreError),
    /// A working directory could not be created or resolved to an absolute path.
    #[error("directory {path}: {message}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// A directory removed when the last handle goes (for runs without a data dir).
#[derive(Debug)]
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A build that is pending or running: its growing log, and the switch that cancels it.
#[derive(Clone)]
struct QueuedBuild {
    log: Arc<BuildLog>,
    cancel: Arc<watch::Sender<bool>>,
}

struct Inner {
    registry: Arc<dyn ProviderRegistry>,
    store: Mutex<DeployStore>,
    root: PathBuf,
    _scratch: Option<ScratchDir>,
    options: DeployOptions,
    builder: Builder,
    builds: Mutex<HashMap<(String, String), QueuedBuild>>,
    build_slot: Semaphore,
    workers: Mutex<HashMap<String, WorkerProvider>>,
    deploy_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    versions: Mutex<HashMap<String, String>>,
    started: std::sync::atomic::AtomicBool,
}

/// The deployment side: builds, deployments and their worker processes.
///
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Deployments {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Deployments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployments")
            .field("root", &self.inner.root)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn store_error(err: DeployStoreError) -> ApiError {
    ApiError::Internal(err.to_string())
}

/// Checks a provider id used in paths and file names.
fn check_provider_id(id: &str) -> Result<(), ApiError> {
    let valid = !id.is_empty()
        && id.len() <= 63
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && id.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            vec![
                LocationItem::Key("path".into()),
                LocationItem::Key("provider_id".into()),
            ],
            format!(
                "provider id {id:?} must be 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
            ),
            "value_error",
        ))
    }
}

/// Checks a provider id that is to be pushed, deployed or deleted: a valid id that is not a
/// built-in provider's.
fn check_deployable_id(id: &str) -> Result<(), ApiError> {
    check_provider_id(id)?;
    if crate::builtin::is_reserved(id) {
        return Err(ApiError::invalid(
            vec![
                LocationItem::Key("path".into()),
                LocationItem::Key("provider_id".into()),
            ],
            format!("provider {id:?} is built into the platform and cannot be pushed, deployed or deleted"),
            "value_error",
        ));
    }
    Ok(())
}

impl Deployments {
    /// Opens the store (`deploy.db` in `data_dir`, in memory without one) and, inside a tokio
    /// runtime, starts again the deployments that were available (see [`Deployments::start`]).
    /// The data dir and the target dir are created and made absolute first, so that builds
    /// and workers find them whatever their working directory.
    ///
    /// # Errors
    ///
    /// [`DeployError`] when the store or the working directory cannot be set up.
    pub fn open(
        registry: Arc<dyn ProviderRegistry>,
        data_dir: Option<PathBuf>,
        options: DeployOptions,
    ) -> Result<Self, DeployError> {
        // Cargo and the workers run in other directories: every path handed to them must be
        // absolute.
        let absolute = |path: PathBuf| {
            crate::dirs::absolute_dir(&path).map_err(|message| DeployError::Dir { path, message })
        };
        let data_dir = data_dir.map(absolute).transpose()?;
        let store = DeployStore::open(data_dir.as_deref())?;
        let (root, scratch) = match &data_dir {
            Some(dir) => (absolute(dir.join("providers"))?, None),
            None => {
                let dir = absolute(std::env::temp_dir().join(format!(
                    "pragma-deploy-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                )))?;
                (dir.clone(), Some(ScratchDir(dir)))
            }
        };
        let target_dir = absolute(
            options
                .target_dir
                .clone()
                .unwrap_or_else(|| match &data_dir {
                    Some(dir) => dir.join("target"),
                    None => std::env::temp_dir().join("pragma-deploy-target"),
                }),
        )?;
        let builder = Builder {
            cargo: options.cargo.clone(),
            target_dir,
            data_root: data_dir.clone().unwrap_or_else(|| root.clone()),
            timeout: options.build_timeout,
        };
        let deployments = Deployments {
            inner: Arc::new(Inner {
                registry,
                store: Mutex::new(store),
                root,
                _scratch: scratch,
                options,
                builder,
                builds: Mutex::new(HashMap::new()),
                build_slot: Semaphore::new(1),
                workers: Mutex::new(HashMap::new()),
                deploy_locks: Mutex::new(HashMap::new()),
                versions: Mutex::new(HashMap::new()),
                started: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            deployments.start();
        }
        Ok(deployments)
    }

    /// The `/providers/...` endpoints over these deployments.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/providers/", get(list_providers))
            .route(
                "/providers/{provider_id}/push",
                post(push).layer(DefaultBodyLimit::max(self.inner.options.max_upload)),
            )
            .route("/providers/{provider_id}/builds", get(list_builds))
            .route("/providers/{provider_id}/builds/{version}", get(get_build))
            .route(
                "/providers/{provider_id}/builds/{version}/logs",
                get(build_logs),
            )
            .route(
                "/providers/{provider_id}/versions/{version}",
                get(get_build),
            )
            .route("/providers/{provider_id}/deploy", post(deploy))
            .route("/providers/{provider_id}/deployment", get(deployment))
            .route("/providers/{provider_id}", delete(delete_provider))
            .with_state(self.clone())
    }

    /// Stops every worker process these deployments started.
    pub async fn shutdown(&self) {
        let workers: Vec<WorkerProvider> =
            lock(&self.inner.workers).drain().map(|(_, w)| w).collect();
        for worker in workers {
            worker.shutdown().await;
        }
    }

    /// The worker running the provider `id`, if it is deployed.
    pub fn worker(&self, id: &str) -> Option<WorkerProvider> {
        lock(&self.inner.workers).get(id).cloned()
    }

    /// Starts again, once, the deployments that were available when the store was last
    /// used; later calls do nothing. Must be called inside a tokio runtime.
    pub fn start(&self) {
        if !self
            .inner
            .started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            self.resume();
        }
    }

    fn resume(&self) {
        let rows = match lock(&self.inner.store).deployments() {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(error = %err, "cannot read deployments to resume");
                return;
            }
        };
        for row in rows {
            if !matches!(
                row.status,
                DeploymentStatus::Available | DeploymentStatus::Progressing
            ) {
                continue;
            }
            let Some(version) = row.version else { continue };
            let build = match lock(&self.inner.store).build(&row.provider_id, &version) {
                Ok(Some(build)) => build,
                _ => continue,
            };
            tracing::info!(provider = %row.provider_id, %version, "starting deployed provider again");
            let this = self.clone();
            tokio::spawn(async move { this.run_deploy(build).await });
        }
    }

    /// A CalVer version for a new build of `id`, later than every earlier one.
    fn next_version(&self, id: &str) -> Result<String, ApiError> {
        let mut versions = lock(&self.inner.versions);
        let last = match versions.get(id) {
            Some(last) => Some(last.clone()),
            None => lock(&self.inner.store)
                .latest_version(id)
                .map_err(store_error)?,
        };
        let mut candidate = Utc::now();
        if let Some(last) = last.as_deref().and_then(store::parse_calver) {
            if store::calver(candidate) <= store::calver(last) {
                candidate = last + chrono::Duration::seconds(1);
            }
        }
        let version = store::calver(candidate);
        versions.insert(id.to_owned(), version.clone());
        Ok(version)
    }

    fn build_row(&self, id: &str, version: &str) -> Result<BuildRow, ApiError> {
        lock(&self.inner.store)
            .build(id, version)
            .map_err(store_error)?
            .ok_or_else(|| {
                ApiError::NotFound(format!("build {version} of provider {id} not found"))
            })
    }

    /// Runs one queued build once the build slot is free, unless it is cancelled first, and
    /// records its outcome and log.
    async fn run_build(self, id: String, version: String, source: PathBuf, queued: QueuedBuild) {
        let log = queued.log;
        let mut cancel = queued.cancel.subscribe();
        let set = |status: BuildStatus, error: Option<&str>| {
            if let Err(err) = lock(&self.inner.store).set_build_status(&id, &version, status, error)
            {
                tracing::error!(error = %err, "cannot record build status");
            }
        };
        let permit = tokio::select! {
            permit = self.inner.build_slot.acquire() => permit.ok(),
            _ = cancel.wait_for(|cancel| *cancel) => None,
        };
        let outcome = match permit {
            Some(permit) => {
                set(BuildStatus::Building, None);
                let outcome = self.inner.builder.build(&source, &log, cancel).await;
                drop(permit);
                outcome
            }
            None => {
                Err("the build was cancelled before it started: its provider was deleted".into())
            }
        };
        let outcome = outcome.and_then(|binary| {
            // Copied out of the shared target dir, so later builds do not replace it.
            let dest = source.with_file_name("bin").join(
                binary
                    .file_name()
                    .map(|n| n.to_owned())
                    .unwrap_or_else(|| "worker".into()),
            );
            std::fs::create_dir_all(dest.parent().unwrap_or(Path::new(".")))
                .and_then(|_| std::fs::copy(&binary, &dest))
                .map_err(|e| format!("cannot keep the built binary: {e}"))?;
            Ok((binary, dest))
        });
        let binary = match outcome {
            Ok((built, kept)) => {
                let shown = built
                    .strip_prefix(&self.inner.builder.target_dir)
                    .map(|relative| Path::new("<target>").join(relative))
                    .unwrap_or_else(|_| {
                        Path::new("<target>").join(built.file_name().unwrap_or_default())
                    });
                log.push(format!("built {}", shown.display()));
                set(BuildStatus::Success, None);
                Some(kept)
            }
            Err(message) => {
                log.push(format!("build failed: {message}"));
                set(BuildStatus::Failed, Some(&message));
                None
            }
        };
        if let Err(err) =
            lock(&self.inner.store).finish_build(&id, &version, &log.text(), binary.as_deref())
        {
            tracing::error!(error = %err, "cannot record build log");
        }
        lock(&self.inner.builds).remove(&(id, version));
        // Last: whoever waits for the log to close finds the build recorded and forgotten.
        log.close();
    }

    /// Cancels the pending and running builds of `id` and waits until they have stopped.
    ///
    /// Limitation: a push of `id` accepted while this runs is not cancelled; its build goes on
    /// after the provider is deleted, and writes its files under the provider's directory.
    async fn cancel_builds(&self, id: &str) {
        let queued: Vec<QueuedBuild> = lock(&self.inner.builds)
            .iter()
            .filter(|((provider, _), _)| provider == id)
            .map(|(_, queued)| queued.clone())
            .collect();
        for build in &queued {
            build.cancel.send_replace(true);
        }
        for build in queued {
            // Killing a build takes moments; the bound only guards against a build task lost
            // to a panic.
            if tokio::time::timeout(Duration::from_secs(30), build.log.closed())
                .await
                .is_err()
            {
                tracing::warn!(provider = %id, "a cancelled build did not stop within 30 s");
            }
        }
    }

    fn set_deployment(
        &self,
        id: &str,
        version: Option<String>,
        status: DeploymentStatus,
    ) -> DeploymentRow {
        let row = DeploymentRow {
            provider_id: id.to_owned(),
            version,
            status,
            updated_at: Timestamp::now(),
        };
        if let Err(err) = lock(&self.inner.store).set_deployment(&row) {
            tracing::error!(error = %err, "cannot record deployment");
        }
        row
    }

    fn deploy_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.deploy_locks)
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    async fn run_deploy(self, build: BuildRow) {
        let id = build.info.provider_id.clone();
        let version = build.info.version.clone();
        let guard = self.deploy_lock(&id);
        let _guard = guard.lock().await;
        let Some(binary) = build.binary else {
            self.set_deployment(&id, Some(version), DeploymentStatus::Failed);
            return;
        };
        let spec = WorkerSpec::new(binary)
            .socket_dir(self.inner.root.clone())
            .handshake_timeout(self.inner.options.handshake_timeout);
        let worker = match WorkerProvider::start(spec).await {
            Ok(worker) => worker,
            Err(err) => {
                tracing::error!(provider = %id, %version, error = %err, "deployment failed");
                self.set_deployment(&id, Some(version), DeploymentStatus::Failed);
                return;
            }
        };
        if worker.handshake().short_name != id {
            tracing::error!(
                provider = %id,
                announced = %worker.handshake().short_name,
                "the deployed worker announces another provider"
            );
            worker.shutdown().await;
            self.set_deployment(&id, Some(version), DeploymentStatus::Failed);
            return;
        }
        if let Err(err) = self.inner.registry.register(Arc::new(worker.clone())) {
            tracing::error!(provider = %id, %version, error = %err, "the deployed worker was refused");
            worker.shutdown().await;
            self.set_deployment(&id, Some(version), DeploymentStatus::Failed);
            return;
        }
        let old = lock(&self.inner.workers).insert(id.clone(), worker);
        self.set_deployment(&id, Some(version.clone()), DeploymentStatus::Available);
        tracing::info!(provider = %id, %version, "deployed");
        if let Some(old) = old {
            old.shutdown().await;
        }
    }

    fn status(&self, id: &str) -> Result<Option<ProviderStatus>, ApiError> {
        let row = lock(&self.inner.store)
            .deployment(id)
            .map_err(store_error)?;
        Ok(row.map(|row| {
            let healthy = row.status == DeploymentStatus::Available
                && self.worker(id).is_some_and(|w| w.is_running());
            ProviderStatus {
                status: row.status,
                version: row.version,
                updated_at: Some(row.updated_at),
                healthy,
            }
        }))
    }
}

/// The `/providers/...` endpoints over `registry`, keeping builds and deployments in
/// `deploy.db` in `data_dir` (in memory when `None`).
///
/// Limitation: when `deploy.db` cannot be opened, the error is logged and an in-memory store
/// is used, so nothing pushed survives a restart; use [`Deployments::open`] to handle the
/// error instead.
pub fn router(registry: Arc<dyn ProviderRegistry>, data_dir: Option<PathBuf>) -> Router {
    match Deployments::open(registry.clone(), data_dir, DeployOptions::default()) {
        Ok(deployments) => deployments.router(),
        Err(err) => {
            tracing::error!(error = %err, "deploy store unavailable; keeping builds in memory");
            match Deployments::open(registry, None, DeployOptions::default()) {
                Ok(deployments) => deployments.router(),
                Err(err) => {
                    tracing::error!(error = %err, "deployments unavailable");
                    Router::new()
                }
            }
        }
    }
}

async fn list_providers(
    State(this): State<Deployments>,
) -> Result<Json<Vec<ProviderInfo>>, ApiError> {
    let mut ids = lock(&this.inner.store)
        .provider_ids()
        .map_err(store_error)?;
    let hosted = this.inner.registry.provider_names();
    ids.extend(hosted.iter().cloned());
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let row = lock(&this.inner.store)
            .deployment(&id)
            .map_err(store_error)?;
        let info = match row {
            Some(row) => ProviderInfo {
                provider_id: id,
                current_version: row.version,
                deployment_status: Some(row.status),
                updated_at: Some(row.updated_at),
            },
            None => ProviderInfo {
                deployment_status: hosted.contains(&id).then_some(DeploymentStatus::Available),
                provider_id: id,
                current_version: None,
                updated_at: None,
            },
        };
        out.push(info);
    }
    Ok(Json(out))
}

async fn push(
    State(this): State<Deployments>,
    path: Result<UrlPath<String>, PathRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let id = path_param(path, "provider_id")?;
    check_deployable_id(&id)?;
    let mut multipart = multipart.map_err(|rejection| {
        ApiError::invalid_body(
            &[],
            format!(
                "the body must be multipart/form-data with a boundary: {}",
                rejection.body_text()
            ),
            "value_error",
        )
    })?;
    let upload_error = |err: MultipartError, at: &[&str]| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the upload exceeds {} bytes",
                this.inner.options.max_upload
            ))
        } else {
            ApiError::invalid_body(
                at,
                format!("malformed multipart body: {}", err.body_text()),
                "value_error",
            )
        }
    };
    let mut code: Option<Bytes> = None;
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|err| upload_error(err, &[]))?;
        let Some(field) = field else { break };
        if field.name() == Some("code") {
            let bytes = field
                .bytes()
                .await
                .map_err(|err| upload_error(err, &["code"]))?;
            code = Some(bytes);
        }
    }
    let code =
        code.ok_or_else(|| ApiError::invalid_body(&["code"], "Field required", "missing"))?;

    let version = this.next_version(&id)?;
    let source = this.inner.root.join(&id).join(&version).join("src");
    let limit = this.inner.options.max_unpacked;
    let unpack_to = source.clone();
    let unpacked = tokio::task::spawn_blocking(move || tarball::unpack(&code, &unpack_to, limit))
        .await
        .map_err(|err| ApiError::Internal(format!("unpacking failed: {err}")))?;
    if let Err(err) = unpacked {
        let provider_dir = this.inner.root.join(&id);
        let _ = std::fs::remove_dir_all(provider_dir.join(&version));
        // Only removed when empty: the provider's other builds stay.
        let _ = std::fs::remove_dir(&provider_dir);
        return Err(match err {
            TarballError::Unreadable(_) => ApiError::BadRequest(err.to_string()),
            TarballError::TooLarge { .. } => ApiError::PayloadTooLarge(err.to_string()),
            TarballError::Io(_) => ApiError::Internal(err.to_string()),
            _ => ApiError::invalid_body(&["code"], err.to_string(), "value_error"),
        });
    }

    let info = BuildInfo {
        provider_id: id.clone(),
        version: version.clone(),
        status: BuildStatus::Pending,
        error_message: None,
        created_at: Timestamp::now(),
    };
    lock(&this.inner.store)
        .insert_build(&info)
        .map_err(store_error)?;
    let queued = QueuedBuild {
        log: BuildLog::new(),
        cancel: Arc::new(watch::channel(false).0),
    };
    lock(&this.inner.builds).insert((id.clone(), version.clone()), queued.clone());
    tokio::spawn(
        this.clone()
            .run_build(id.clone(), version.clone(), source, queued),
    );

    let body = PushResponse {
        version: version.clone(),
        status: BuildStatus::Pending,
        message: format!("build {version} of provider {id} queued"),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn list_builds(
    State(this): State<Deployments>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<Vec<BuildInfo>>, ApiError> {
    let id = path_param(path, "provider_id")?;
    check_provider_id(&id)?;
    let rows = lock(&this.inner.store)
        .builds(&id, LISTED_BUILDS)
        .map_err(store_error)?;
    Ok(Json(rows.into_iter().map(|row| row.info).collect()))
}

async fn get_build(
    State(this): State<Deployments>,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<Json<BuildInfo>, ApiError> {
    let (id, version) = path_param(path, "provider_id")?;
    check_provider_id(&id)?;
    Ok(Json(this.build_row(&id, &version)?.info))
}

async fn build_logs(
    State(this): State<Deployments>,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (id, version) = path_param(path, "provider_id")?;
    check_provider_id(&id)?;
    let live = lock(&this.inner.builds)
        .get(&(id.clone(), version.clone()))
        .map(|queued| queued.log.clone());
    let body = match live {
        Some(log) => Body::from_stream(log.follow()),
        None => {
            let text = lock(&this.inner.store)
                .build_log(&id, &version)
                .map_err(store_error)?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("build {version} of provider {id} not found"))
                })?;
            Body::from(text)
        }
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

async fn deploy(
    State(this): State<Deployments>,
    path: Result<UrlPath<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_param(path, "provider_id")?;
    check_deployable_id(&id)?;
    let body = body?;
    let request: DeployRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeployRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::invalid_body(
                &[],
                format!("the body is not a deploy request: {err}"),
                "json_invalid",
            )
        })?
    };
    let build = match &request.version {
        Some(version) => this.build_row(&id, version)?,
        None => lock(&this.inner.store)
            .latest_success(&id)
            .map_err(store_error)?
            .ok_or_else(|| ApiError::NotFound(format!("provider {id} has no successful build")))?,
    };
    if build.info.status != BuildStatus::Success {
        return Err(ApiError::BadRequest(format!(
            "build {} of provider {id} is {} and cannot be deployed",
            build.info.version,
            store::status_text(build.info.status)
        )));
    }
    let row = this.set_deployment(
        &id,
        Some(build.info.version.clone()),
        DeploymentStatus::Progressing,
    );
    tokio::spawn(this.clone().run_deploy(build));
    let status = ProviderStatus {
        status: row.status,
        version: row.version,
        updated_at: Some(row.updated_at),
        healthy: false,
    };
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

async fn deployment(
    State(this): State<Deployments>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<ProviderStatus>, ApiError> {
    let id = path_param(path, "provider_id")?;
    check_provider_id(&id)?;
    if let Some(status) = this.status(&id)? {
        return Ok(Json(status));
    }
    if this.inner.registry.provider_names().contains(&id) {
        return Ok(Json(ProviderStatus {
            status: DeploymentStatus::Available,
            version: None,
            updated_at: None,
            healthy: true,
        }));
    }
    Err(ApiError::NotFound(format!("provider {id} is not deployed")))
}

async fn delete_provider(
    State(this): State<Deployments>,
    path: Result<UrlPath<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<ProviderDeleteResult>, ApiError> {
    let id = path_param(path, "provider_id")?;
    let cascade = boolean(&query_pairs(query)?, "cascade")?.unwrap_or(false);
    check_deployable_id(&id)?;
    let known_in_store = lock(&this.inner.store)
        .provider_ids()
        .map_err(store_error)?
        .contains(&id);
    let hosted = this.inner.registry.provider_names().contains(&id);
    if !known_in_store && !hosted {
        return Err(ApiError::NotFound(format!("provider {id} not found")));
    }

    let guard = this.deploy_lock(&id);
    let _guard = guard.lock().await;
    let mut resources_deleted = 0;
    if hosted {
        let count = this
            .inner
            .registry
            .resource_count(&id)
            .await
            .map_err(|err| ApiError::Internal(err.to_string()))?;
        if count > 0 && !cascade {
            return Err(ApiError::Conflict(format!(
                "provider {id} has {count} resources; delete them first or pass cascade=true"
            )));
        }
        if count > 0 {
            resources_deleted = this
                .inner
                .registry
                .delete_resources(&id)
                .await
                .map_err(|err| match err {
                    RegistryError::Blocked { .. } => ApiError::Conflict(err.to_string()),
                    _ => ApiError::Internal(err.to_string()),
                })?;
        }
        this.inner.registry.unregister(&id);
    }
    this.cancel_builds(&id).await;
    let worker = lock(&this.inner.workers).remove(&id);
    let deployment_deleted = worker.is_some();
    if let Some(worker) = worker {
        worker.shutdown().await;
    }
    lock(&this.inner.store)
        .delete_provider(&id)
        .map_err(store_error)?;
    lock(&this.inner.versions).remove(&id);
    let _ = std::fs::remove_dir_all(this.inner.root.join(&id));
    Ok(Json(ProviderDeleteResult {
        provider_id: id,
        deployment_deleted,
        resources_deleted,
    }))
}
