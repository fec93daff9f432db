//! JSON-RPC 2.0 over frames: message types, and a connection that correlates concurrent
//! requests in both directions.
//!
//! [`Connection::start`] splits a stream into a reader task and a writer task. Responses are
//! matched to the [`RpcPeer::request`] waiting for them by `id`; requests and notifications
//! from the other side arrive on the [`Incoming`] channel. When the stream ends or a frame is
//! malformed, every open request fails with [`CallError::Closed`], the write half is shut, and
//! [`Connection::closed`] yields the reason.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use crate::worker::frame;

/// The error code of an unknown method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The error code of params that do not decode.
pub const INVALID_PARAMS: i64 = -32602;
/// The error code of a failure while serving a request.
pub const INTERNAL_ERROR: i64 = -32603;
/// The error code of a handshake offering no protocol version the host speaks.
pub const UNSUPPORTED_VERSION: i64 = -32001;
/// The error code of a document that is JSON but not a JSON-RPC message.
pub const INVALID_REQUEST: i64 = -32600;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("error {code}: {message}")]
pub struct RpcError {
    /// The error code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
    /// Structured detail.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message` and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error carrying `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("code".into(), self.code.into());
        object.insert("message".into(), self.message.clone().into());
        if let Some(data) = &self.data {
            object.insert("data".into(), data.clone());
        }
        Value::Object(object)
    }

    fn from_json(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        Some(RpcError {
            code: object.get("code")?.as_i64()?,
            message: object
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            data: object.get("data").cloned(),
        })
    }
}

/// One JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request, answered by a response with the same `id`.
    Request {
        /// Unique among the sender's open requests.
        id: u64,
        /// The method.
        method: String,
        /// Its params (`null` when absent).
        params: Value,
    },
    /// A notification: no answer.
    Notification {
        /// The method.
        method: String,
        /// Its params (`null` when absent).
        params: Value,
    },
    /// The answer to a request.
    Response {
        /// The request's id.
        id: u64,
        /// Its result or error.
        result: Result<Value, RpcError>,
    },
}

/// Why a document is not a JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON-RPC 2.0 message: {0}")]
pub struct MessageError(pub String);

impl Message {
    /// Reads a message from a decoded JSON document.
    ///
    /// # Errors
    ///
    /// [`MessageError`] naming what is missing or wrong.
    pub fn from_json(value: Value) -> Result<Self, MessageError> {
        let Value::Object(mut object) = value else {
            return Err(MessageError("the document is not an object".into()));
        };
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(MessageError("\"jsonrpc\" is not \"2.0\"".into()));
        }
        let id = match object.get("id") {
            None | Some(Value::Null) => None,
            Some(id) => Some(id.as_u64().ok_or_else(|| {
                MessageError(format!("\"id\" {id} is not a non-negative integer"))
            })?),
        };
        let params = object.remove("params").unwrap_or(Value::Null);
        match (object.remove("method"), id) {
            (Some(Value::String(method)), Some(id)) => Ok(Message::Request { id, method, params }),
            (Some(Value::String(method)), None) => Ok(Message::Notification { method, params }),
            (Some(other), _) => Err(MessageError(format!("\"method\" {other} is not a string"))),
            (None, Some(id)) => {
                if let Some(error) = object.get("error") {
                    let error = RpcError::from_json(error).ok_or_else(|| {
                        MessageError("\"error\" lacks an integer \"code\"".into())
                    })?;
                    Ok(Message::Response {
                        id,
                        result: Err(error),
                    })
                } else if let Some(result) = object.remove("result") {
                    Ok(Message::Response {
                        id,
                        result: Ok(result),
                    })
                } else {
                    Err(MessageError(
                        "a response has neither \"result\" nor \"error\"".into(),
                    ))
                }
            }
            (None, None) => Err(MessageError("neither \"method\" nor \"id\"".into())),
        }
    }

    /// The message as a JSON document.
    pub fn to_json(&self) -> Value {
        match self {
            Message::Request { id, method, params } => {
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            }
            Message::Notification { method, params } => {
                json!({"jsonrpc": "2.0", "method": method, "params": params})
            }
            Message::Response {
                id,
                result: Ok(result),
            } => {
                json!({"jsonrpc": "2.0", "id": id, "result": result})
            }
            Message::Response {
                id,
                result: Err(error),
            } => {
                json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()})
            }
        }
    }

    /// The message encoded as a frame body.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing a `Value` cannot fail: its keys are strings.
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }
}

