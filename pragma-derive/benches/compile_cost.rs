//! Compile cost of the derives against plain `serde` + `schemars` derives.
//!
//! Generates two throwaway library crates with the same 200 types (100 configs, 100
//! outputs): one derives `Config`/`Outputs`, the other `Serialize`/`Deserialize`/`JsonSchema`
//! with the equivalent serde and schemars attributes. After a warm-up build of their
//! dependencies, each crate is rebuilt (its source touched) five times, alternating between
//! the two, and the best time is kept, so only the crate's own compile is measured. Two
//! times are taken of each build: the wall-clock time, and the processor time of the
//! compiler processes (user + system, from `getrusage`), which another process on a shared
//! machine disturbs far less. Prints both and their ratios; the processor-time ratio is the
//! figure.
//!
//! Run with `cargo bench -p pragma-derive --bench compile_cost`. The crates share a target
//! dir under `$CARGO_TARGET_DIR/compile-cost` (or under the temp dir); builds are offline
//! and pinned to the workspace's lock file. Set `PRAGMA_COMPILE_COST_DIR` to keep the
//! generated crates in that directory instead of a temp dir.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CONFIGS: usize = 100;
const OUTPUTS: usize = 100;
const ROUNDS: usize = 5;

fn derived_source() -> String {
    let mut src = String::from("use pragma_sdk::{Config, Outputs};\n\n");
    for i in 0..CONFIGS {
        let _ = write!(
            src,
            r#"/// Config number {i}.
#[derive(Config, Debug, Clone)]
pub struct Config{i} {{
    /// The name.
    #[pragma(length(min = 3, max = 63), pattern = "^[a-z0-9-]+$")]
    pub name: String,
    /// The size.
    #[pragma(default = 10, range(min = 1, max = 10_000))]
    pub size_gb: u32,
    #[pragma(default)]
    pub enabled: bool,
    pub region: Option<String>,
    #[pragma(length(max = 8))]
    pub tags: Vec<String>,
    pub labels: std::collections::BTreeMap<String, String>,
}}

"#
        );
    }
    for i in 0..OUTPUTS {
        let _ = write!(
            src,
            r#"/// Outputs number {i}.
#[derive(Outputs, Debug, Clone)]
pub struct Outputs{i} {{
    /// Where to connect.
    pub url: String,
    pub port: u16,
    pub id: String,
    pub ready: bool,
    pub endpoints: Vec<String>,
    pub region: Option<String>,
}}

"#
        );
    }
    src
}

fn plain_source() -> String {
    let mut src = String::from(
        "use schemars::JsonSchema;\nuse serde::{Deserialize, Serialize};\n\n\
         fn default_size_gb() -> u32 {\n    10\n}\n\n",
    );
    for i in 0..CONFIGS {
        let _ = write!(
            src,
            r#"/// Config number {i}.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Config{i} {{
    /// The name.
    #[schemars(length(min = 3, max = 63), regex(pattern = "^[a-z0-9-]+$"))]
    pub name: String,
    /// The size.
    #[serde(default = "default_size_gb")]
    #[schemars(range(min = 1, max = 10_000))]
    pub size_gb: u32,
    #[serde(default)]
    pub enabled: bool,
    pub region: Option<String>,
    #[schemars(length(max = 8))]
    pub tags: Vec<String>,
    pub labels: std::collections::BTreeMap<String, String>,
}}

"#
        );
    }
    for i in 0..OUTPUTS {
        let _ = write!(
            src,
            r#"/// Outputs number {i}.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Outputs{i} {{
    /// Where to connect.
    pub url: String,
    pub port: u16,
    pub id: String,
    pub ready: bool,
    pub endpoints: Vec<String>,
    pub region: Option<String>,
}}

"#
        );
    }
    src
}

