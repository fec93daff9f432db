//! Running `cargo build --release` on pushed code, with its output kept as a build log that
//! readers can follow while it grows. Cargo runs in a process group of its own, so that a
//! build that times out or is cancelled is killed together with the compilers it started.
//! Clients read build logs, so the server's directories in them are replaced by placeholders.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

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

    /// Waits until the log is closed.
    pub(crate) async fn closed(&self) {
        let mut progress = self.progress.subscribe();
        // The sender lives in `self`: waiting cannot fail while it is borrowed.
        let _ = progress.wait_for(|p| p.1).await;
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
    /// Where pushed code and build state live (the data dir, or a scratch dir), shown as
    /// `<data>` in logs.
    pub data_root: PathBuf,
    /// How long one build may run before it is killed.
    pub timeout: Duration,
}

/// Where the SDK this platform was built from lives, for `[patch]`ing pushed crates.
fn sdk_dir() -> PathBuf {
    PathBuf::from(pragma_sdk::worker::SDK_SOURCE_DIR)
}

/// The `--config` values that `[patch]` pushed crates with the SDK in [`sdk_dir`].
fn sdk_patches() -> Vec<String> {
    let sdk = sdk_dir();
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

/// Rewrites the server's directories in cargo's output to short placeholders, so that build
/// logs, which clients read, do not show where the platform keeps its files.
#[derive(Debug)]
pub(crate) struct PathScrubber {
    // Longest prefix first, so that a directory inside another gets its own placeholder.
    prefixes: Vec<(String, &'static str)>,
}

impl PathScrubber {
    /// Placeholders for the build directory (`<build>`), the target dir (`<target>`), the
    /// platform's data (`<data>`), the SDK's workspace (`<sdk>`) and the home directory (`~`).
    pub(crate) fn new(source: &Path, target_dir: &Path, data_root: &Path) -> Self {
        let mut prefixes = Vec::new();
        let mut add = |path: &Path, placeholder: &'static str| {
            let forms = [Some(path.to_owned()), std::fs::canonicalize(path).ok()];
            for form in forms.into_iter().flatten() {
                let text = form.display().to_string();
                // The root alone would turn every absolute path into a placeholder.
                if text.len() > 1 && !prefixes.iter().any(|(p, _)| *p == text) {
                    prefixes.push((text, placeholder));
                }
            }
        };
        add(source, "<build>");
        add(target_dir, "<target>");
        add(data_root, "<data>");
        if let Some(workspace) = sdk_dir().parent() {
            add(workspace, "<sdk>");
        }
        if let Some(home) = std::env::var_os("HOME") {
            add(Path::new(&home), "~");
        }
        prefixes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        PathScrubber { prefixes }
    }

    /// `line` with every known directory replaced by its placeholder, where it is a whole
    /// directory: followed by the end, a `/`, or a character that cannot be part of a name.
    pub(crate) fn scrub(&self, line: &str) -> String {
        let mut line = line.to_owned();
        for (prefix, placeholder) in &self.prefixes {
            if !line.contains(prefix.as_str()) {
                continue;
            }
            let mut out = String::with_capacity(line.len());
            let mut rest = line.as_str();
            while let Some(at) = rest.find(prefix.as_str()) {
                let after = &rest[at + prefix.len()..];
                let whole = after
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_')));
                out.push_str(&rest[..at]);
                out.push_str(if whole { placeholder } else { prefix });
                rest = after;
            }
            out.push_str(rest);
            line = out;
        }
        line
    }

    /// `path` with a known directory replaced by its placeholder, for our own log lines.
    pub(crate) fn path(&self, path: &Path) -> String {
        self.scrub(&path.display().to_string())
    }
}

/// A child process started as the leader of its own process group. Killing it kills the whole
/// group, so that the compilers cargo started die with it; dropping it before the child was
/// reaped does the same.
struct ProcessGroup {
    child: Child,
}

impl ProcessGroup {
    /// Sends SIGKILL to every process in the group. Does nothing once the leader was reaped:
    /// its process id (and so the group id) may then belong to another process.
    fn kill(&mut self) {
        let Some(pid) = self.child.id() else { return };
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return;
        };
        // SAFETY: `kill` takes plain integers and touches no memory of this process. The group
        // id is the unreaped leader's pid, so it names no other process group.
        let killed = unsafe { libc::kill(-pid, libc::SIGKILL) };
        if killed != 0 {
            let err = std::io::Error::last_os_error();
            tracing::warn!(pid, error = %err, "cannot kill the build's process group");
        }
    }

    /// Kills the group and reaps its leader.
    async fn kill_and_reap(&mut self) {
        self.kill();
        if let Err(err) = self.child.wait().await {
            tracing::warn!(error = %err, "cannot reap a killed build");
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why a build stopped before cargo was done.
enum Interrupted {
    TimedOut,
    Cancelled,
}

/// Waits until `cancel` says so; forever when its sender is gone.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|cancel| *cancel).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl Builder {
    /// Builds the crate in `source` and returns its binary; every line of cargo's output goes
    /// to `log`, with the server's directories replaced by placeholders (see
    /// [`PathScrubber`]). The build is killed, with every process cargo started, when it
    /// runs longer than the builder's timeout or when `cancel` turns true.
    ///
    /// Limitation: a process started during the build that moves itself into another process
    /// group or session (with `setsid`, say) is not killed with the build.
    pub(crate) async fn build(
        &self,
        source: &Path,
        log: &BuildLog,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<PathBuf, String> {
        // A timeout too long to add to the clock is as good as none.
        let deadline = Instant::now()
            .checked_add(self.timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        let scrubber = PathScrubber::new(source, &self.target_dir, &self.data_root);
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
            .process_group(0)
            .kill_on_drop(true);
        log.push(format!(
            "$ cargo build --release (target dir {})",
            scrubber.path(&self.target_dir)
        ));
        let child = command.spawn().map_err(|e| {
            let program = self.cargo.file_name().unwrap_or(self.cargo.as_os_str());
            format!("cannot run {}: {e}", Path::new(program).display())
        })?;
        let mut group = ProcessGroup { child };

        let stderr = group.child.stderr.take();
        let stdout = group.child.stdout.take();
        let stderr_lines = async {
            if let Some(stderr) = stderr {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log.push(scrubber.scrub(&line));
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
                        log.push(scrubber.scrub(&line));
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
        let output = async { tokio::join!(stderr_lines, artifacts).1 };

        let finished = tokio::select! {
            binary = output => tokio::select! {
                status = group.child.wait() => Ok((status, binary)),
                _ = sleep_until(deadline) => Err(Interrupted::TimedOut),
                _ = cancelled(&mut cancel) => Err(Interrupted::Cancelled),
            },
            _ = sleep_until(deadline) => Err(Interrupted::TimedOut),
            _ = cancelled(&mut cancel) => Err(Interrupted::Cancelled),
        };
        let (status, binary) = match finished {
            Ok(finished) => finished,
            Err(interrupted) => {
                group.kill_and_reap().await;
                return Err(match interrupted {
                    Interrupted::TimedOut => format!(
                        "the build timed out after {} s; cargo and the processes it started were killed",
                        self.timeout.as_secs_f64()
                    ),
                    Interrupted::Cancelled => {
                        "the build was cancelled: its provider was deleted".to_owned()
                    }
                });
            }
        };
        let status = status.map_err(|e| format!("cannot wait for cargo: {e}"))?;
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

    #[test]
    fn scrubbing_replaces_whole_directories_only() {
        let base = tempfile::tempdir().unwrap();
        let source = base.path().join("p").join("20260101.000000").join("src");
        let target = base.path().join("target");
        let scrubber = PathScrubber::new(&source, &target, base.path());
        let line = format!(
            "   Compiling p v0.1.0 ({}) into {}/release, not {}2",
            source.display(),
            target.display(),
            target.display()
        );
        let scrubbed = scrubber.scrub(&line);
        assert!(
            scrubbed.starts_with("   Compiling p v0.1.0 (<build>) into <target>/release, not "),
            "{scrubbed}"
        );
        assert!(!scrubbed.ends_with("<target>2"), "{scrubbed}");
        assert_eq!(scrubber.path(&target.join("release")), "<target>/release");
        let elsewhere = format!("failed to read `{}/p/x/Cargo.toml`", base.path().display());
        assert_eq!(
            scrubber.scrub(&elsewhere),
            "failed to read `<data>/p/x/Cargo.toml`"
        );
    }
}