/// Why a request sent to the other side got no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The other side answered with an error.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The connection closed before the answer came.
    #[error("connection closed: {0}")]
    Closed(String),
}

/// A request or notification from the other side.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request, to be answered with [`RpcPeer::respond`].
    Request {
        /// Its id.
        id: u64,
        /// The method.
        method: String,
        /// Its params.
        params: Value,
    },
    /// A notification.
    Notification {
        /// The method.
        method: String,
        /// Its params.
        params: Value,
    },
}

/// How many bytes of queued frames one write gathers at most.
const WRITE_BATCH: usize = 256 * 1024;

type Pending = HashMap<u64, oneshot::Sender<Result<Value, CallError>>>;

/// Removes an open request from the pending map when its waiter goes away.
struct PendingGuard {
    pending: Arc<Mutex<Pending>>,
    id: u64,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.remove(&self.id);
    }
}

/// The sending side of a connection: requests with correlation, responses, notifications.
///
/// Shared as `Arc<RpcPeer>` by every task that talks on the connection.
#[derive(Debug)]
pub struct RpcPeer {
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
    next_id: AtomicU64,
    closed: watch::Receiver<Option<String>>,
}

impl RpcPeer {
    /// An id for a request not sent yet, unique on this connection.
    pub fn reserve_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends the request `method` and waits for its answer.
    ///
    /// # Errors
    ///
    /// [`CallError::Rpc`] when answered with an error, [`CallError::Closed`] when the
    /// connection closes first.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, CallError> {
        let id = self.reserve_id();
        self.request_with_id(id, method, params).await
    }

    /// Sends the request `method` under an id from [`RpcPeer::reserve_id`] and waits for its
    /// answer.
    ///
    /// # Errors
    ///
    /// As for [`RpcPeer::request`].
    pub fn request_with_id(
        &self,
        id: u64,
        method: &str,
        params: Value,
    ) -> impl Future<Output = Result<Value, CallError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = match self.closed_reason() {
            Some(reason) => Err(reason),
            None => {
                self.lock_pending().insert(id, tx);
                let message = Message::Request {
                    id,
                    method: method.to_owned(),
                    params,
                };
                self.send(&message)
            }
        };
        if sent.is_err() {
            self.lock_pending().remove(&id);
        }
        let closed = self.closed.clone();
        let guard = PendingGuard {
            pending: self.pending.clone(),
            id,
        };
        async move {
            // Dropping the future (a caller that gave up) forgets the request, so a late
            // answer is ignored and nothing is kept for it.
            let _guard = guard;
            sent.map_err(CallError::Closed)?;
            tokio::select! {
                biased;
                answer = rx => answer.unwrap_or_else(|_| Err(CallError::Closed("request dropped".into()))),
                reason = wait_closed(closed) => Err(CallError::Closed(reason)),
            }
        }
    }

    /// Answers the request `id`.
    ///
    /// # Errors
    ///
    /// The reason the connection closed, when it did.
    pub fn respond(&self, id: u64, result: Result<Value, RpcError>) -> Result<(), String> {
        self.send(&Message::Response { id, result })
    }

    /// Sends the notification `method`.
    ///
    /// # Errors
    ///
    /// The reason the connection closed, when it did.
    pub fn notify(&self, method: &str, params: Value) -> Result<(), String> {
        self.send(&Message::Notification {
            method: method.to_owned(),
            params,
        })
    }

    /// Sends raw bytes as one frame body, for tests of malformed input.
    ///
    /// # Errors
    ///
    /// The reason the connection closed, when it did.
    pub fn send_raw(&self, body: Vec<u8>) -> Result<(), String> {
        self.outgoing.send(body).map_err(|_| {
            self.closed_reason()
                .unwrap_or_else(|| "connection closed".into())
        })
    }

    /// How many requests sent on this connection wait for an answer.
    pub fn open_requests(&self) -> usize {
        self.lock_pending().len()
    }

    /// Why the connection closed, once it has.
    pub fn closed_reason(&self) -> Option<String> {
        self.closed.borrow().clone()
    }

    fn send(&self, message: &Message) -> Result<(), String> {
        self.send_raw(message.to_bytes())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn complete(&self, id: u64, result: Result<Value, RpcError>) {
        let waiter = self.lock_pending().remove(&id);
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(result.map_err(CallError::Rpc));
            }
            None => tracing::warn!(id, "response to no open request; ignored"),
        }
    }

    fn fail_all(&self, reason: &str) {
        let waiters: Vec<_> = self.lock_pending().drain().collect();
        for (_, waiter) in waiters {
            let _ = waiter.send(Err(CallError::Closed(reason.to_owned())));
        }
    }
}

