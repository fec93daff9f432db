//! Serving a worker's requests to the platform (`apply_resource`, `wait_for_state`) through
//! the backend of the dispatch they belong to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pragma_sdk::authoring::{BackendError, ChildResource, RuntimeBackend};
use pragma_sdk::worker::messages::{
    decode_params, ApplyResourceParams, WaitForStateParams, WaitForStateResult,
};
use pragma_sdk::worker::rpc::{
    Connection, Incoming, RpcError, RpcPeer, INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND,
};
use serde_json::Value;

/// The backends of the requests in flight to one worker, by request id.
#[derive(Default)]
pub(crate) struct Backends(Mutex<HashMap<u64, Arc<dyn RuntimeBackend>>>);

impl Backends {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<dyn RuntimeBackend>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `backend` for the request `id` until the guard is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: u64,
        backend: Arc<dyn RuntimeBackend>,
    ) -> Registration {
        self.lock().insert(id, backend);
        Registration {
            backends: self.clone(),
            id,
        }
    }

    fn get(&self, id: u64) -> Option<Arc<dyn RuntimeBackend>> {
        self.lock().get(&id).cloned()
    }
}

/// Keeps a backend registered while its request is in flight.
pub(crate) struct Registration {
    backends: Arc<Backends>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.backends.lock().remove(&self.id);
    }
}

/// Answers the worker's requests until its connection closes.
pub(crate) async fn serve(mut connection: Connection, backends: Arc<Backends>) {
    while let Some(incoming) = connection.incoming.recv().await {
        match incoming {
            Incoming::Request { id, method, params } => {
                let peer = connection.peer.clone();
                let backends = backends.clone();
                tokio::spawn(async move {
                    let result = answer(&backends, &method, params).await;
                    if let Err(err) = &result {
                        tracing::warn!(id, %method, error = %err.message, "worker request refused");
                    }
                    respond(&peer, id, result);
                });
            }
            Incoming::Notification { method, .. } => {
                tracing::debug!(%method, "notification from worker ignored");
            }
        }
    }
}

fn respond(peer: &RpcPeer, id: u64, result: Result<Value, RpcError>) {
    if let Err(reason) = peer.respond(id, result) {
        tracing::debug!(id, %reason, "answer to worker not sent");
    }
}

fn backend_for(backends: &Backends, dispatch_id: u64) -> Result<Arc<dyn RuntimeBackend>, RpcError> {
    backends.get(dispatch_id).ok_or_else(|| {
        RpcError::new(
            INVALID_PARAMS,
            format!("invalid params at dispatch_id: no request {dispatch_id} is in flight"),
        )
    })
}

fn backend_error(err: BackendError) -> RpcError {
    RpcError::new(INTERNAL_ERROR, err.to_string())
}

async fn answer(backends: &Backends, method: &str, params: Value) -> Result<Value, RpcError> {
    let invalid = |message: String| RpcError::new(INVALID_PARAMS, message);
    match method {
        "apply_resource" => {
            let params: ApplyResourceParams = decode_params(params).map_err(invalid)?;
            let backend = backend_for(backends, params.dispatch_id)?;
            let child = ChildResource {
                provider: params.child.provider,
                resource: params.child.resource,
                name: params.child.name,
                config: params.child.config,
                owner_references: params.child.owner_references,
                tags: params.child.tags,
            };
            backend.apply_resource(child).await.map_err(backend_error)?;
            Ok(Value::Null)
        }
        "wait_for_state" => {
            let params: WaitForStateParams = decode_params(params).map_err(invalid)?;
            let timeout = Duration::try_from_secs_f64(params.timeout).map_err(|err| {
                invalid(format!(
                    "invalid params at timeout: {} is not a duration in seconds ({err})",
                    params.timeout
                ))
            })?;
            let backend = backend_for(backends, params.dispatch_id)?;
            let outcome = backend
                .wait_for_state(params.resource_id, params.target_state, timeout)
                .await
                .map_err(backend_error)?;
            let result = WaitForStateResult {
                lifecycle_state: outcome.lifecycle_state,
                outputs: outcome.outputs,
            };
            serde_json::to_value(result)
                .map_err(|err| RpcError::new(INTERNAL_ERROR, err.to_string()))
        }
        other => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("method {other:?} not found"),
        )),
    }
}
