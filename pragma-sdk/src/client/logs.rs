//! [`BuildLogStream`]: the lines of a build log as they arrive.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use reqwest::Method;

use crate::client::Error;

/// The longest line kept whole; longer lines are yielded in pieces of this size.
const MAX_LINE: usize = 1 << 20;

/// The lines of a build log, each yielded as soon as its newline arrives.
///
/// Returned by [`AsyncPragmaClient::stream_build_logs`](crate::AsyncPragmaClient::stream_build_logs).
/// After an item that is an error the stream ends.
pub struct BuildLogStream {
    inner: BoxStream<'static, Result<String, Error>>,
}

impl fmt::Debug for BuildLogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildLogStream").finish_non_exhaustive()
    }
}

struct LineState {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    method: Method,
    url: String,
    idle: Duration,
    partial: Vec<u8>,
    ready: VecDeque<String>,
    finished: bool,
}

impl LineState {
    fn push_chunk(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|byte| *byte == b'\n') {
            self.partial.extend_from_slice(&rest[..newline]);
            self.emit_partial();
            rest = &rest[newline + 1..];
        }
        self.partial.extend_from_slice(rest);
        while self.partial.len() > MAX_LINE {
            let tail = self.partial.split_off(MAX_LINE);
            let piece = std::mem::replace(&mut self.partial, tail);
            self.ready
                .push_back(String::from_utf8_lossy(&piece).into_owned());
        }
    }

    fn emit_partial(&mut self) {
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.ready
            .push_back(String::from_utf8_lossy(&line).into_owned());
    }

    async fn next_line(mut self) -> Option<(Result<String, Error>, LineState)> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some((Ok(line), self));
            }
            if self.finished {
                return None;
            }
            match tokio::time::timeout(self.idle, self.body.next()).await {
                Err(_) => {
                    self.finished = true;
                    let err = Error::Timeout {
                        method: self.method.to_string(),
                        url: self.url.clone(),
                    };
                    return Some((Err(err), self));
                }
                Ok(Some(Ok(chunk))) => self.push_chunk(&chunk),
                Ok(Some(Err(err))) => {
                    self.finished = true;
                    let err = Error::from_transport(self.method.as_str(), &self.url, err);
                    return Some((Err(err), self));
                }
                Ok(None) => {
                    self.finished = true;
                    if !self.partial.is_empty() {
                        self.emit_partial();
                    }
                }
            }
        }
    }
}

impl BuildLogStream {
    pub(crate) fn new(
        method: Method,
        url: String,
        response: reqwest::Response,
        idle: Duration,
    ) -> Self {
        let state = LineState {
            body: response.bytes_stream().boxed(),
            method,
            url,
            idle,
            partial: Vec::new(),
            ready: VecDeque::new(),
            finished: false,
        };
        BuildLogStream {
            inner: stream::unfold(state, LineState::next_line).boxed(),
        }
    }
}

impl Stream for BuildLogStream {
    type Item = Result<String, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
