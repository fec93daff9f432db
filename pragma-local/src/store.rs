//! Persistence: resources, queued events and dead-letter events in SQLite (WAL mode), written
//! by one dedicated thread so that no SQLite call runs on the async executor.
//!
//! The engine keeps the authoritative copy of everything in memory and sends each state change
//! here as one [`Change`]: a list of row writes applied in one transaction. The writer thread
//! drains whatever changes are waiting and commits them together (each change stays atomic),
//! which keeps the cost per change low under load.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

/// How many changes the writer commits in one transaction at most.
const MAX_BATCH: usize = 512;

/// Why the store could not be opened or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {message}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Another process (or platform) has the data directory open.
    #[error("data directory {path} is in use by another pragma-local; stop it first, or choose another --data-dir")]
    InUse {
        /// The directory.
        path: PathBuf,
    },
    /// SQLite failed.
    #[error("sqlite error: {0}")]
    Sqlite(String),
    /// A stored row does not decode.
    #[error("stored {table} row {key:?} is corrupt: {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The writer thread is gone.
    #[error("the store's writer thread has stopped")]
    Stopped,
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Sqlite(err.to_string())
    }
}

/// One row write.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Inserts or replaces a resource row.
    PutResource {
        id: String,
        provider: String,
        body: String,
    },
    /// Removes a resource row.
    DeleteResource(String),
    /// Inserts or replaces a queued event.
    PutEvent {
        id: String,
        resource_id: String,
        body: String,
    },
    /// Removes a queued event.
    DeleteEvent(String),
    /// Inserts or replaces a dead-letter event.
    PutDeadLetter {
        id: String,
        provider: String,
        body: String,
    },
    /// Removes a dead-letter event.
    DeleteDeadLetter(String),
}

/// One state change: row writes committed together.
pub(crate) type Change = Vec<Op>;

enum Command {
    Write(Change, Option<oneshot::Sender<Result<(), StoreError>>>),
}

/// What the store held when it was opened.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// `(id, body)` of every resource.
    pub resources: Vec<(String, String)>,
    /// `(id, body)` of every queued event.
    pub events: Vec<(String, String)>,
    /// `(id, body)` of every dead-letter event.
    pub dead_letters: Vec<(String, String)>,
}

/// The handle through which the engine writes; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    sender: mpsc::Sender<Command>,
}

/// A pending write's completion.
pub(crate) type Receipt = oneshot::Receiver<Result<(), StoreError>>;

/// How long opening a data directory waits for another platform in this or another process
/// to let go of it (one shutting down as the next starts, say).
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Creates `dir` if need be (readable by its owner only, since it holds secrets) and takes
/// the lock that keeps a second platform out of it while the returned file is open.
fn lock_data_dir(dir: &Path) -> Result<File, StoreError> {
    let data_dir_error = |err: std::io::Error| StoreError::DataDir {
        path: dir.to_path_buf(),
        message: err.to_string(),
    };
    crate::dirs::create_private(dir).map_err(data_dir_error)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(data_dir_error)?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    path: dir.to_path_buf(),
                })
            }
            Err(TryLockError::Error(err)) => return Err(data_dir_error(err)),
        }
    }
}

