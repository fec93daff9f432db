//! Shared by the worker and deploy tests: building the example worker, and a runtime backend
//! that records what workers ask of the platform.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pragma_sdk::authoring::{BackendError, BoxFuture, ChildResource, RuntimeBackend, WaitOutcome};
use pragma_sdk::models::{JsonObject, LifecycleState};
use serde_json::Value;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("pragma-local lives in the workspace")
        .to_owned()
}

/// The example worker's directory.
pub fn echo_worker_dir() -> PathBuf {
    workspace_root().join("examples").join("echo-worker")
}

/// Builds `examples/echo-worker` (debug) once per test binary and returns its executable,
/// wherever the target dir is.
pub fn echo_worker_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let output = Command::new(cargo)
                .args([
                    "build",
                    "-p",
                    "echo-worker",
                    "--bin",
                    "echo-worker",
                    "--message-format=json",
                ])
                .current_dir(workspace_root())
                .output()
                .expect("cargo runs");
            assert!(
                output.status.success(),
                "building echo-worker failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|message| message["reason"] == "compiler-artifact")
                .filter(|message| message["target"]["name"] == "echo-worker")
                .find_map(|message| message["executable"].as_str().map(PathBuf::from))
                .expect("cargo names the echo-worker executable")
        })
        .clone()
}

/// What a worker applied, and how waits are answered.
#[derive(Default)]
pub struct RecordingBackend {
    /// Every child applied, in order.
    pub applied: Mutex<Vec<ChildResource>>,
    /// Every wait asked for: resource id, state, timeout.
    pub waits: Mutex<Vec<(String, LifecycleState, Duration)>>,
    /// Outputs answered to waits; `None` answers that the resource failed.
    pub outputs: Mutex<Option<JsonObject>>,
}

impl RecordingBackend {
    /// A backend answering every wait with `ready` and `outputs`.
    pub fn ready_with(outputs: Value) -> Arc<Self> {
        let backend = RecordingBackend::default();
        *backend.outputs.lock().unwrap() = outputs.as_object().cloned();
        Arc::new(backend)
    }
}

impl RuntimeBackend for RecordingBackend {
    fn apply_resource(&self, child: ChildResource) -> BoxFuture<'_, Result<(), BackendError>> {
        self.applied.lock().unwrap().push(child);
        Box::pin(async { Ok(()) })
    }

    fn wait_for_state(
        &self,
        resource_id: String,
        target: LifecycleState,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<WaitOutcome, BackendError>> {
        self.waits
            .lock()
            .unwrap()
            .push((resource_id.clone(), target, timeout));
        let outputs = self.outputs.lock().unwrap().clone();
        Box::pin(async move {
            match outputs {
                Some(outputs) => Ok(WaitOutcome {
                    lifecycle_state: LifecycleState::Ready,
                    outputs: Some(outputs),
                }),
                None => Err(BackendError::Failed {
                    resource_id,
                    message: "quota exceeded".into(),
                }),
            }
        })
    }
}