/// A running connection: its peer, the incoming requests, and the reason it closed.
#[derive(Debug)]
pub struct Connection {
    /// Sends on the connection.
    pub peer: Arc<RpcPeer>,
    /// Requests and notifications from the other side, in arrival order; ends when the
    /// connection closes.
    pub incoming: mpsc::UnboundedReceiver<Incoming>,
    closed: watch::Receiver<Option<String>>,
}

impl Connection {
    /// Starts the reader and writer tasks on `stream` (needs a tokio runtime).
    pub fn start<S>(stream: S) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(stream);
        let (outgoing_tx, outgoing_rx) = mpsc::unbounded_channel();
        let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
        let (closed_tx, closed_rx) = watch::channel(None);
        let peer = Arc::new(RpcPeer {
            outgoing: outgoing_tx,
            pending: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(1),
            closed: closed_rx.clone(),
        });

        let closed_tx = Arc::new(closed_tx);
        tokio::spawn(write_loop(write_half, outgoing_rx, closed_tx.clone()));
        let reader = tokio::io::BufReader::with_capacity(64 * 1024, read_half);
        tokio::spawn(read_loop(reader, peer.clone(), incoming_tx, closed_tx));

        Connection {
            peer,
            incoming: incoming_rx,
            closed: closed_rx,
        }
    }

    /// Waits until the connection has closed and returns why.
    pub fn closed(&self) -> impl Future<Output = String> + Send + 'static {
        wait_closed(self.closed.clone())
    }
}

async fn wait_closed(mut closed: watch::Receiver<Option<String>>) -> String {
    let reason = match closed.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone(),
        Err(_) => None,
    };
    reason.unwrap_or_else(|| "connection dropped".to_owned())
}