fn open_connection(dir: Option<&Path>) -> Result<(Connection, Option<File>), StoreError> {
    let (connection, lock) = match dir {
        Some(dir) => {
            let lock = lock_data_dir(dir)?;
            let connection = Connection::open(dir.join("pragma.db"))?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", "NORMAL")?;
            (connection, Some(lock))
        }
        None => (Connection::open_in_memory()?, None),
    };
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS resources (
             id TEXT PRIMARY KEY NOT NULL,
             provider TEXT NOT NULL,
             body TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS events (
             id TEXT PRIMARY KEY NOT NULL,
             resource_id TEXT NOT NULL,
             body TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS dead_letters (
             id TEXT PRIMARY KEY NOT NULL,
             provider TEXT NOT NULL,
             body TEXT NOT NULL
         );",
    )?;
    Ok((connection, lock))
}

fn load_table(connection: &Connection, table: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut statement = connection.prepare(&format!("SELECT id, body FROM {table} ORDER BY id"))?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}

fn apply(connection: &mut Connection, changes: &[Change]) -> Result<(), StoreError> {
    let transaction = connection.transaction()?;
    for op in changes.iter().flatten() {
        match op {
            Op::PutResource { id, provider, body } => {
                transaction
                    .prepare_cached(
                        "INSERT OR REPLACE INTO resources (id, provider, body) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![id, provider, body])?;
            }
            Op::DeleteResource(id) => {
                transaction
                    .prepare_cached("DELETE FROM resources WHERE id = ?1")?
                    .execute(params![id])?;
            }
            Op::PutEvent {
                id,
                resource_id,
                body,
            } => {
                transaction
                    .prepare_cached(
                        "INSERT OR REPLACE INTO events (id, resource_id, body) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![id, resource_id, body])?;
            }
            Op::DeleteEvent(id) => {
                transaction
                    .prepare_cached("DELETE FROM events WHERE id = ?1")?
                    .execute(params![id])?;
            }
            Op::PutDeadLetter { id, provider, body } => {
                transaction
                    .prepare_cached(
                        "INSERT OR REPLACE INTO dead_letters (id, provider, body) \
                         VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![id, provider, body])?;
            }
            Op::DeleteDeadLetter(id) => {
                transaction
                    .prepare_cached("DELETE FROM dead_letters WHERE id = ?1")?
                    .execute(params![id])?;
            }
        }
    }
    transaction.commit()?;
    Ok(())
}

fn run_writer(mut connection: Connection, receiver: mpsc::Receiver<Command>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut changes = Vec::with_capacity(batch.len());
        let mut waiters = Vec::new();
        for Command::Write(change, waiter) in batch {
            changes.push(change);
            waiters.extend(waiter);
        }
        let result = apply(&mut connection, &changes);
        if let Err(err) = &result {
            tracing::error!(error = %err, changes = changes.len(), "store write failed");
        }
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
    }
}

impl Store {
    /// Opens (creating if needed) `pragma.db` in `dir`, or an in-memory database when `dir` is
    /// `None`, loads what it holds, and starts the writer thread.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the directory or database cannot be opened or read.
    pub(crate) fn open(dir: Option<&Path>) -> Result<(Store, Loaded), StoreError> {
        let (connection, lock) = open_connection(dir)?;
        let loaded = Loaded {
            resources: load_table(&connection, "resources")?,
            events: load_table(&connection, "events")?,
            dead_letters: load_table(&connection, "dead_letters")?,
        };
        let (sender, receiver) = mpsc::channel();
        thread::Builder::new()
            .name("pragma-store".to_owned())
            .spawn(move || {
                run_writer(connection, receiver);
                // The data directory stays locked until the last write is done.
                drop(lock);
            })
            .map_err(|err| StoreError::Sqlite(format!("cannot start writer thread: {err}")))?;
        Ok((Store { sender }, loaded))
    }

    /// Queues `change` without waiting for it to be committed.
    pub(crate) fn write(&self, change: Change) {
        if self.sender.send(Command::Write(change, None)).is_err() {
            tracing::error!("store writer is gone; a change was not persisted");
        }
    }

    /// Queues `change` and returns a receipt that completes once it is committed.
    pub(crate) fn write_confirmed(&self, change: Change) -> Receipt {
        let (sender, receiver) = oneshot::channel();
        if let Err(mpsc::SendError(Command::Write(_, Some(waiter)))) =
            self.sender.send(Command::Write(change, Some(sender)))
        {
            let _ = waiter.send(Err(StoreError::Stopped));
        }
        receiver
    }
}

/// Waits for a receipt.
///
/// # Errors
///
/// The store's error when the change was not committed.
pub(crate) async fn confirmed(receipt: Receipt) -> Result<(), StoreError> {
    receipt.await.unwrap_or(Err(StoreError::Stopped))
}
