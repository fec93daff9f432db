//! The lifecycle engine: applies resources, queues their events, runs them through their
//! providers once everything they reference is ready, propagates changes to dependents,
//! retries failures into dead-letter events, and deletes resources with what they own.
//!
//! All state lives in memory behind one mutex that is never held across an `await`; each
//! change is also sent to the store as one transaction. Applies wait until their change is
//! committed before answering; the dispatch path does not wait, since an event that was not
//! yet marked done in the store is dispatched again after a restart (at-least-once delivery).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use pragma_sdk::authoring::{
    BackendError, BoxFuture, ChildResource, DispatchError, DispatchRequest, LifecycleError,
    RuntimeBackend, Target, WaitOutcome,
};
use pragma_sdk::models::{
    resource_id, DeadLetterEvent, EventType, JsonObject, LifecycleState, LocationItem, LogEntry,
    OutboxEvent, OutboxStatus, OwnerReference, RawResource, ResourceDefinition, ResourceHealth,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::hosted::{HostedProvider, ProviderRegistry, RegistryError};
use crate::references::{self, Lookup};
use crate::schema;
use crate::store::{self, Change, Loaded, Op, Store, StoreError};

/// How failing handlers are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many attempts an event gets in all (at least 1).
    pub attempts: u32,
    /// The delay before the second attempt; it doubles for each further one.
    pub base_delay: Duration,
    /// How long one attempt's handler may run before it is abandoned and the attempt counts
    /// as failed.
    pub handler_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(200),
            handler_timeout: DEFAULT_HANDLER_TIMEOUT,
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor)
    }
}

/// The longest resource name accepted.
const MAX_NAME_LEN: usize = 253;
/// The most tags a resource may carry.
const MAX_TAGS: usize = 64;
/// The longest tag accepted.
const MAX_TAG_LEN: usize = 128;
/// How many events of one provider run at once.
pub(crate) const DISPATCH_CONCURRENCY: usize = 32;

/// How long a handler may run by default before its attempt is abandoned.
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredEvent {
    resource_id: String,
    event: OutboxEvent,
}

#[derive(Debug, Clone)]
struct Snapshot {
    state: LifecycleState,
    error: Option<String>,
    removed: bool,
}

/// A resource row: the resource, and the resolved config its provider last handled
/// successfully (the `previous_config` of its next update).
#[derive(Serialize, Deserialize)]
struct StoredResource {
    resource: RawResource,
    #[serde(default)]
    applied: Option<JsonObject>,
}

struct Entry {
    raw: RawResource,
    applied: Option<JsonObject>,
    refs: Vec<String>,
    event: Option<OutboxEvent>,
    in_flight: bool,
    rerun: bool,
    /// A delete of this resource is queued or running: nothing new may reference it.
    deleting: bool,
    dispatched: Option<JsonObject>,
    watch: watch::Sender<Snapshot>,
}

impl Entry {
    fn new(raw: RawResource, refs: Vec<String>) -> Self {
        let (watch, _) = watch::channel(Snapshot {
            state: raw.lifecycle_state,
            error: raw.error.clone(),
            removed: false,
        });
        Entry {
            raw,
            applied: None,
            refs,
            event: None,
            in_flight: false,
            rerun: false,
            deleting: false,
            dispatched: None,
            watch,
        }
    }

    fn notify(&self) {
        self.watch.send_replace(Snapshot {
            state: self.raw.lifecycle_state,
            error: self.raw.error.clone(),
            removed: false,
        });
    }

    fn put(&self, id: &str) -> Op {
        Op::PutResource {
            id: id.to_owned(),
            provider: self.raw.provider.clone(),
            body: serde_json::to_string(&StoredResourceRef {
                resource: &self.raw,
                applied: self.applied.as_ref(),
            })
            .unwrap_or_default(),
        }
    }

    /// Queues `event`, moving the resource to `pending`.
    fn queue(&mut self, id: &str, event: OutboxEvent, ops: &mut Change) {
        self.raw.lifecycle_state = LifecycleState::Pending;
        self.raw.pending_event_id = Some(event.event_id.clone());
        self.raw.updated_at = Some(Timestamp::now());
        ops.push(put_event(id, &event));
        self.event = Some(event);
        ops.push(self.put(id));
        self.notify();
    }
}

#[derive(Serialize)]
struct StoredResourceRef<'a> {
    resource: &'a RawResource,
    applied: Option<&'a JsonObject>,
}

fn put_event(resource_id: &str, event: &OutboxEvent) -> Op {
    let stored = StoredEvent {
        resource_id: resource_id.to_owned(),
        event: event.clone(),
    };
    Op::PutEvent {
        id: event.event_id.clone(),
        resource_id: resource_id.to_owned(),
        body: serde_json::to_string(&stored).unwrap_or_default(),
    }
}

fn new_event(
    raw: &RawResource,
    event_type: EventType,
    previous: Option<JsonObject>,
) -> OutboxEvent {
    OutboxEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        provider: raw.provider.clone(),
        resource_type: raw.resource.clone(),
        resource_name: raw.name.clone(),
        event_type,
        payload: raw.config.clone(),
        previous_config: previous,
        correlation_id: uuid::Uuid::new_v4().to_string(),
        status: OutboxStatus::Pending,
        created_at: Timestamp::now(),
        published_at: None,
    }
}

/// The create-or-update event for `raw` given whether it was provisioned before.
fn change_event(raw: &RawResource, previous: Option<&JsonObject>) -> OutboxEvent {
    match (raw.provisioned, previous) {
        (true, Some(previous)) => new_event(raw, EventType::Update, Some(previous.clone())),
        (true, None) => new_event(raw, EventType::Update, Some(raw.config.clone())),
        (false, _) => new_event(raw, EventType::Create, None),
    }
}

#[derive(Default)]
struct State {
    resources: HashMap<String, Entry>,
    dependents: HashMap<String, BTreeSet<String>>,
    dead: BTreeMap<String, DeadLetterEvent>,
}

impl State {
    fn link(&mut self, id: &str, refs: &[String]) {
        for target in refs {
            self.dependents
                .entry(target.clone())
                .or_default()
                .insert(id.to_owned());
        }
    }

    fn unlink(&mut self, id: &str, refs: &[String]) {
        for target in refs {
            if let Some(set) = self.dependents.get_mut(target) {
                set.remove(id);
                if set.is_empty() {
                    self.dependents.remove(target);
                }
            }
        }
    }