fn write_crate(root: &Path, name: &str, dependencies: &str, source: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("src")).expect("create the crate dir");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [lib]\npath = \"src/lib.rs\"\n\n[dependencies]\n{dependencies}\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::write(dir.join("src/lib.rs"), source).expect("write src/lib.rs");
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    if lock.exists() {
        std::fs::copy(&lock, dir.join("Cargo.lock")).expect("copy the lock file");
    }
    dir
}

/// The wall-clock and processor time of one `cargo build` of `dir`.
fn build(dir: &Path, target: &Path) -> (Duration, Duration) {
    let cpu_before = children_cpu_time();
    let started = Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["build", "--offline", "--quiet", "--lib"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .expect("run cargo");
    let elapsed = started.elapsed();
    let cpu = children_cpu_time().saturating_sub(cpu_before);
    assert!(status.success(), "building {} failed", dir.display());
    (elapsed, cpu)
}

/// User + system time of every child process waited for so far (cargo, and the compilers
/// it waited for).
fn children_cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes into the struct it is given, which is zeroed and
    // lives for the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let rc = libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        assert_eq!(rc, 0, "getrusage failed");
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn touch(dir: &Path) {
    let path = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&path).expect("read src/lib.rs");
    // Rewriting changes the mtime, so cargo rebuilds the crate and only the crate.
    std::fs::write(&path, source).expect("rewrite src/lib.rs");
}

/// The best rebuild times (wall-clock, processor) of each crate; rounds alternate between
/// the crates so that a change in machine load affects both alike.
#[derive(Clone, Copy)]
struct Best {
    wall: Duration,
    cpu: Duration,
}

impl Best {
    fn new() -> Self {
        Self {
            wall: Duration::MAX,
            cpu: Duration::MAX,
        }
    }

    fn add(&mut self, (wall, cpu): (Duration, Duration)) {
        self.wall = self.wall.min(wall);
        self.cpu = self.cpu.min(cpu);
    }
}

fn best_rebuilds(first: &Path, second: &Path, target: &Path) -> (Best, Best) {
    let mut best = (Best::new(), Best::new());
    for _ in 0..ROUNDS {
        touch(first);
        best.0.add(build(first, target));
        touch(second);
        best.1.add(build(second, target));
    }
    best
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        println!("compile_cost: bench");
        return;
    }
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pragma-sdk");
    let sdk = sdk.canonicalize().expect("find pragma-sdk");
    let workdir = tempfile::tempdir().expect("create a temp dir");
    let workdir_path = match std::env::var_os("PRAGMA_COMPILE_COST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workdir.path().to_owned(),
    };
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("compile-cost"),
        None => workdir_path.as_path().join("target"),
    };

    let derived = write_crate(
        workdir_path.as_path(),
        "cost_derived",
        &format!(
            "pragma-sdk = {{ path = {:?} }}\n",
            sdk.display().to_string()
        ),
        &derived_source(),
    );
    let plain = write_crate(
        workdir_path.as_path(),
        "cost_plain",
        "serde = { version = \"1\", features = [\"derive\"] }\nschemars = \"1\"\nserde_json = \"1\"\n",
        &plain_source(),
    );

    eprintln!("warming up dependencies (first run builds them)...");
    build(&derived, &target);
    build(&plain, &target);

    let (derived_time, plain_time) = best_rebuilds(&derived, &plain, &target);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "compile cost, {} types, best of {ROUNDS}: \
         processor time: derives {:.2}s, plain serde+schemars {:.2}s, ratio {:.2}x; \
         wall clock: derives {:.2}s, plain {:.2}s, ratio {:.2}x",
        CONFIGS + OUTPUTS,
        derived_time.cpu.as_secs_f64(),
        plain_time.cpu.as_secs_f64(),
        ratio(derived_time.cpu, plain_time.cpu),
        derived_time.wall.as_secs_f64(),
        plain_time.wall.as_secs_f64(),
        ratio(derived_time.wall, plain_time.wall),
    );
}
