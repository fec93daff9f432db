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

/// Whether `byte` continues a UTF-8 character rather than starting one.
fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
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
            // Cut where a character starts (at most three bytes back), so that no character
            // is split across two pieces.
            let mut cut = MAX_LINE;
            while cut > MAX_LINE - 3 && is_continuation(self.partial[cut]) {
                cut -= 1;
            }
            let tail = self.partial.split_off(cut);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> LineState {
        LineState {
            body: stream::empty().boxed(),
            method: Method::GET,
            url: String::new(),
            idle: Duration::from_secs(1),
            partial: Vec::new(),
            ready: VecDeque::new(),
            finished: false,
        }
    }

    #[test]
    fn a_long_line_is_cut_between_characters() {
        let mut lines = state();
        // Three-byte characters, so that a cut at exactly MAX_LINE would split one.
        let line = "€".repeat(MAX_LINE / 3 + 10);
        lines.push_chunk(line.as_bytes());
        lines.push_chunk(b"\nnext\n");
        let pieces: Vec<String> = lines.ready.drain(..).collect();
        assert_eq!(
            pieces.len(),
            3,
            "two pieces of the long line, then the next"
        );
        assert!(pieces.iter().all(|p| !p.contains('\u{fffd}')));
        assert_eq!(pieces[0].len() + pieces[1].len(), line.len());
        assert_eq!(format!("{}{}", pieces[0], pieces[1]), line);
        assert_eq!(pieces[2], "next");
    }
}
