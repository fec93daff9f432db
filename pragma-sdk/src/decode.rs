//! JSON decoding that names the path of the value that failed.
//!
//! Decoding runs serde_json directly first, so the common case costs what serde_json costs;
//! only when that fails is the input decoded again with path tracking, to say where.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON document that did not decode into the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The JSON path of the offending value (`[3].config.size_gb`), `.` for the root.
    pub path: String,
    /// What serde reported.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.path, self.message)
    }
}

impl std::error::Error for DecodeError {}

fn path_error<E: fmt::Display>(err: serde_path_to_error::Error<E>) -> DecodeError {
    let path = match err.path().to_string() {
        path if path.is_empty() || path == "?" => ".".to_owned(),
        path => path,
    };
    DecodeError {
        path,
        message: err.into_inner().to_string(),
    }
}

/// Decodes `bytes` as JSON into `T`.
///
/// # Errors
///
/// A [`DecodeError`] naming the path of the first value that did not fit.
///
/// ```
/// let err = pragma_sdk::decode::from_slice::<Vec<u32>>(br#"[1, "two"]"#).unwrap_err();
/// assert_eq!(err.path, "[1]");
///
/// let err = pragma_sdk::decode::from_slice::<Vec<u32>>(b"not json").unwrap_err();
/// assert_eq!(err.path, ".");
///
/// let err = pragma_sdk::decode::from_slice::<Vec<u32>>(b"[1, 2] <html>").unwrap_err();
/// assert!(err.message.contains("trailing characters"), "{err}");
/// ```
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) => {
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
            // The value decoded, so what the first attempt refused is what follows it.
            deserializer.end().map_err(|err| DecodeError {
                path: ".".to_owned(),
                message: err.to_string(),
            })?;
            Ok(value)
        }
    }
}

/// Decodes a JSON value into `T`.
///
/// # Errors
///
/// A [`DecodeError`] naming the path of the first value that did not fit.
///
/// ```
/// let value = serde_json::json!({"port": "eighty"});
/// #[derive(serde::Deserialize, Debug)]
/// struct Outputs { port: u16 }
/// let err = pragma_sdk::decode::from_value::<Outputs>(value).unwrap_err();
/// assert_eq!(err.path, "port");
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, DecodeError> {
    match serde_path_to_error::deserialize(value) {
        Ok(decoded) => Ok(decoded),
        Err(err) => Err(path_error(err)),
    }
}