    fn dependents_of(&self, id: &str) -> Vec<String> {
        self.dependents
            .get(id)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Marks `id` in flight and returns whether it should be dispatched now.
    fn claim(&mut self, id: &str) -> bool {
        let runnable = match self.resources.get(id) {
            Some(entry) => match &entry.event {
                Some(event) if !entry.in_flight => {
                    event.event_type == EventType::Delete
                        || entry.refs.iter().all(|target| {
                            self.resources
                                .get(target)
                                .is_some_and(|t| t.raw.lifecycle_state == LifecycleState::Ready)
                        })
                }
                _ => false,
            },
            None => false,
        };
        if runnable {
            if let Some(entry) = self.resources.get_mut(id) {
                entry.in_flight = true;
            }
        }
        runnable
    }

    /// A path `id -> … -> id` through the references, if `id` referencing `refs` closes one.
    fn find_cycle(&self, id: &str, refs: &[String]) -> Option<Vec<String>> {
        let mut parent: HashMap<String, String> = HashMap::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        for target in refs {
            if target == id {
                return Some(vec![id.to_owned(), id.to_owned()]);
            }
            if !parent.contains_key(target) {
                parent.insert(target.clone(), id.to_owned());
                queue.push_back(target.clone());
            }
        }
        while let Some(node) = queue.pop_front() {
            let Some(entry) = self.resources.get(&node) else {
                continue;
            };
            for next in &entry.refs {
                if next == id {
                    let mut chain = vec![node.clone()];
                    let mut current = node.clone();
                    while let Some(up) = parent.get(&current) {
                        if up == id {
                            break;
                        }
                        chain.push(up.clone());
                        current = up.clone();
                    }
                    chain.reverse();
                    let mut path = vec![id.to_owned()];
                    path.extend(chain);
                    path.push(id.to_owned());
                    return Some(path);
                }
                if !parent.contains_key(next) {
                    parent.insert(next.clone(), node.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        None
    }
    /// Whether the dead-letter event `dead` of the resource `id` may be retried: it must be
    /// the resource's latest word (the resource failed with it and nothing was applied
    /// since), and a delete must pass the checks a delete request passes.
    fn check_retry(&self, id: &str, dead: &DeadLetterEvent) -> Result<(), ApiError> {
        let event_id = &dead.event_id;
        let Some(entry) = self.resources.get(id) else {
            return Err(ApiError::Conflict(format!(
                "resource {id} of dead-letter event {event_id} no longer exists"
            )));
        };
        let superseded = entry.raw.lifecycle_state != LifecycleState::Failed
            || entry.raw.updated_at.is_some_and(|at| at > dead.failed_at);
        if superseded {
            return Err(ApiError::Conflict(format!(
                "dead-letter event {event_id} is superseded: resource {id} changed after it failed \
                 (it is {} now); delete the event instead",
                entry.raw.lifecycle_state
            )));
        }
        if dead.event_type == EventType::Delete {
            let dependents = self.dependents_of(id);
            if !dependents.is_empty() {
                return Err(ApiError::Conflict(format!(
                    "resource {id} is referenced by {}; delete those first",
                    dependents.join(", ")
                )));
            }
            let owned: Vec<String> = self
                .owned_tree(id)
                .into_iter()
                .filter(|m| m != id)
                .collect();
            if !owned.is_empty() {
                return Err(ApiError::Conflict(format!(
                    "resource {id} still owns {}; delete it through DELETE /resources/ instead",
                    owned.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Marks the resources `ids` (those still stored) as being deleted, or no longer.
    fn set_deleting(&mut self, ids: &[String], on: bool) {
        for id in ids {
            if let Some(entry) = self.resources.get_mut(id) {
                entry.deleting = on;
            }
        }
    }

    /// Whether `owner` is `id` or is owned by it, transitively, as stored now.
    fn owned_by(&self, owner: &str, id: &str) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![owner.to_owned()];
        while let Some(node) = stack.pop() {
            if node == id {
                return true;
            }
            if !seen.insert(node.clone()) {
                continue;
            }
            if let Some(entry) = self.resources.get(&node) {
                stack.extend(entry.raw.owner_references.iter().map(|o| o.id()));
            }
        }
        false
    }

    /// `id` and everything it owns, transitively, children before their owners.
    fn owned_tree(&self, id: &str) -> Vec<String> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![(id.to_owned(), false)];
        while let Some((node, expanded)) = stack.pop() {
            if expanded {
                order.push(node);
                continue;
            }
            if !seen.insert(node.clone()) {
                continue;
            }
            stack.push((node.clone(), true));
            for (child, entry) in &self.resources {
                let owned = entry.raw.owner_references.iter().any(|o| o.id() == node);
                if owned && !seen.contains(child) {
                    stack.push((child.clone(), false));
                }
            }
        }
        order
    }

    /// The resources of `provider` in an order in which each can be deleted with what it owns
    /// (see [`Engine::delete`]), checked before anything is deleted: no resource outside them
    /// and what they own may reference one of them, and none may be in flight.
    ///
    /// # Errors
    ///
    /// Why they cannot all be deleted, naming the resources in the way.
    fn deletion_plan(&self, provider: &str) -> Result<Vec<String>, String> {
        let mut roots: Vec<String> = self
            .resources
            .iter()
            .filter(|(_, entry)| entry.raw.provider == provider)
            .map(|(id, _)| id.clone())
            .collect();
        roots.sort();
        let trees: HashMap<String, Vec<String>> = roots
            .iter()
            .map(|root| (root.clone(), self.owned_tree(root)))
            .collect();
        let doomed: BTreeSet<&String> = trees.values().flatten().collect();

        let mut blocked = Vec::new();
        for member in &doomed {
            let outside: Vec<String> = self
                .dependents_of(member)
                .into_iter()
                .filter(|d| !doomed.contains(d))
                .collect();
            if !outside.is_empty() {
                blocked.push(format!(
                    "resource {member} is referenced by {}",
                    outside.join(", ")
                ));
            }
        }
        if !blocked.is_empty() {
            return Err(format!("{}; delete those first", blocked.join("; ")));
        }
        let busy: Vec<&str> = doomed
            .iter()
            .filter(|id| self.resources.get(**id).is_some_and(|e| e.in_flight))
            .map(|id| id.as_str())
            .collect();
        if !busy.is_empty() {
            return Err(format!(
                "{} being processed; try again once they settle",
                busy.join(", ")
            ));
        }

        // A resource goes once nothing left outside its tree references what the tree holds.
        let mut remaining: HashSet<&String> = doomed.iter().copied().collect();
        let mut order = Vec::new();
        while !roots.is_empty() {
            let free = roots.iter().position(|root| {
                let tree: HashSet<&String> = trees
                    .get(root)
                    .into_iter()
                    .flatten()
                    .filter(|m| remaining.contains(m))
                    .collect();
                tree.iter().all(|member| {
                    self.dependents_of(member)
                        .iter()
                        .all(|d| tree.contains(d) || !remaining.contains(d))
                })
            });
            let Some(free) = free else {
                return Err(format!(
                    "resources {} reference what the others own; delete them one by one",
                    roots.join(", ")
                ));
            };
            let root = roots.remove(free);
            for member in trees.get(&root).into_iter().flatten() {
                remaining.remove(member);
            }
            roots.retain(|r| remaining.contains(r));
            order.push(root);
        }
        Ok(order)
    }

    /// Queues an update for every resource downstream of `from`, each once, and returns them.
    fn propagate(&mut self, from: &str, ops: &mut Change) -> Vec<String> {
        let mut queue: VecDeque<String> = self.dependents_of(from).into();
        let mut seen: Vec<String> = Vec::new();
        let mut visited = HashSet::new();
        while let Some(id) = queue.pop_front() {
            if !visited.insert(id.clone()) {
                continue;
            }
            let Some(entry) = self.resources.get_mut(&id) else {
                continue;
            };
            let state = entry.raw.lifecycle_state;
            if state == LifecycleState::Draft {
                continue;
            }
            if entry.in_flight {
                entry.rerun = true;
            } else if entry.event.is_none() {
                let event = change_event(&entry.raw, None);
                entry.raw.error = None;
                entry.queue(&id, event, ops);
            }
            queue.extend(self.dependents_of(&id));
            seen.push(id);
        }
        seen
    }
}

struct Lookups<'a>(&'a State);

impl Lookups<'_> {
    fn field_at(&self, id: &str, field: &str, depth: usize) -> Result<Value, String> {
        let entry = self
            .0
            .resources
            .get(id)
            .ok_or_else(|| format!("referenced resource {id} does not exist"))?;
        let whole = serde_json::to_value(&entry.raw).map_err(|err| err.to_string())?;
        let value = references::at_path(&whole, field)
            .ok_or_else(|| format!("resource {id} has no field {field:?}"))?;
        match value {
            Value::Object(object) if references::is_field_ref(object) && depth < 64 => {
                let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or("");
                let target = resource_id(text("provider"), text("resource"), text("name"));
                self.field_at(&target, text("field"), depth + 1)
            }
            other => Ok(other.clone()),
        }
    }
}

impl Lookup for Lookups<'_> {
    fn field(&self, id: &str, field: &str) -> Result<Value, String> {
        self.field_at(id, field, 0)
    }

    fn resource(&self, id: &str) -> Result<(Value, Option<JsonObject>), String> {
        let entry = self
            .0
            .resources
            .get(id)
            .ok_or_else(|| format!("referenced resource {id} does not exist"))?;
        let whole = serde_json::to_value(&entry.raw).map_err(|err| err.to_string())?;
        let resolved = if references::has_references(&entry.raw.config) {
            Some(references::resolve(&entry.raw.config, self)?)
        } else {
            None
        };
        Ok((whole, resolved))
    }
}

#[derive(Default)]
struct Providers {
    hosted: BTreeMap<String, Arc<dyn HostedProvider>>,
    definitions: BTreeMap<(String, String), ResourceDefinition>,
}

struct Inner {
    state: Mutex<State>,
    store: Store,
    providers: RwLock<Providers>,
    /// Dispatch slots, [`DISPATCH_CONCURRENCY`] per provider, so that one provider's slow
    /// handlers cannot hold back another's events.
    permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    retry: RetryPolicy,
}

/// The lifecycle engine; cheap to clone (clones share everything).
///
/// Rules it enforces on apply: a name is 1 to 253 ASCII letters, digits, `-`, `_` and `.`,
/// starting and ending with a letter or digit and without `..`; at most 64 tags of 1 to 128
/// characters; the provider and type must be hosted and the config must fit the type's schema;
/// every referenced resource, dependency and owner must exist, and references must not form a
/// cycle.
///
/// Deleting a resource waits until its `on_delete` (with its retries) is done, which the
/// handler timeout bounds: at most the retry policy's attempts times `handler_timeout`,
/// plus the delays between attempts.
///
/// Limitation: when an attempt of a worker-hosted handler times out, the host stops waiting
/// for it, but the worker is not told (the protocol has no cancellation) and may still be
/// running it when the next attempt arrives; handlers must be idempotent.
///
/// Limitation: a resource that references a failed resource stays `pending` until that
/// resource becomes ready again (after a new apply or a dead-letter retry).
///
/// Limitation: when a store write fails (a full disk), the failure is logged and an apply is
/// answered with 500, but the in-memory state keeps the change; restart to return to what was
/// stored.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("providers", &self.provider_names())
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// An event ready to run.
struct Run {
    request: DispatchRequest,
    event: OutboxEvent,
    provider: String,
}

/// What preparing an event found.
enum Prepared {
    /// The resource or its event is gone.
    Gone,
    /// Dispatch it.
    Run(Box<Run>),
    /// A reference could not be resolved; the event fails with this message.
    Unresolvable(Box<OutboxEvent>, String),
}

/// Who applies a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApplyMode {
    /// A user, through the API.
    User,
    /// A handler applying a subresource; re-applying an unchanged child is a no-op.
    Child,
}

/// A stored row's JSON body, or the error naming the table and row it came from.
fn decode_row<T: serde::de::DeserializeOwned>(
    table: &'static str,
    id: &str,
    body: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|err| StoreError::Corrupt {
        table,
        key: id.to_owned(),
        message: err.to_string(),
    })
}

fn is_retryable(err: &DispatchError) -> bool {
    !matches!(
        err,
        DispatchError::UnknownResourceType { .. }
            | DispatchError::InvalidParams { .. }
            | DispatchError::Lifecycle(LifecycleError::InvalidConfig { .. })
            | DispatchError::Lifecycle(LifecycleError::NotSupported(_))
    )
}

fn key(name: &str) -> LocationItem {
    LocationItem::Key(name.to_owned())
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= 64 {
        text.to_owned()
    } else {
        let head: String = text.chars().take(64).collect();
        format!("{head}…")
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "must be at most {MAX_NAME_LEN} characters long, got {}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "may hold only ASCII letters, digits, '-', '_' and '.', found {bad:?}"
        ));
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err("must start and end with a letter or digit".to_owned());
    }
    if name.contains("..") {
        return Err("must not contain '..'".to_owned());
    }
    Ok(())
}

fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::invalid_body(
            &["tags"],
            format!("at most {MAX_TAGS} tags are allowed, got {}", tags.len()),
            "too_long",
        ));
    }
    for (index, tag) in tags.iter().enumerate() {
        let bad = tag.is_empty()
            || tag.chars().count() > MAX_TAG_LEN
            || tag.chars().any(char::is_control);
        if bad {
            return Err(ApiError::invalid(
                vec![key("body"), key("tags"), LocationItem::Index(index as i64)],
                format!("a tag must be 1 to {MAX_TAG_LEN} characters without control characters"),
                "value_error",
            ));
        }
    }
    Ok(())
}