fn close(closed: &watch::Sender<Option<String>>, reason: String) {
    closed.send_if_modified(|current| {
        if current.is_none() {
            *current = Some(reason);
            true
        } else {
            false
        }
    });
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    closed: Arc<watch::Sender<Option<String>>>,
) {
    let closed_rx = closed.subscribe();
    let mut stop = std::pin::pin!(wait_closed(closed_rx));
    loop {
        tokio::select! {
            body = outgoing.recv() => {
                let Some(body) = body else { break };
                // Frames queued meanwhile go out in the same write.
                let mut batch = Vec::new();
                let mut next = Some(body);
                while let Some(body) = next.take() {
                    match frame::encode_frame(&body) {
                        Ok(encoded) => batch.extend_from_slice(&encoded),
                        Err(err) => tracing::error!(error = %err, "outgoing message dropped"),
                    }
                    if batch.len() < WRITE_BATCH {
                        next = outgoing.try_recv().ok();
                    }
                }
                let written = async {
                    writer.write_all(&batch).await?;
                    writer.flush().await
                };
                if let Err(err) = written.await {
                    close(&closed, format!("writing failed: {err}"));
                    break;
                }
            }
            _ = &mut stop => break,
        }
    }
    let _ = writer.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    peer: Arc<RpcPeer>,
    incoming: mpsc::UnboundedSender<Incoming>,
    closed: Arc<watch::Sender<Option<String>>>,
) {
    let reason = loop {
        let body = match frame::read_frame(&mut reader).await {
            Ok(Some(body)) => body,
            Ok(None) => break "the other side closed the connection".to_owned(),
            Err(err) => break format!("malformed frame: {err}"),
        };
        let message = match frame::decode_body(&body)
            .map_err(|e| e.to_string())
            .and_then(|value| Message::from_json(value).map_err(|e| e.to_string()))
        {
            Ok(message) => message,
            Err(err) => break format!("malformed frame: {err}"),
        };
        drop(body);
        match message {
            Message::Response { id, result } => peer.complete(id, result),
            Message::Request { id, method, params } => {
                let _ = incoming.send(Incoming::Request { id, method, params });
            }
            Message::Notification { method, params } => {
                let _ = incoming.send(Incoming::Notification { method, params });
            }
        }
    };
    tracing::debug!(%reason, "worker protocol connection closed");
    close(&closed, reason.clone());
    peer.fail_all(&reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_given_up_on_is_forgotten() {
        let (near, far) = tokio::io::duplex(1 << 16);
        let near = Connection::start(near);
        // The far side reads the request but never answers it.
        let _far = Connection::start(far);
        let waiting = near.peer.request("slow", Value::Null);
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(50), waiting).await;
        assert!(gave_up.is_err(), "no answer came");
        assert_eq!(near.peer.open_requests(), 0);

        let kept = near.peer.request("slow", Value::Null);
        tokio::pin!(kept);
        let still = tokio::time::timeout(std::time::Duration::from_millis(20), &mut kept).await;
        assert!(still.is_err());
        assert_eq!(
            near.peer.open_requests(),
            1,
            "a request still awaited stays open"
        );
    }

    #[test]
    fn parses_each_kind() {
        let request = Message::from_json(json!({"jsonrpc":"2.0","id":3,"method":"m"})).unwrap();
        assert_eq!(
            request,
            Message::Request {
                id: 3,
                method: "m".into(),
                params: Value::Null
            }
        );
        let note = Message::from_json(json!({"jsonrpc":"2.0","method":"shutdown"})).unwrap();
        assert!(matches!(note, Message::Notification { .. }));
        let error = Message::from_json(
            json!({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}),
        )
        .unwrap();
        assert!(matches!(
            error,
            Message::Response {
                id: 1,
                result: Err(RpcError { code: -32601, .. })
            }
        ));
        assert!(Message::from_json(json!({"jsonrpc":"1.0","id":1,"result":1})).is_err());
        assert!(Message::from_json(json!({"jsonrpc":"2.0","id":-1,"result":1})).is_err());
        assert!(Message::from_json(json!([1])).is_err());
    }

    #[tokio::test]
    async fn correlates_out_of_order_answers() {
        let (a, b) = tokio::io::duplex(4096);
        let left = Connection::start(a);
        let mut right = Connection::start(b);
        let peer = &left.peer;
        let first = tokio::spawn(peer.request_with_id(peer.reserve_id(), "echo", json!(1)));
        let second = tokio::spawn(peer.request_with_id(peer.reserve_id(), "echo", json!(2)));
        let mut seen = Vec::new();
        for _ in 0..2 {
            match right.incoming.recv().await.unwrap() {
                Incoming::Request { id, params, .. } => seen.push((id, params)),
                other => panic!("unexpected {other:?}"),
            }
        }
        for (id, params) in seen.into_iter().rev() {
            right.peer.respond(id, Ok(params)).unwrap();
        }
        assert_eq!(first.await.unwrap().unwrap(), json!(1));
        assert_eq!(second.await.unwrap().unwrap(), json!(2));
        drop(right);
    }
}
