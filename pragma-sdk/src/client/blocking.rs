//! [`PragmaClient`]: the blocking face of the client.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;

use crate::client::{AsyncPragmaClient, BuildLogStream, ClientBuilder, Error};

/// The runtime the blocking client drives its requests on.
///
/// Dropped with `shutdown_background`, so the last clone of a client may be dropped anywhere,
/// also inside an asynchronous context.
struct BlockingRuntime {
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for BlockingRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The blocking client of the platform's HTTP API: the methods of [`AsyncPragmaClient`],
/// without `async`.
///
/// It owns a small runtime whose worker thread drives the connections; each call blocks the
/// calling thread until its answer is in. Cheap to clone: clones share the runtime and the
/// connection pool.
///
/// Called from inside an asynchronous runtime, a call runs on a helper thread instead of
/// panicking, but still blocks the calling task: prefer [`AsyncPragmaClient`] there.
///
/// ```no_run
/// use pragma_sdk::client::ListFilter;
/// use pragma_sdk::ClientBuilder;
///
/// let client = ClientBuilder::new().build_blocking()?;
/// for resource in client.list_resources(&ListFilter::new())? {
///     println!("{}", resource.id());
/// }
/// # Ok::<(), pragma_sdk::Error>(())
/// ```
#[derive(Clone)]
pub struct PragmaClient {
    client: AsyncPragmaClient,
    runtime: Arc<BlockingRuntime>,
}

impl fmt::Debug for PragmaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PragmaClient").field(&self.client).finish()
    }
}

impl PragmaClient {
    pub(crate) fn from_builder(builder: ClientBuilder) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pragma-client")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let client = builder.build()?;
        Ok(PragmaClient {
            client,
            runtime: Arc::new(BlockingRuntime {
                handle: runtime.handle().clone(),
                runtime: Some(runtime),
            }),
        })
    }

    /// A client with the default settings (see [`ClientBuilder`]).
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build_blocking`].
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::new().build_blocking()
    }

    /// The asynchronous client this one drives; it shares the connection pool.
    pub fn asynchronous(&self) -> &AsyncPragmaClient {
        &self.client
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.client.base_url()
    }

    /// The context whose token the client uses.
    pub fn context(&self) -> &str {
        self.client.context()
    }

    /// Whether the client sends a token.
    pub fn has_token(&self) -> bool {
        self.client.has_token()
    }

    /// Runs `future` to completion on the client's runtime.
    pub(crate) fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let handle = &self.runtime.handle;
        if tokio::runtime::Handle::try_current().is_err() {
            return handle.block_on(future);
        }
        std::thread::scope(
            |scope| match scope.spawn(|| handle.block_on(future)).join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            },
        )
    }

    /// Reads the log of one build line by line, as the server sends it.
    ///
    /// The blocking form of [`AsyncPragmaClient::stream_build_logs`]: each
    /// [`Iterator::next`] waits for the next line, without buffering the whole body.
    ///
    /// # Errors
    ///
    /// As [`AsyncPragmaClient::stream_build_logs`].
    ///
    /// ```no_run
    /// # fn run(client: pragma_sdk::PragmaClient) -> Result<(), pragma_sdk::Error> {
    /// for line in client.stream_build_logs("mycloud", "20260102.030405")? {
    ///     println!("{}", line?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream_build_logs(
        &self,
        provider_id: &str,
        version: &str,
    ) -> Result<BuildLogLines, Error> {
        let stream = self.block_on(self.client.stream_build_logs(provider_id, version))?;
        Ok(BuildLogLines {
            stream,
            client: self.clone(),
        })
    }
}

/// The lines of a build log, read as they arrive; from [`PragmaClient::stream_build_logs`].
///
/// After an item that is an error the iterator ends.
#[derive(Debug)]
pub struct BuildLogLines {
    stream: BuildLogStream,
    client: PragmaClient,
}

impl Iterator for BuildLogLines {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let stream = &mut self.stream;
        self.client.block_on(stream.next())
    }
}
