//! Framing of the worker protocol: a 4-byte big-endian length, then that many bytes of one
//! UTF-8 JSON document.
//!
//! The length is checked against [`MAX_FRAME_LEN`] before anything is allocated, so a peer
//! cannot make the reader reserve more than that.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame body allowed: 64 MiB.
pub const MAX_FRAME_LEN: usize = 64 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The length prefix announces more than [`MAX_FRAME_LEN`] bytes.
    #[error("frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({read} of {expected} bytes read)")]
    Truncated {
        /// Bytes announced (including the 4-byte prefix when it was the prefix that broke off).
        expected: usize,
        /// Bytes received.
        read: usize,
    },
    /// The body is not UTF-8.
    #[error("frame body is not UTF-8: {0}")]
    InvalidUtf8(#[from] std::str::Utf8Error),
    /// The body is not one JSON document.
    #[error("frame body is not JSON: {0}")]
    InvalidJson(String),
}

/// Reads one frame body; `Ok(None)` when the stream ended cleanly between frames.
///
/// # Errors
///
/// [`FrameError::TooLarge`] before allocating when the prefix exceeds [`MAX_FRAME_LEN`],
/// [`FrameError::Truncated`] when the stream ends inside a frame, [`FrameError::Io`] when
/// reading fails.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        let n = reader.read(&mut prefix[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated {
                expected: 4,
                read: filled,
            });
        }
        filled += n;
    }

    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len: len as u64 });
    }

    let mut body = vec![0u8; len];
    let mut read = 0;
    while read < len {
        let n = reader.read(&mut body[read..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                expected: len,
                read,
            });
        }
        read += n;
    }
    Ok(Some(body))
}

/// Decodes a frame body as a JSON document.
///
/// # Errors
///
/// [`FrameError::InvalidUtf8`] or [`FrameError::InvalidJson`].
pub fn decode_body(body: &[u8]) -> Result<serde_json::Value, FrameError> {
    let text = std::str::from_utf8(body)?;
    serde_json::from_str(text).map_err(|err| FrameError::InvalidJson(err.to_string()))
}

/// Prefixes `body` with its length.
///
/// # Errors
///
/// [`FrameError::TooLarge`] when `body` exceeds [`MAX_FRAME_LEN`].
///
/// ```
/// let frame = pragma_sdk::worker::frame::encode_frame(b"{}").unwrap();
/// assert_eq!(frame, [0, 0, 0, 2, b'{', b'}']);
/// ```
pub fn encode_frame(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: body.len() as u64,
        });
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    Ok(frame)
}

/// Writes one frame and flushes it.
///
/// # Errors
///
/// [`FrameError::TooLarge`] when `body` exceeds [`MAX_FRAME_LEN`], [`FrameError::Io`] when
/// writing fails.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> Result<(), FrameError> {
    let frame = encode_frame(body)?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_and_ends_cleanly() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, br#"{"x":1}"#).await.unwrap();
        drop(a);
        let body = read_frame(&mut b).await.unwrap().unwrap();
        assert_eq!(decode_body(&body).unwrap()["x"], 1);
        assert!(read_frame(&mut b).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn refuses_oversized_prefix() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let len = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        a.write_all(&len).await.unwrap();
        let err = read_frame(&mut b).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len } if len == MAX_FRAME_LEN as u64 + 1));
    }

    #[tokio::test]
    async fn reports_truncation() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&[0, 0, 0, 9, b'{']).await.unwrap();
        drop(a);
        let err = read_frame(&mut b).await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::Truncated {
                expected: 9,
                read: 1
            }
        ));
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(matches!(
            decode_body(&[0xff, 0xfe]),
            Err(FrameError::InvalidUtf8(_))
        ));
        assert!(matches!(
            decode_body(b"{nope"),
            Err(FrameError::InvalidJson(_))
        ));
    }
}
