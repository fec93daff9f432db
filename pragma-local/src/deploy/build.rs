//! Running `cargo build --release` on pushed code, with its output kept as a build log that
//! readers can follow while it grows.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

/// The output of one build, growing while it runs.
#[derive(Debug)]
pub(crate) struct BuildLog {
    lines: Mutex<Vec<String>>,
    // The number of lines so far, and whether the build is over.
    progress: watch::Sender<(usize, bool)>,
}

impl BuildLog {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(BuildLog {
            lines: Mutex::new(Vec::new()),
            progress: watch::channel((0, false)).0,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn push(&self, line: impl Into<String>) {
        let count = {
            let mut lines = self.lock();
            lines.push(line.into());
            lines.len()
        };
        self.progress.send_modify(|p| p.0 = count);
    }

    pub(crate) fn close(&self) {
        self.progress.send_modify(|p| p.1 = true);
    }

    pub(crate) fn text(&self) -> String {
        let lines = self.lock();
        let mut text = String::new();
        for line in lines.iter() {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// The log from its first line, following new lines until the build is over.
    pub(crate) fn follow(
        self: Arc<Self>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        let progress = self.progress.subscribe();
        futures_util::stream::unfold(
            (self, progress, 0usize),
            |(log, mut progress, sent)| async move {
                loop {
                    let chunk = {
                        let lines = log.lock();
                        if lines.len() > sent {
                            let mut text = String::new();
                            for line in &lines[sent..] {
                                text.push_str(line);
                                text.push('\n');
                            }
                            Some((text, lines.len()))
                        } else {
                            None
                        }
                    };
                    if let Some((text, count)) = chunk {
                        return Some((Ok(Bytes::from(text)), (log, progress, count)));
                    }
                    if progress.borrow().1 {
                        return None;
                    }
                    if progress.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )
    }
}

/// How builds run.
#[derive(Debug, Clone)]
pub(crate) struct Builder {
    pub cargo: PathBuf,
    pub target_dir: PathBuf,
}

/// Where the SDK this platform was built from lives, for `[patch]`ing pushed crates.
fn sdk_patches() -> Vec<String> {
    let sdk = PathBuf::from(pragma_sdk::worker::SDK_SOURCE_DIR);
    let mut patches = Vec::new();
    if sdk.join("Cargo.toml").is_file() {
        patches.push(format!(
            "patch.crates-io.pragma-sdk.path={:?}",
            sdk.display().to_string()
        ));
    }
    if let Some(derive) = sdk.parent().map(|p| p.join("pragma-derive")) {
        if derive.join("Cargo.toml").is_file() {
            patches.push(format!(
                "patch.crates-io.pragma-derive.path={:?}",
                derive.display().to_string()
            ));
        }
    }
    patches
}

/// Keeps the pushed crate out of any workspace around the build directory.
fn detach_from_workspace(manifest: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(manifest)?;
    if !text.contains("[workspace") && !text.contains("workspace =") {
        std::fs::write(manifest, format!("{text}\n[workspace]\n"))?;
    }
    Ok(())
}

impl Builder {
    /// Builds the crate in `source` and returns its binary; every line of cargo's output goes
    /// to `log`.
    pub(crate) async fn build(&self, source: &Path, log: &BuildLog) -> Result<PathBuf, String> {
        let manifest = source.join("Cargo.toml");
        detach_from_workspace(&manifest).map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
        let mut command = Command::new(&self.cargo);
        command
            .arg("build")
            .arg("--release")
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(&manifest);
        for patch in sdk_patches() {
            command.arg("--config").arg(patch);
        }
        command
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .current_dir(source)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        log.push(format!(
            "$ cargo build --release (target dir {})",
            self.target_dir.display()
        ));
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.cargo.display()))?;

        let stderr = child.stderr.take();
        let stdout = child.stdout.take();
        let stderr_lines = async {
            if let Some(stderr) = stderr {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log.push(line);
                }
            }
        };
        let manifest_text = manifest.display().to_string();
        let artifacts = async {
            let mut binary = None;
            if let Some(stdout) = stdout {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                        log.push(line);
                        continue;
                    };
                    let ours = message["manifest_path"].as_str() == Some(manifest_text.as_str());
                    if message["reason"] == "compiler-artifact" && ours {
                        if let Some(exe) = message["executable"].as_str() {
                            binary = Some(PathBuf::from(exe));
                        }
                    }
                }
            }
            binary
        };
        let ((), binary) = tokio::join!(stderr_lines, artifacts);
        let status = child
            .wait()
            .await
            .map_err(|e| format!("cannot wait for cargo: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build failed ({status})"));
        }
        binary.ok_or_else(|| "the crate builds no binary".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn followers_see_lines_as_they_come_and_stop_at_the_end() {
        let log = BuildLog::new();
        log.push("one");
        let mut stream = Box::pin(log.clone().follow());
        assert_eq!(stream.next().await.unwrap().unwrap(), "one\n");
        log.push("two");
        assert_eq!(stream.next().await.unwrap().unwrap(), "two\n");
        log.close();
        assert!(stream.next().await.is_none());
        assert_eq!(log.text(), "one\ntwo\n");
    }
}