fn store_error(err: StoreError) -> ApiError {
    ApiError::Internal(format!("the change could not be stored: {err}"))
}

impl Engine {
    /// Builds the engine over an opened store and what it held, with the given providers.
    pub(crate) fn new(
        store: Store,
        loaded: Loaded,
        retry: RetryPolicy,
        providers: Vec<Arc<dyn HostedProvider>>,
    ) -> Result<Self, StoreError> {
        let mut state = State::default();
        for (id, body) in loaded.resources {
            let stored: StoredResource = decode_row("resources", &id, &body)?;
            let refs = collect_refs(&stored.resource).unwrap_or_default();
            state.link(&id, &refs);
            let mut entry = Entry::new(stored.resource, refs);
            entry.applied = stored.applied;
            state.resources.insert(id, entry);
        }
        let mut ops = Change::new();
        for (id, body) in loaded.events {
            let stored: StoredEvent = decode_row("events", &id, &body)?;
            match state.resources.get_mut(&stored.resource_id) {
                Some(entry) if entry.event.is_none() => {
                    entry.deleting = stored.event.event_type == EventType::Delete;
                    entry.raw.lifecycle_state = LifecycleState::Pending;
                    entry.raw.pending_event_id = Some(stored.event.event_id.clone());
                    entry.event = Some(stored.event);
                    entry.notify();
                }
                _ => ops.push(Op::DeleteEvent(id)),
            }
        }
        for (id, entry) in state.resources.iter_mut() {
            let unsettled = matches!(
                entry.raw.lifecycle_state,
                LifecycleState::Pending | LifecycleState::Processing
            );
            if unsettled && entry.event.is_none() {
                let event = change_event(&entry.raw, None);
                entry.queue(id, event, &mut ops);
            }
        }
        for (id, body) in loaded.dead_letters {
            let dead: DeadLetterEvent = decode_row("dead_letters", &id, &body)?;
            state.dead.insert(id, dead);
        }
        if !ops.is_empty() {
            store.write(ops);
        }
        let engine = Engine {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                store,
                providers: RwLock::new(Providers::default()),
                permits: Mutex::new(HashMap::new()),
                retry: RetryPolicy {
                    attempts: retry.attempts.max(1),
                    ..retry
                },
            }),
        };
        for provider in providers {
            engine.host(provider, false);
        }
        Ok(engine)
    }

    /// Hosts `provider` under its name, replacing a provider of that name unless `only_new`.
    /// Returns whether it is hosted now. The platform's own providers (the built-in one among
    /// them) are hosted this way, without the checks of [`ProviderRegistry::register`].
    fn host(&self, provider: Arc<dyn HostedProvider>, only_new: bool) -> bool {
        let name = provider.name().to_owned();
        let definitions = provider.definitions();
        let mut providers = match self.inner.providers.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if only_new && providers.hosted.contains_key(&name) {
            return false;
        }
        providers.definitions.retain(|(p, _), _| p != &name);
        for mut definition in definitions {
            definition.provider = name.clone();
            providers
                .definitions
                .insert((name.clone(), definition.resource.clone()), definition);
        }
        providers.hosted.insert(name, provider);
        true
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.inner.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Dispatches every event that was queued when the store was opened.
    pub(crate) fn start(&self) {
        let ids: Vec<String> = {
            let mut state = self.lock();
            let queued: Vec<String> = state
                .resources
                .iter()
                .filter(|(_, entry)| entry.event.is_some())
                .map(|(id, _)| id.clone())
                .collect();
            queued.into_iter().filter(|id| state.claim(id)).collect()
        };
        self.spawn(ids);
    }

    fn spawn(&self, ids: Vec<String>) {
        for id in ids {
            let engine = self.clone();
            tokio::spawn(async move { engine.run(id).await });
        }
    }

    fn provider(&self, name: &str) -> Option<Arc<dyn HostedProvider>> {
        let providers = match self.inner.providers.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        providers.hosted.get(name).cloned()
    }

    fn definition(&self, provider: &str, resource: &str) -> Option<ResourceDefinition> {
        let providers = match self.inner.providers.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        providers
            .definitions
            .get(&(provider.to_owned(), resource.to_owned()))
            .cloned()
    }

    /// Every hosted resource type, ordered by provider and resource, optionally of one
    /// provider.
    pub(crate) fn definitions(&self, provider: Option<&str>) -> Vec<ResourceDefinition> {
        let providers = match self.inner.providers.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        providers
            .definitions
            .values()
            .filter(|d| provider.is_none_or(|p| d.provider == p))
            .cloned()
            .collect()
    }

    /// Validates `raw` and stores it; a `pending` resource gets an event and is processed.
    pub(crate) async fn apply(
        &self,
        raw: RawResource,
        mode: ApplyMode,
    ) -> Result<RawResource, ApiError> {
        check_name(&raw.name)
            .map_err(|msg| ApiError::invalid_body(&["name"], msg, "value_error"))?;
        if let Some(tags) = &raw.tags {
            check_tags(tags)?;
        }
        if self.provider(&raw.provider).is_none() {
            return Err(ApiError::invalid_body(
                &["provider"],
                format!("unknown provider {:?}", shorten(&raw.provider)),
                "value_error",
            ));
        }
        let definition = self
            .definition(&raw.provider, &raw.resource)
            .ok_or_else(|| {
                ApiError::invalid_body(
                    &["resource"],
                    format!(
                        "provider {:?} has no resource type {:?}",
                        raw.provider,
                        shorten(&raw.resource)
                    ),
                    "value_error",
                )
            })?;
        match raw.lifecycle_state {
            LifecycleState::Draft | LifecycleState::Pending => {}
            other => {
                return Err(ApiError::invalid_body(
                    &["lifecycle_state"],
                    format!("must be draft or pending when applied, got {other}"),
                    "value_error",
                ))
            }
        }
        if let Some(found) = schema::check(&definition.schema, &Value::Object(raw.config.clone())) {
            let mut loc = vec![key("body"), key("config")];
            loc.extend(found.path);
            return Err(ApiError::invalid(loc, found.message, found.kind));
        }
        let found = references::find(&raw.config)
            .map_err(|(loc, msg)| ApiError::invalid(loc, msg, "value_error"))?;
        let id = raw.id();

        let (result, receipt, spawn) = {
            let mut state = self.lock();
            let state = &mut *state;
            let listed = |field: &str, index: usize| {
                vec![key("body"), key(field), LocationItem::Index(index as i64)]
            };
            let triple = |p: &str, r: &str, n: &str| [p.to_owned(), r.to_owned(), n.to_owned()];
            let named = found
                .iter()
                .map(|r| {
                    (
                        r.id.clone(),
                        r.names.clone(),
                        r.loc.clone(),
                        "referenced resource",
                    )
                })
                .chain(raw.dependencies.iter().enumerate().map(|(i, d)| {
                    (
                        d.id(),
                        triple(&d.provider, &d.resource, &d.name),
                        listed("dependencies", i),
                        "dependency",
                    )
                }))
                .chain(raw.owner_references.iter().enumerate().map(|(i, o)| {
                    (
                        o.id(),
                        triple(&o.provider, &o.resource, &o.name),
                        listed("owner_references", i),
                        "owner",
                    )
                }));
            for (named_id, names, loc, what) in named {
                let stored = state.resources.get(&named_id);
                // Ids can collide (`_` may occur in every part), so the names must match too.
                let stored = stored.filter(|e| {
                    [&e.raw.provider, &e.raw.resource, &e.raw.name]
                        == [&names[0], &names[1], &names[2]]
                });
                match stored {
                    None => {
                        return Err(ApiError::invalid(
                            loc,
                            format!("{what} {} does not exist", names.join("/")),
                            "value_error",
                        ))
                    }
                    Some(named) if named.deleting && named_id != id => {
                        return Err(ApiError::Conflict(format!(
                            "{what} {named_id} is being deleted"
                        )))
                    }
                    Some(_) => {}
                }
            }
            for (index, owner) in raw.owner_references.iter().enumerate() {
                if state.owned_by(&owner.id(), &id) {
                    return Err(ApiError::invalid(
                        listed("owner_references", index),
                        format!(
                            "resource {id} cannot be owned by {}: that would make it its own owner",
                            owner.id()
                        ),
                        "value_error",
                    ));
                }
            }
            let refs = collect_refs(&raw).unwrap_or_default();
            if let Some(cycle) = state.find_cycle(&id, &refs) {
                return Err(ApiError::invalid_body(
                    &["config"],
                    format!("dependency cycle: {}", cycle.join(" -> ")),
                    "value_error",
                ));
            }

            let now = Timestamp::now();
            let mut ops = Change::new();
            let previous = match state.resources.get(&id) {
                Some(existing) => {
                    let same = existing.raw.provider == raw.provider
                        && existing.raw.resource == raw.resource
                        && existing.raw.name == raw.name;
                    if !same {
                        return Err(ApiError::Conflict(format!(
                            "resource id {id} already belongs to {}/{}/{}",
                            existing.raw.provider, existing.raw.resource, existing.raw.name
                        )));
                    }
                    let busy = existing.event.is_some() || existing.in_flight;
                    if mode == ApplyMode::Child
                        && existing.raw.config == raw.config
                        && existing.raw.lifecycle_state != LifecycleState::Failed
                        && existing.raw.lifecycle_state != LifecycleState::Draft
                        && existing
                            .event
                            .as_ref()
                            .is_none_or(|e| e.event_type != EventType::Delete)
                    {
                        return Ok(existing.raw.clone());
                    }
                    if existing.deleting {
                        return Err(ApiError::Conflict(format!(
                            "resource {id} is being deleted; apply it again once it is gone"
                        )));
                    }
                    if busy {
                        return Err(ApiError::Conflict(format!(
                            "resource {id} is {}; apply again once it is ready or failed",
                            existing.raw.lifecycle_state
                        )));
                    }
                    Some(existing.raw.clone())
                }
                None => None,
            };
            let mut stored = RawResource {
                outputs: previous
                    .as_ref()
                    .map(|p| p.outputs.clone())
                    .unwrap_or_default(),
                error: previous.as_ref().and_then(|p| p.error.clone()),
                pending_event_id: None,
                provisioned: previous.as_ref().is_some_and(|p| p.provisioned),
                created_at: previous.as_ref().and_then(|p| p.created_at).or(Some(now)),
                updated_at: Some(now),
                ..raw
            };
            let event = (stored.lifecycle_state == LifecycleState::Pending)
                .then(|| change_event(&stored, previous.as_ref().map(|p| &p.config)));
            if event.is_some() {
                stored.error = None;
            }
            if let Some(old) = state.resources.remove(&id) {
                state.unlink(&id, &old.refs);
                let mut entry = Entry::new(stored, refs.clone());
                entry.watch = old.watch;
                entry.applied = old.applied;
                state.resources.insert(id.clone(), entry);
            } else {
                state
                    .resources
                    .insert(id.clone(), Entry::new(stored, refs.clone()));
            }
            state.link(&id, &refs);
            let Some(entry) = state.resources.get_mut(&id) else {
                return Err(ApiError::Internal(format!("resource {id} vanished")));
            };
            match event {
                Some(event) => entry.queue(&id, event, &mut ops),
                None => {
                    ops.push(entry.put(&id));
                    entry.notify();
                }
            }
            let result = entry.raw.clone();
            let receipt = self.inner.store.write_confirmed(ops);
            let spawn: Vec<String> = if state.claim(&id) {
                vec![id.clone()]
            } else {
                Vec::new()
            };
            (result, receipt, spawn)
        };
        self.spawn(spawn);
        store::confirmed(receipt).await.map_err(store_error)?;
        Ok(result)
    }

    /// The resource `id`.
    pub(crate) fn get(&self, id: &str) -> Result<RawResource, ApiError> {
        self.lock()
            .resources
            .get(id)
            .map(|entry| entry.raw.clone())
            .ok_or_else(|| ApiError::NotFound(format!("resource {id} not found")))
    }

    /// Resources matching every given filter, ordered by name.
    pub(crate) fn list(
        &self,
        provider: Option<&str>,
        resource: Option<&str>,
        tags: &[String],
    ) -> Vec<RawResource> {
        let mut out: Vec<RawResource> = self
            .lock()
            .resources
            .values()
            .map(|entry| &entry.raw)
            .filter(|raw| provider.is_none_or(|p| raw.provider == p))
            .filter(|raw| resource.is_none_or(|r| raw.resource == r))
            .filter(|raw| {
                tags.iter()
                    .all(|tag| raw.tags.as_ref().is_some_and(|have| have.contains(tag)))
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (&a.name, &a.provider, &a.resource).cmp(&(&b.name, &b.provider, &b.resource))
        });
        out
    }

    /// Deletes every resource of the provider `name` (see `ProviderRegistry::delete_resources`).
    async fn cascade(&self, name: &str) -> Result<u64, RegistryError> {
        let name = name.to_owned();
        let blocked = |message: String| RegistryError::Blocked {
            provider: name.clone(),
            message,
        };
        let mut deleted = 0;
        // Planned again after each round, for resources applied while it ran.
        loop {
            let plan = {
                let mut state = self.lock();
                let plan = state.deletion_plan(&name).map_err(blocked)?;
                // Nothing new may reference them while the plan runs.
                let members: Vec<String> =
                    plan.iter().flat_map(|id| state.owned_tree(id)).collect();
                state.set_deleting(&members, true);
                plan
            };
            if plan.is_empty() {
                return Ok(deleted);
            }
            for (index, id) in plan.iter().enumerate() {
                let outcome = self.delete(id).await;
                if matches!(&outcome, Err(err) if !matches!(err, ApiError::NotFound(_))) {
                    let mut state = self.lock();
                    let rest: Vec<String> = plan[index..]
                        .iter()
                        .flat_map(|id| state.owned_tree(id))
                        .collect();
                    state.set_deleting(&rest, false);
                }
                match outcome {
                    Ok((_, count)) => deleted += count,
                    // Deleted already, with the resource that owned it.
                    Err(ApiError::NotFound(_)) => {}
                    Err(ApiError::Conflict(message)) => return Err(blocked(message)),
                    Err(ApiError::Internal(message)) => return Err(RegistryError::Store(message)),
                    Err(err) => {
                        return Err(RegistryError::DeleteFailed {
                            provider: name.clone(),
                            message: err.to_string(),
                        })
                    }
                }
            }
        }
    }

    /// The dispatch slots of `provider`.
    fn permits(&self, provider: &str) -> Arc<Semaphore> {
        let mut permits = match self.inner.permits.lock() {
            Ok(permits) => permits,
            Err(poisoned) => poisoned.into_inner(),
        };
        permits
            .entry(provider.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(DISPATCH_CONCURRENCY)))
            .clone()
    }

    async fn run(self, id: String) {
        let provider = self
            .lock()
            .resources
            .get(&id)
            .map(|e| e.raw.provider.clone());
        let Some(provider) = provider else {
            if let Some(entry) = self.lock().resources.get_mut(&id) {
                entry.in_flight = false;
            }
            return;
        };
        let permits = self.permits(&provider);
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let prepared = {
            let mut state = self.lock();
            self.prepare(&mut state, &id)
        };
        let Run {
            request,
            event,
            provider: provider_name,
        } = match prepared {
            Prepared::Run(run) => *run,
            Prepared::Gone => {
                if let Some(entry) = self.lock().resources.get_mut(&id) {
                    entry.in_flight = false;
                }
                return;
            }
            Prepared::Unresolvable(event, message) => {
                self.finish(&id, &event, Err((message, 1, false)));
                return;
            }
        };
        let backend = Arc::new(EngineBackend {
            engine: self.clone(),
            owner: OwnerReference::new(
                provider_name.clone(),
                request.target.resource.clone(),
                request.target.name.clone(),
            ),
            permits,
            permit: Mutex::new(Some(permit)),
        });
        let timeout = self.inner.retry.handler_timeout;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let result = match self.provider(&provider_name) {
                Some(provider) => {
                    let dispatch = provider.dispatch(request.clone(), backend.clone());
                    match tokio::time::timeout(timeout, dispatch).await {
                        Ok(result) => result,
                        Err(_) => Err(DispatchError::Unavailable(format!(
                            "the {} handler did not finish within {} s",
                            request.event_type,
                            timeout.as_secs_f64()
                        ))),
                    }
                }
                None => Err(DispatchError::Unavailable(format!(
                    "provider {provider_name:?} is not hosted"
                ))),
            };
            match result {
                Ok(value) => break Ok(value),
                Err(err) => {
                    let retryable = is_retryable(&err);
                    if !retryable || attempt >= self.inner.retry.attempts {
                        break Err((err.to_string(), attempt, retryable));
                    }
                    tracing::debug!(resource = %id, attempt, error = %err, "retrying event");
                    tokio::time::sleep(self.inner.retry.delay(attempt)).await;
                    // An attempt that timed out while waiting on another resource had given
                    // its slot back; the next one runs with a slot again.
                    backend.ensure_permit().await;
                }
            }
        };
        drop(backend);
        self.finish(&id, &event, outcome);
    }

    fn prepare(&self, state: &mut State, id: &str) -> Prepared {
        let Some(entry) = state.resources.get(id) else {
            return Prepared::Gone;
        };
        let Some(event) = entry.event.clone() else {
            return Prepared::Gone;
        };
        let resolved = references::resolve(&entry.raw.config, &Lookups(state));
        let config = match (resolved, event.event_type) {
            (Ok(config), _) => config,
            // A delete gets the config last applied with success when references no longer
            // resolve, so that a resource whose reference broke can still be deleted.
            (Err(_), EventType::Delete) => entry
                .applied
                .clone()
                .unwrap_or_else(|| entry.raw.config.clone()),
            (Err(message), _) => return Prepared::Unresolvable(Box::new(event), message),
        };
        let previous_config = match (&event.event_type, &entry.applied, &event.previous_config) {
            (EventType::Update, Some(applied), _) => Some(applied.clone()),
            (EventType::Update, None, Some(previous)) => Some(
                references::resolve(previous, &Lookups(state)).unwrap_or_else(|_| config.clone()),
            ),
            _ => None,
        };
        let Some(entry) = state.resources.get_mut(id) else {
            return Prepared::Gone;
        };
        entry.raw.lifecycle_state = LifecycleState::Processing;
        entry.raw.updated_at = Some(Timestamp::now());
        entry.dispatched = Some(config.clone());
        self.inner.store.write(vec![entry.put(id)]);
        entry.notify();
        let request = DispatchRequest {
            event_type: event.event_type,
            target: Target {
                resource: entry.raw.resource.clone(),
                name: entry.raw.name.clone(),
                config,
                outputs: entry.raw.provisioned.then(|| entry.raw.outputs.clone()),
                tags: entry.raw.tags.clone(),
            },
            previous_config,
        };
        Prepared::Run(Box::new(Run {
            request,
            event,
            provider: entry.raw.provider.clone(),
        }))
    }

    fn finish(&self, id: &str, event: &OutboxEvent, outcome: Result<Value, (String, u32, bool)>) {
        let outcome = match (outcome, event.event_type) {
            (Ok(Value::Object(outputs)), _) => Ok(outputs),
            (Ok(Value::Null), _) => Ok(JsonObject::new()),
            (Ok(_), EventType::Delete) => Ok(JsonObject::new()),
            (Ok(other), _) => Err((
                format!(
                    "provider returned outputs that are not a JSON object: {}",
                    shorten(&other.to_string())
                ),
                1,
                false,
            )),
            (Err(err), _) => Err(err),
        };
        let mut ops = Change::new();
        let mut candidates: Vec<String> = Vec::new();
        let spawn = {
            let mut state = self.lock();
            let state = &mut *state;
            let Some(entry) = state.resources.get_mut(id) else {
                return;
            };
            entry.in_flight = false;
            entry.event = None;
            entry.raw.pending_event_id = None;
            entry.raw.updated_at = Some(Timestamp::now());
            ops.push(Op::DeleteEvent(event.event_id.clone()));
            match (outcome, event.event_type) {
                (Ok(_), EventType::Delete) => {
                    entry.watch.send_replace(Snapshot {
                        state: entry.raw.lifecycle_state,
                        error: None,
                        removed: true,
                    });
                    ops.push(Op::DeleteResource(id.to_owned()));
                    if let Some(entry) = state.resources.remove(id) {
                        state.unlink(id, &entry.refs);
                        candidates.extend(entry.refs);
                    }
                    candidates.extend(state.dependents_of(id));
                }
                (Ok(outputs), _) => {
                    let changed = entry.raw.outputs != outputs
                        || event
                            .previous_config
                            .as_ref()
                            .is_some_and(|previous| previous != &event.payload);
                    entry.raw.outputs = outputs;
                    entry.applied = entry.dispatched.take();
                    entry.raw.lifecycle_state = LifecycleState::Ready;
                    entry.raw.error = None;
                    entry.raw.provisioned = true;
                    let rerun = std::mem::take(&mut entry.rerun);
                    ops.push(entry.put(id));
                    entry.notify();
                    if changed {
                        candidates.extend(state.propagate(id, &mut ops));
                    }
                    if rerun {
                        if let Some(entry) = state.resources.get_mut(id) {
                            let event = change_event(&entry.raw, None);
                            entry.queue(id, event, &mut ops);
                        }
                        candidates.push(id.to_owned());
                    }
                    candidates.extend(state.dependents_of(id));
                }
                (Err((message, attempts, retryable)), event_type) => {
                    entry.raw.lifecycle_state = LifecycleState::Failed;
                    entry.raw.error = Some(message.clone());
                    entry.deleting = false;
                    let rerun = std::mem::take(&mut entry.rerun) && event_type != EventType::Delete;
                    ops.push(entry.put(id));
                    entry.notify();
                    tracing::warn!(resource = %id, event = %event_type, attempts, "event failed");
                    if retryable {
                        let dead = DeadLetterEvent {
                            event_id: event.event_id.clone(),
                            provider: event.provider.clone(),
                            resource_type: event.resource_type.clone(),
                            resource_name: event.resource_name.clone(),
                            event_type,
                            payload: event.payload.clone(),
                            error_message: message,
                            attempt_count: attempts,
                            failed_at: Timestamp::now(),
                        };
                        ops.push(Op::PutDeadLetter {
                            id: dead.event_id.clone(),
                            provider: dead.provider.clone(),
                            body: serde_json::to_string(&dead).unwrap_or_default(),
                        });
                        state.dead.insert(dead.event_id.clone(), dead);
                    }
                    if rerun {
                        if let Some(entry) = state.resources.get_mut(id) {
                            let event = change_event(&entry.raw, None);
                            entry.queue(id, event, &mut ops);
                        }
                        candidates.push(id.to_owned());
                    }
                }
            }
            self.inner.store.write(ops);
            let mut spawn = Vec::new();
            let mut seen = HashSet::new();
            for candidate in candidates {
                if seen.insert(candidate.clone()) && state.claim(&candidate) {
                    spawn.push(candidate);
                }
            }
            spawn
        };
        self.spawn(spawn);
    }

    /// Waits until the resource `id` reaches `target`, fails, is deleted, or `timeout` passes.
    pub(crate) async fn wait_for(
        &self,
        id: &str,
        target: LifecycleState,
        timeout: Duration,
    ) -> Result<WaitOutcome, BackendError> {
        let mut receiver = {
            let state = self.lock();
            match state.resources.get(id) {
                Some(entry) => entry.watch.subscribe(),
                None => {
                    return Err(BackendError::Refused(format!(
                        "resource {id} does not exist"
                    )))
                }
            }
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let snapshot = receiver.borrow_and_update().clone();
            if snapshot.removed {
                return Err(BackendError::Refused(format!("resource {id} was deleted")));
            }
            if snapshot.state == target {
                let outputs = self.lock().resources.get(id).map(|e| e.raw.outputs.clone());
                return Ok(WaitOutcome {
                    lifecycle_state: snapshot.state,
                    outputs,
                });
            }
            if snapshot.state == LifecycleState::Failed {
                return Err(BackendError::Failed {
                    resource_id: id.to_owned(),
                    message: snapshot.error.unwrap_or_default(),
                });
            }
            match tokio::time::timeout_at(deadline, receiver.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => {
                    return Err(BackendError::Refused(format!("resource {id} was deleted")))
                }
                Err(_) => {
                    return Err(BackendError::Timeout {
                        resource_id: id.to_owned(),
                        target,
                        timeout,
                    })
                }
            }
        }
    }

    /// Deletes the resource `id` after what it owns, running each one's `on_delete`, and
    /// returns it as it was with how many resources were deleted in all.
    ///
    /// The delete runs as a task of its own, so that it goes on to the end (and leaves no
    /// resource marked as being deleted) when the caller stops waiting, as an HTTP client
    /// that disconnects does.
    pub(crate) async fn delete(&self, id: &str) -> Result<(RawResource, u64), ApiError> {
        let engine = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move { engine.delete_tree(&id).await })
            .await
            .unwrap_or_else(|err| Err(ApiError::Internal(format!("the delete task failed: {err}"))))
    }

    async fn delete_tree(&self, id: &str) -> Result<(RawResource, u64), ApiError> {
        let (root, order) = {
            let mut state = self.lock();
            let Some(entry) = state.resources.get(id) else {
                return Err(ApiError::NotFound(format!("resource {id} not found")));
            };
            let root = entry.raw.clone();
            let order = state.owned_tree(id);
            let members: HashSet<&String> = order.iter().collect();
            for member in &order {
                let outside: Vec<String> = state
                    .dependents_of(member)
                    .into_iter()
                    .filter(|d| !members.contains(d))
                    .collect();
                if !outside.is_empty() {
                    return Err(ApiError::Conflict(format!(
                        "resource {member} is referenced by {}; delete those first",
                        outside.join(", ")
                    )));
                }
                if state.resources.get(member).is_some_and(|e| e.in_flight) {
                    return Err(ApiError::Conflict(format!(
                        "resource {member} is being processed; delete it once it settles"
                    )));
                }
            }
            // From here until each is gone, nothing new may reference any of them: the check
            // above holds while the children's `on_delete` run.
            state.set_deleting(&order, true);
            (root, order)
        };
        let mut count = 0;
        for (index, member) in order.iter().enumerate() {
            match self.delete_one(member).await {
                Ok(true) => count += 1,
                Ok(false) => {}
                Err(err) => {
                    self.lock().set_deleting(&order[index..], false);
                    return Err(err);
                }
            }
        }
        Ok((root, count))
    }

    async fn delete_one(&self, id: &str) -> Result<bool, ApiError> {
        let (receiver, receipt, spawn) = {
            let mut state = self.lock();
            let state = &mut *state;
            let Some(entry) = state.resources.get_mut(id) else {
                return Ok(false);
            };
            if entry.in_flight {
                return Err(ApiError::Conflict(format!(
                    "resource {id} is being processed; delete it once it settles"
                )));
            }
            let mut ops = Change::new();
            if let Some(event) = entry.event.take() {
                ops.push(Op::DeleteEvent(event.event_id));
            }
            if !entry.raw.provisioned {
                entry.watch.send_replace(Snapshot {
                    state: entry.raw.lifecycle_state,
                    error: None,
                    removed: true,
                });
                ops.push(Op::DeleteResource(id.to_owned()));
                if let Some(entry) = state.resources.remove(id) {
                    state.unlink(id, &entry.refs);
                }
                (None, self.inner.store.write_confirmed(ops), Vec::new())
            } else {
                let event = new_event(&entry.raw, EventType::Delete, None);
                entry.raw.error = None;
                entry.deleting = true;
                entry.queue(id, event, &mut ops);
                let receiver = entry.watch.subscribe();
                let receipt = self.inner.store.write_confirmed(ops);
                let spawn: Vec<String> = if state.claim(id) {
                    vec![id.to_owned()]
                } else {
                    Vec::new()
                };
                (Some(receiver), receipt, spawn)
            }
        };
        self.spawn(spawn);
        store::confirmed(receipt).await.map_err(store_error)?;
        let Some(mut receiver) = receiver else {
            return Ok(true);
        };
        loop {
            let snapshot = receiver.borrow_and_update().clone();
            if snapshot.removed {
                return Ok(true);
            }
            if snapshot.state == LifecycleState::Failed {
                return Err(ApiError::BadGateway(format!(
                    "deleting resource {id} failed: {}",
                    snapshot.error.unwrap_or_default()
                )));
            }
            if receiver.changed().await.is_err() {
                return Ok(true);
            }
        }
    }

    /// The target a provider's `logs`/`health` sees for the resource `id`.
    fn target(&self, id: &str) -> Result<(Arc<dyn HostedProvider>, Target), ApiError> {
        let state = self.lock();
        let entry = state
            .resources
            .get(id)
            .ok_or_else(|| ApiError::NotFound(format!("resource {id} not found")))?;
        let provider = self.provider(&entry.raw.provider).ok_or_else(|| {
            ApiError::BadGateway(format!("provider {:?} is not hosted", entry.raw.provider))
        })?;
        let config = references::resolve(&entry.raw.config, &Lookups(&state))
            .unwrap_or_else(|_| entry.raw.config.clone());
        Ok((
            provider,
            Target {
                resource: entry.raw.resource.clone(),
                name: entry.raw.name.clone(),
                config,
                outputs: entry.raw.provisioned.then(|| entry.raw.outputs.clone()),
                tags: entry.raw.tags.clone(),
            },
        ))
    }

    fn observer(&self, target: &Target, provider: &str) -> Arc<dyn RuntimeBackend> {
        Arc::new(EngineBackend {
            engine: self.clone(),
            owner: OwnerReference::new(provider, target.resource.clone(), target.name.clone()),
            permits: self.permits(provider),
            permit: Mutex::new(None),
        })
    }

    /// Asks the provider of `id` for its logs.
    pub(crate) async fn logs(
        &self,
        id: &str,
        since: Option<Timestamp>,
        tail: u32,
    ) -> Result<Vec<LogEntry>, ApiError> {
        let (provider, target) = self.target(id)?;
        let backend = self.observer(&target, provider.name());
        provider
            .logs(target, since, tail, backend)
            .await
            .map_err(|err| provider_error(id, "logs", err))
    }

    /// Asks the provider of `id` for its health.
    pub(crate) async fn health(&self, id: &str) -> Result<ResourceHealth, ApiError> {
        let (provider, target) = self.target(id)?;
        let backend = self.observer(&target, provider.name());
        provider
            .health(target, backend)
            .await
            .map_err(|err| provider_error(id, "health", err))
    }

    /// Dead-letter events, optionally of one provider, oldest first.
    pub(crate) fn dead_letters(&self, provider: Option<&str>) -> Vec<DeadLetterEvent> {
        let mut out: Vec<DeadLetterEvent> = self
            .lock()
            .dead
            .values()
            .filter(|d| provider.is_none_or(|p| d.provider == p))
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.failed_at, &a.event_id).cmp(&(b.failed_at, &b.event_id)));
        out
    }

    /// One dead-letter event.
    pub(crate) fn dead_letter(&self, event_id: &str) -> Result<DeadLetterEvent, ApiError> {
        self.lock()
            .dead
            .get(event_id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("dead-letter event {event_id} not found")))
    }

    /// Discards the dead-letter events that `filter` selects and returns how many.
    pub(crate) async fn delete_dead_letters(
        &self,
        filter: impl Fn(&DeadLetterEvent) -> bool,
    ) -> Result<u64, ApiError> {
        let receipt = {
            let mut state = self.lock();
            let doomed: Vec<String> = state
                .dead
                .values()
                .filter(|d| filter(d))
                .map(|d| d.event_id.clone())
                .collect();
            for id in &doomed {
                state.dead.remove(id);
            }
            let count = doomed.len() as u64;
            let ops: Change = doomed.into_iter().map(Op::DeleteDeadLetter).collect();
            (self.inner.store.write_confirmed(ops), count)
        };
        store::confirmed(receipt.0).await.map_err(store_error)?;
        Ok(receipt.1)
    }

    /// Queues a dead-letter event's resource again and returns the new event.
    pub(crate) async fn retry_dead_letter(&self, event_id: &str) -> Result<OutboxEvent, ApiError> {
        let (event, receipt, spawn) = {
            let mut state = self.lock();
            let state = &mut *state;
            let dead = state.dead.get(event_id).cloned().ok_or_else(|| {
                ApiError::NotFound(format!("dead-letter event {event_id} not found"))
            })?;
            let id = resource_id(&dead.provider, &dead.resource_type, &dead.resource_name);
            state.check_retry(&id, &dead)?;
            let entry = state.resources.get_mut(&id).ok_or_else(|| {
                ApiError::Conflict(format!(
                    "resource {id} of dead-letter event {event_id} no longer exists"
                ))
            })?;
            if entry.event.is_some() || entry.in_flight {
                return Err(ApiError::Conflict(format!(
                    "resource {id} is {}; retry once it settles",
                    entry.raw.lifecycle_state
                )));
            }
            let mut event = match dead.event_type {
                EventType::Delete => new_event(&entry.raw, EventType::Delete, None),
                _ => change_event(&entry.raw, None),
            };
            event.event_id = dead.event_id.clone();
            let mut ops = vec![Op::DeleteDeadLetter(dead.event_id.clone())];
            entry.raw.error = None;
            entry.deleting = dead.event_type == EventType::Delete;
            entry.queue(&id, event.clone(), &mut ops);
            state.dead.remove(event_id);
            let receipt = self.inner.store.write_confirmed(ops);
            let spawn: Vec<String> = if state.claim(&id) {
                vec![id]
            } else {
                Vec::new()
            };
            (event, receipt, spawn)
        };
        self.spawn(spawn);
        store::confirmed(receipt).await.map_err(store_error)?;
        Ok(event)
    }

    /// Retries every dead-letter event whose resource can be queued; returns how many were.
    pub(crate) async fn retry_all_dead_letters(&self) -> Result<u64, ApiError> {
        let ids: Vec<String> = self.lock().dead.keys().cloned().collect();
        let mut count = 0;
        for id in ids {
            match self.retry_dead_letter(&id).await {
                Ok(_) => count += 1,
                Err(ApiError::Internal(message)) => return Err(ApiError::Internal(message)),
                Err(_) => {}
            }
        }
        Ok(count)
    }
}

