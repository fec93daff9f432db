//! The everyday commands run as processes against `pragma-local serve` on a loopback port:
//! output in each format, filters, waiting, deleting, and the exit codes scripts rely on.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_pragma-local");

/// A `pragma-local serve` process on a free loopback port, stopped when dropped.
struct Server {
    child: Child,
    url: String,
    home: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let home = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--in-memory", "--bind", &addr.to_string()])
            .args(["--retry-attempts", "1", "--retry-delay-ms", "10"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            url: format!("http://{addr}"),
            home,
        };
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Runs `pragma-local ARGS` against this server, with no credentials from the machine.
    fn run(&self, args: &[&str]) -> Output {
        run_against(&self.url, self.home.path(), args)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn run_against(url: &str, home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("PRAGMA_API_URL", url)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("PRAGMA_AUTH_TOKEN")
        .env_remove("PRAGMA_CONTEXT")
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

#[track_caller]
fn ok(output: &Output) -> String {
    assert_eq!(
        code(output),
        0,
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

const SECRETS: &str = "\
provider: pragma
resource: secret
name: api-key
config:
  data: {key: abc123}
tags: [prod, web]
---
provider: pragma
resource: secret
name: db-password
config:
  data: {password: hunter2, user: admin}
tags: [prod]
---
provider: pragma
resource: secret
name: scratch
config:
  data: {}
tags: [dev]
";

fn with_secrets() -> Server {
    let server = Server::start(&[]);
    let file = server.write("secrets.yaml", SECRETS);
    let output = server.run(&["apply", "-f", file.to_str().unwrap(), "--wait"]);
    let text = ok(&output);
    assert!(text.contains("pragma/secret/api-key"), "{text}");
    assert_eq!(text.matches("ready").count(), 3, "{text}");
    server
}

#[test]
fn apply_get_and_list_in_every_format() {
    let server = with_secrets();

    let table = ok(&server.run(&["get", "pragma/secret/db-password"]));
    assert!(table.contains("state"), "{table}");
    assert!(table.contains("ready"), "{table}");
    assert!(table.contains("password, user"), "{table}");
    assert!(
        !table.contains("hunter2"),
        "a secret's values stay out of tables: {table}"
    );
    assert!(table.contains("<redacted>"), "{table}");

    let json: Value = serde_json::from_str(&ok(&server.run(&[
        "get",
        "pragma/secret/db-password",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["provider"], "pragma");
    assert_eq!(json["name"], "db-password");
    assert_eq!(json["lifecycle_state"], "ready");
    assert_eq!(
        json["outputs"]["keys"],
        serde_json::json!(["password", "user"])
    );

    let yaml: Value =
        serde_norway::from_str(&ok(&server.run(&["list", "--tag", "prod", "-o", "yaml"]))).unwrap();
    let names: Vec<&str> = yaml
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api-key", "db-password"]);

    let both: Value = serde_json::from_str(&ok(
        &server.run(&["list", "--tag", "prod", "--tag", "web", "-o", "json"])
    ))
    .unwrap();
    assert_eq!(both.as_array().unwrap().len(), 1);
    assert_eq!(both[0]["name"], "api-key");

    let all = ok(&server.run(&["list", "--provider", "pragma", "--resource", "secret"]));
    assert!(all.starts_with("RESOURCE"), "{all}");
    assert_eq!(all.lines().count(), 4, "{all}");
    let none = ok(&server.run(&["list", "--provider", "nobody"]));
    assert_eq!(none, "No resources.\n");

    let types = ok(&server.run(&["types"]));
    assert!(types.contains("pragma    secret"), "{types}");
}

#[test]
fn wait_delete_and_not_found() {
    let server = with_secrets();
    let waited = ok(&server.run(&["wait", "pragma/secret/api-key", "pragma/secret/scratch"]));
    assert!(waited.contains("pragma/secret/scratch  ready"), "{waited}");

    let deleted = ok(&server.run(&["delete", "pragma/secret/scratch"]));
    assert_eq!(deleted, "deleted pragma/secret/scratch\n");

    let gone = server.run(&["get", "pragma/secret/scratch"]);
    assert_eq!(code(&gone), 3, "{}", stderr(&gone));
    assert!(
        stderr(&gone).contains("resource pragma/secret/scratch not found"),
        "{}",
        stderr(&gone)
    );
    assert_eq!(code(&server.run(&["delete", "pragma/secret/scratch"])), 3);
    assert_eq!(code(&server.run(&["wait", "pragma/secret/scratch"])), 3);

    // Deleting by manifest removes what is left and skips what is already gone.
    let file = server.write("secrets.yaml", SECRETS);
    let json: Value = serde_json::from_str(&ok(&server.run(&[
        "delete",
        "-f",
        file.to_str().unwrap(),
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(
        json["deleted"],
        serde_json::json!(["pragma/secret/db-password", "pragma/secret/api-key"])
    );
    assert_eq!(ok(&server.run(&["list"])), "No resources.\n");
}

#[test]
fn a_draft_is_stored_and_waiting_for_it_times_out() {
    let server = Server::start(&[]);
    let file = server.write("draft.yaml", SECRETS);
    let applied = ok(&server.run(&["apply", "-f", file.to_str().unwrap(), "--draft"]));
    assert_eq!(applied.matches("draft").count(), 3, "{applied}");
    let started = Instant::now();
    let output = server.run(&["wait", "pragma/secret/api-key", "--timeout", "1"]);
    assert_eq!(code(&output), 4, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("pragma/secret/api-key (draft)"),
        "{}",
        stderr(&output)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_bad_manifest_names_file_document_and_line_and_applies_nothing() {
    let server = Server::start(&[]);
    let good = server.write("good.yaml", SECRETS);
    let bad = server.write(
        "bad.yaml",
        "provider: pragma\nresource: secret\nname: fine\n---\nprovider: pragma\nresource: secret\nname: broken\ncolour: red\n",
    );
    let output = server.run(&["apply", "-f", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("bad.yaml"), "{message}");
    assert!(message.contains("document 2"), "{message}");
    assert!(message.contains("line "), "{message}");
    assert_eq!(ok(&server.run(&["list"])), "No resources.\n");

    let missing = server.run(&["apply", "-f", "does-not-exist.yaml"]);
    assert_eq!(code(&missing), 2);
    assert!(stderr(&missing).contains("does-not-exist.yaml"));
}

#[test]
fn a_refused_resource_exits_one() {
    let server = Server::start(&[]);
    let file = server.write(
        "unknown.yaml",
        "provider: pragma\nresource: secret\nname: bad\nconfig:\n  data: {key: 7}\n  colour: red\n",
    );
    let output = server.run(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("pragma/secret/bad"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn usage_errors_exit_two() {
    let server = Server::start(&[]);
    let output = server.run(&["get", "only/two"]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("PROVIDER/RESOURCE/NAME"));
    assert_eq!(code(&server.run(&["list", "--output", "xml"])), 2);
    assert_eq!(code(&server.run(&["apply"])), 2);
    let help = server.run(&["dead-letter", "--help"]);
    assert!(ok(&help).contains("retry-all"));
}

#[test]
fn dead_letters_are_listed_and_missing_ones_are_not_found() {
    let server = Server::start(&[]);
    assert_eq!(
        ok(&server.run(&["dead-letter", "list"])),
        "No dead-letter events.\n"
    );
    let json: Value =
        serde_json::from_str(&ok(&server.run(&["dead-letter", "list", "-o", "json"]))).unwrap();
    assert_eq!(json, serde_json::json!([]));
    assert_eq!(code(&server.run(&["dead-letter", "get", "nope"])), 3);
    assert_eq!(code(&server.run(&["dead-letter", "retry", "nope"])), 3);
    assert_eq!(code(&server.run(&["dead-letter", "delete", "nope"])), 3);
    let retried: Value = serde_json::from_str(&ok(&server.run(&[
        "dead-letter",
        "retry-all",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(retried["retried_count"], 0);
    let removed = ok(&server.run(&["dead-letter", "delete", "--all"]));
    assert_eq!(removed, "removed 0 dead-letter events of every provider\n");
}

#[test]
fn connection_and_authentication_failures_exit_five() {
    let home = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let output = run_against(&closed, home.path(), &["list"]);
    assert_eq!(code(&output), 5, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("connection failed"),
        "{}",
        stderr(&output)
    );

    let server = Server::start(&["--token", "let-me-in"]);
    let refused = server.run(&["list"]);
    assert_eq!(code(&refused), 5, "{}", stderr(&refused));
    let wrong = server.run(&["list", "--token", "wrong"]);
    assert_eq!(code(&wrong), 5);
    assert_eq!(
        ok(&server.run(&["list", "--token", "let-me-in"])),
        "No resources.\n"
    );
    // A context's token from the credentials file.
    let dir = server.home.path().join("pragma");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("credentials"),
        "# local\nlab=let-me-in\nother=nope\n",
    )
    .unwrap();
    assert_eq!(
        ok(&server.run(&["list", "--context", "lab"])),
        "No resources.\n"
    );
    assert_eq!(code(&server.run(&["list", "--context", "other"])), 5);

    // The token given on the command line never shows in an error.
    assert!(!stderr(&wrong).contains("wrong"), "{}", stderr(&wrong));
}

#[test]
fn a_file_may_name_a_resource_before_what_it_depends_on() {
    let server = Server::start(&[]);
    let file = server.write(
        "forward.yaml",
        "\
provider: pragma
resource: secret
name: app
config:
  data: {mode: prod}
depends_on: [pragma/secret/base]
---
provider: pragma
resource: secret
name: base
config:
  data: {region: north}
",
    );
    let path = file.to_str().unwrap();
    let applied = ok(&server.run(&["apply", "-f", path, "--wait"]));
    assert_eq!(applied.matches("ready").count(), 2, "{applied}");
    let json: Value =
        serde_json::from_str(&ok(&server.run(&["delete", "-f", path, "-o", "json"]))).unwrap();
    assert_eq!(
        json["deleted"],
        serde_json::json!(["pragma/secret/app", "pragma/secret/base"]),
        "dependents go first"
    );
}