fn provider_error(id: &str, what: &str, err: DispatchError) -> ApiError {
    match err {
        DispatchError::Lifecycle(LifecycleError::NotSupported(_)) => {
            ApiError::NotFound(format!("{what} are not supported for resource {id}"))
        }
        other => ApiError::BadGateway(format!("provider failed to report {what} of {id}: {other}")),
    }
}

/// The ids a resource references: in its config and in its `dependencies`, deduplicated.
fn collect_refs(raw: &RawResource) -> Result<Vec<String>, String> {
    let mut ids: Vec<String> = references::find(&raw.config)
        .map_err(|(_, msg)| msg)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.extend(raw.dependencies.iter().map(|d| d.id()));
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// What a handler reaches the engine through while its event runs.
struct EngineBackend {
    engine: Engine,
    owner: OwnerReference,
    /// The dispatch slots of the provider running the event.
    permits: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl EngineBackend {
    /// Takes a dispatch slot again when this backend's event does not hold one.
    async fn ensure_permit(&self) {
        let held = match self.permit.lock() {
            Ok(slot) => slot.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        };
        if held {
            return;
        }
        if let Ok(permit) = self.permits.clone().acquire_owned().await {
            match self.permit.lock() {
                Ok(mut slot) => *slot = Some(permit),
                Err(poisoned) => *poisoned.into_inner() = Some(permit),
            }
        }
    }
}

impl RuntimeBackend for EngineBackend {
    fn apply_resource(&self, child: ChildResource) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let mut raw = RawResource::new(child.provider, child.resource, child.name);
            raw.config = child.config;
            raw.owner_references = if child.owner_references.is_empty() {
                vec![self.owner.clone()]
            } else {
                child.owner_references
            };
            raw.tags = child.tags;
            raw.lifecycle_state = LifecycleState::Pending;
            self.engine
                .apply(raw, ApplyMode::Child)
                .await
                .map(|_| ())
                .map_err(|err| BackendError::Refused(err.to_string()))
        })
    }

    fn wait_for_state(
        &self,
        resource_id: String,
        target: LifecycleState,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<WaitOutcome, BackendError>> {
        Box::pin(async move {
            // Give the dispatch slot back while waiting, so that the awaited resource can run
            // even when every slot is held by a waiting parent.
            let held = match self.permit.lock() {
                Ok(mut slot) => slot.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            let had_permit = held.is_some();
            drop(held);
            let result = self.engine.wait_for(&resource_id, target, timeout).await;
            if had_permit {
                if let Ok(permit) = self.permits.clone().acquire_owned().await {
                    if let Ok(mut slot) = self.permit.lock() {
                        *slot = Some(permit);
                    }
                }
            }
            result
        })
    }
}

impl ProviderRegistry for Engine {
    fn register(&self, provider: Arc<dyn HostedProvider>) -> Result<(), RegistryError> {
        if crate::builtin::is_reserved(provider.name()) {
            return Err(RegistryError::Reserved {
                provider: provider.name().to_owned(),
            });
        }
        self.host(provider, false);
        Ok(())
    }

    fn register_new(&self, provider: Arc<dyn HostedProvider>) -> Result<(), RegistryError> {
        let name = provider.name().to_owned();
        if crate::builtin::is_reserved(&name) {
            return Err(RegistryError::Reserved { provider: name });
        }
        if self.host(provider, true) {
            Ok(())
        } else {
            Err(RegistryError::AlreadyHosted { provider: name })
        }
    }

    fn unregister(&self, name: &str) -> bool {
        let mut providers = match self.inner.providers.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        providers.definitions.retain(|(p, _), _| p != name);
        providers.hosted.remove(name).is_some()
    }

    fn provider_names(&self) -> Vec<String> {
        let providers = match self.inner.providers.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        providers.hosted.keys().cloned().collect()
    }

    fn resource_count(&self, name: &str) -> BoxFuture<'_, Result<u64, RegistryError>> {
        let count = self
            .lock()
            .resources
            .values()
            .filter(|entry| entry.raw.provider == name)
            .count() as u64;
        Box::pin(async move { Ok(count) })
    }

    fn delete_resources(&self, name: &str) -> BoxFuture<'_, Result<u64, RegistryError>> {
        let engine = self.clone();
        let name = name.to_owned();
        // A task of its own, so that the cascade goes on to the end when the caller stops
        // waiting and leaves nothing marked as being deleted.
        Box::pin(async move {
            let provider = name.clone();
            tokio::spawn(async move { engine.cascade(&name).await })
                .await
                .unwrap_or_else(|err| {
                    Err(RegistryError::DeleteFailed {
                        provider,
                        message: format!("the delete task failed: {err}"),
                    })
                })
        })
    }
}
