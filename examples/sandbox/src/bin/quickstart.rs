//! The quickstart: the whole life of a set of resources on a platform running in this
//! process.
//!
//! It starts an ephemeral platform hosting the `sandbox` provider (its root in a temporary
//! directory, or `--root DIR`) and the built-in `pragma` provider, applies the manifests in
//! `examples/manifests/`, shows each resource moving through its lifecycle states, prints
//! their outputs, changes the readme's content and shows the change reach the file that
//! references it, then deletes everything and shows the sandbox empty again.
//!
//! Exits 0 when every step worked; otherwise prints the failing resource with its state and
//! error and exits 1.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use pragma_local::Platform;
use pragma_sdk::authoring::Field;
use pragma_sdk::client::{ApplyMode, ListFilter};
use pragma_sdk::manifest::{self, Manifest};
use pragma_sdk::models::{LifecycleState, RawResource};
use pragma_sdk::{AsyncPragmaClient, ClientBuilder};
use sandbox_provider::File;
use serde_json::Value;

/// The manifests the quickstart applies, in order, with the names they are shown under.
const MANIFESTS: [(&str, &str); 2] = [
    (
        "examples/manifests/secrets.yaml",
        include_str!("../../../manifests/secrets.yaml"),
    ),
    (
        "examples/manifests/sandbox.yaml",
        include_str!("../../../manifests/sandbox.yaml"),
    ),
];

/// How long one phase (apply, update, delete) may take.
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

/// How often resource states are polled.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The file whose content the quickstart changes, and the one that references its digest.
const CHANGED_FILE: &str = "readme";
const DEPENDENT_FILE: &str = "readme-checksum";

#[derive(Parser)]
#[command(
    name = "quickstart",
    about = "Runs the sandbox provider's resources through their whole lifecycle on an in-process platform"
)]
struct Args {
    /// The sandbox root; a temporary directory (removed afterwards) when not given.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// Why the quickstart stopped.
enum Failure {
    /// A resource failed or got stuck.
    Resource {
        id: String,
        state: LifecycleState,
        error: Option<String>,
    },
    /// Anything else: the platform, the client, the sandbox.
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Resource { id, state, error } => {
                write!(f, "resource {id} ({state})")?;
                match error {
                    Some(error) => write!(f, ": {error}"),
                    None => Ok(()),
                }
            }
            Failure::Other(message) => f.write_str(message),
        }
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(err: E) -> Self {
        Failure::Other(err.to_string())
    }
}

/// Terminal styling, off when standard output is not a terminal.
#[derive(Clone, Copy)]
struct Style {
    tty: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.tty {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    fn state(self, state: LifecycleState) -> String {
        let text = format!("{state:<10}");
        match state {
            LifecycleState::Ready => self.paint("32", &text),
            LifecycleState::Failed => self.paint("31", &text),
            LifecycleState::Draft => self.paint("2", &text),
            _ => self.paint("33", &text),
        }
    }

    fn step(self, number: usize, title: &str) {
        println!();
        println!(
            "{} {}",
            self.paint("1;36", &format!("[{number}/5]")),
            self.bold(title)
        );
    }
}

/// A resource as people write it: `provider/resource/name`.
fn label(raw: &RawResource) -> String {
    format!("{}/{}/{}", raw.provider, raw.resource, raw.name)
}

/// The last state seen of one resource.
struct Seen {
    state: LifecycleState,
    outputs: pragma_sdk::models::JsonObject,
    owner: Option<String>,
    /// Whether its outputs changed during the current phase.
    changed: bool,
}

/// What changed about one resource between two polls.
enum Change {
    Appeared(LifecycleState),
    /// From one state to another; whether the outputs changed too.
    Moved(LifecycleState, LifecycleState, bool),
    Outputs,
}

/// Shows resource states as they change: on a terminal, one line per resource redrawn in
/// place; otherwise a plain line for each change.
struct Progress {
    style: Style,
    order: Vec<String>,
    seen: BTreeMap<String, Seen>,
    drawn: usize,
    frame: usize,
}

impl Progress {
    fn new(style: Style) -> Self {
        Progress {
            style,
            order: Vec::new(),
            seen: BTreeMap::new(),
            drawn: 0,
            frame: 0,
        }
    }

    fn glyph(&self, state: LifecycleState) -> String {
        const SPINNER: [&str; 4] = ["◐", "◓", "◑", "◒"];
        match state {
            LifecycleState::Ready => self.style.green("✔"),
            LifecycleState::Failed => self.style.paint("31", "✘"),
            LifecycleState::Draft => self.style.dim("·"),
            _ if self.style.tty => self.style.paint("33", SPINNER[self.frame % SPINNER.len()]),
            _ => "…".to_owned(),
        }
    }

    fn label(&self, id: &str) -> String {
        format!("{id:<32}")
    }

    /// A note on a subresource naming its owner.
    fn note(&self, id: &str) -> String {
        match self.seen.get(id).and_then(|s| s.owner.as_deref()) {
            Some(owner) => self.style.dim(&format!("  (subresource of {owner})")),
            None => String::new(),
        }
    }

    /// On a terminal, a note on a resource whose outputs changed in this phase.
    fn changed(&self, id: &str) -> String {
        match self.seen.get(id) {
            Some(seen) if seen.changed => self.style.paint("36", "  outputs changed"),
            _ => String::new(),
        }
    }

    /// Records the resources as listed now and shows what changed.
    fn update(&mut self, resources: &[RawResource]) {
        let mut changes = Vec::new();
        for raw in resources {
            let id = label(raw);
            let owner = raw.owner_references.first().map(|o| o.name.clone());
            match self.seen.get_mut(&id) {
                Some(seen) if seen.state != raw.lifecycle_state => {
                    let outputs_changed = !seen.outputs.is_empty() && seen.outputs != raw.outputs;
                    changes.push((
                        id.clone(),
                        Change::Moved(seen.state, raw.lifecycle_state, outputs_changed),
                    ));
                    seen.state = raw.lifecycle_state;
                    seen.changed |= outputs_changed;
                    seen.outputs = raw.outputs.clone();
                }
                Some(seen) if seen.outputs != raw.outputs => {
                    changes.push((id.clone(), Change::Outputs));
                    seen.changed = !seen.outputs.is_empty();
                    seen.outputs = raw.outputs.clone();
                }
                Some(_) => {}
                None => {
                    self.order.push(id.clone());
                    changes.push((id.clone(), Change::Appeared(raw.lifecycle_state)));
                    self.seen.insert(
                        id,
                        Seen {
                            state: raw.lifecycle_state,
                            outputs: raw.outputs.clone(),
                            owner,
                            changed: false,
                        },
                    );
                }
            }
        }
        if self.style.tty {
            self.frame += 1;
            self.redraw();
            return;
        }
        for (id, change) in changes {
            let label = self.label(&id);
            let note = self.note(&id);
            match change {
                Change::Appeared(state) => println!("  {label} {state}{note}"),
                Change::Moved(from, to, false) => println!("  {label} {from} -> {to}{note}"),
                Change::Moved(from, to, true) => {
                    println!("  {label} {from} -> {to}  outputs changed{note}")
                }
                Change::Outputs => println!("  {label} outputs changed{note}"),
            }
        }
    }

    fn redraw(&mut self) {
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for id in &self.order {
            let state = self.seen[id].state;
            out.push_str(&format!(
                "\x1b[2K  {} {} {}{}{}\n",
                self.glyph(state),
                self.label(id),
                self.style.state(state),
                self.note(id),
                self.changed(id)
            ));
        }
        self.drawn = self.order.len();
        print!("{out}");
        let _ = std::io::stdout().flush();
    }

    /// Stops redrawing: the next progress on a terminal starts below the lines drawn so far.
    fn finish(&mut self) {
        self.drawn = 0;
        for seen in self.seen.values_mut() {
            seen.changed = false;
        }
    }
}

/// Lists every resource, or fails with the first failed one of `watched`.
async fn poll(
    client: &AsyncPragmaClient,
    progress: &mut Progress,
) -> Result<Vec<RawResource>, Failure> {
    let resources = client.list_resources(&ListFilter::new()).await?;
    progress.update(&resources);
    if let Some(failed) = resources
        .iter()
        .find(|r| r.lifecycle_state == LifecycleState::Failed)
    {
        return Err(Failure::Resource {
            id: label(failed),
            state: failed.lifecycle_state,
            error: failed.error.clone(),
        });
    }
    Ok(resources)
}

/// Polls until `done` holds for the listed resources, a resource fails, or the phase times
/// out (naming the first resource that is not ready).
async fn watch(
    client: &AsyncPragmaClient,
    progress: &mut Progress,
    done: impl Fn(&[RawResource]) -> bool,
) -> Result<Vec<RawResource>, Failure> {
    let started = Instant::now();
    loop {
        let resources = poll(client, progress).await?;
        if done(&resources) {
            return Ok(resources);
        }
        if started.elapsed() > PHASE_TIMEOUT {
            return Err(
                match resources
                    .iter()
                    .find(|r| r.lifecycle_state != LifecycleState::Ready)
                {
                    Some(stuck) => Failure::Resource {
                        id: label(stuck),
                        state: stuck.lifecycle_state,
                        error: Some(format!("still not ready after {PHASE_TIMEOUT:?}")),
                    },
                    None => Failure::Other(format!("no progress after {PHASE_TIMEOUT:?}")),
                },
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn all_ready(resources: &[RawResource]) -> bool {
    !resources.is_empty()
        && resources
            .iter()
            .all(|r| r.lifecycle_state == LifecycleState::Ready && r.pending_event_id.is_none())
}

/// An output value as one line of a table.
fn show_value(value: &Value, root: &str) -> String {
    match value {
        Value::String(text) if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{}…", &text[..16])
        }
        Value::String(text) => match text.strip_prefix(root) {
            Some(rest) => format!("$ROOT{rest}"),
            None => text.clone(),
        },
        Value::Array(items) => items
            .iter()
            .map(|item| show_value(item, root))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Prints rows as a table with a header, columns padded to their widest cell.
fn print_table(style: Style, header: [&str; 3], rows: &[[String; 3]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 3]| {
        format!(
            "  {:<w0$}  {:<w1$}  {}",
            cells[0],
            cells[1],
            cells[2],
            w0 = widths[0],
            w1 = widths[1]
        )
    };
    println!("{}", style.bold(line(header).trim_end()));
    let mut previous = "";
    for row in rows {
        let first = if row[0] == previous {
            ""
        } else {
            row[0].as_str()
        };
        previous = &row[0];
        println!("{}", line([first, &row[1], &row[2]]).trim_end());
    }
}

fn outputs_table(style: Style, resources: &[RawResource], order: &[String], root: &str) {
    let mut rows = Vec::new();
    let by_id: BTreeMap<String, &RawResource> = resources.iter().map(|r| (label(r), r)).collect();
    let mut ids: Vec<String> = order
        .iter()
        .filter(|id| by_id.contains_key(*id))
        .cloned()
        .collect();
    ids.extend(by_id.keys().filter(|id| !order.contains(id)).cloned());
    for id in ids {
        let raw = by_id[&id];
        for (key, value) in &raw.outputs {
            rows.push([id.clone(), key.clone(), show_value(value, root)]);
        }
    }
    print_table(style, ["RESOURCE", "OUTPUT", "VALUE"], &rows);
}

/// Every path under `dir`, relative to it, sorted.
fn contents(dir: &Path) -> Result<Vec<String>, Failure> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries = std::fs::read_dir(&next)
            .map_err(|err| Failure::Other(format!("reading {}: {err}", next.display())))?;
        for entry in entries {
            let entry = entry
                .map_err(|err| Failure::Other(format!("reading {}: {err}", next.display())))?;
            let path = entry.path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            if let Ok(relative) = path.strip_prefix(dir) {
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The tables of the SQLite database at `path`, sorted.
fn sqlite_tables(path: &Path) -> Result<Vec<String>, Failure> {
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut statement =
        connection.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let names = statement.query_map([], |row| row.get::<_, String>(0))?;
    Ok(names.collect::<Result<_, _>>()?)
}

/// Shows what the resources made on disk, read back from the files themselves.
fn on_disk(style: Style, root: &Path, root_text: &str) -> Result<(), Failure> {
    let read = |relative: &str| {
        std::fs::read_to_string(root.join(relative))
            .map_err(|err| Failure::Other(format!("reading $ROOT/{relative}: {err}")))
    };
    let greeting = read("docs/greeting.txt")?;
    let checksum = read("docs/README.txt.sha256")?;
    let schema = read("data/inventory.db.schema.sql")?;
    let tables = sqlite_tables(&root.join("data/inventory.db"))?;
    let rows = [
        [
            "docs/greeting.txt".to_owned(),
            format!("{greeting:?}"),
            "the secret".to_owned(),
        ],
        [
            "docs/README.txt.sha256".to_owned(),
            show_value(&Value::String(checksum), root_text),
            "readme's sha256".to_owned(),
        ],
        [
            "data/inventory.db".to_owned(),
            format!("tables {}", tables.join(", ")),
            "owner: the secret".to_owned(),
        ],
        [
            "data/inventory.db.schema.sql".to_owned(),
            format!("{} CREATE TABLEs", schema.matches("CREATE TABLE").count()),
            "subresource".to_owned(),
        ],
    ];
    print_table(style, ["IN $ROOT", "HOLDS", "FROM"], &rows);
    Ok(())
}

fn read_manifests() -> Result<Vec<Manifest>, Failure> {
    let mut all = Vec::new();
    for (name, text) in MANIFESTS {
        all.extend(manifest::parse(text, name)?);
    }
    Ok(all)
}

fn output_str(raw: Option<&RawResource>, key: &str) -> String {
    raw.and_then(|r| r.outputs.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn run(args: Args, style: Style) -> Result<(), Failure> {
    let temporary;
    let root = match args.root {
        Some(root) => {
            std::fs::create_dir_all(&root)
                .map_err(|err| Failure::Other(format!("creating {}: {err}", root.display())))?;
            root
        }
        None => {
            temporary = tempfile::Builder::new()
                .prefix("pragma-sandbox-")
                .tempdir()?;
            temporary.path().to_path_buf()
        }
    };
    let root = root.canonicalize()?;
    let root_text = root.display().to_string();
    let before = contents(&root)?;

    println!("{}", style.bold("pragma quickstart"));
    println!(
        "  sandbox root   {root_text}  {}",
        style.dim("(shown as $ROOT)")
    );

    let provider = sandbox_provider::provider(&root)?;
    let platform = Platform::builder().provider(provider).in_memory().build()?;
    let server = platform.spawn_ephemeral().await?;
    println!(
        "  platform       {}  {}",
        server.base_url(),
        style.dim("(in memory, providers: pragma, sandbox)")
    );
    let client = ClientBuilder::new()
        .base_url(server.base_url())
        .no_auth()
        .build()?;

    let result = lifecycle(&client, style, &root, &root_text, &before).await;
    server.shutdown().await;
    result
}

async fn lifecycle(
    client: &AsyncPragmaClient,
    style: Style,
    root: &Path,
    root_text: &str,
    before: &[String],
) -> Result<(), Failure> {
    let manifests = read_manifests()?;
    let mut progress = Progress::new(style);

    style.step(1, "Apply the manifests");
    for (name, _) in MANIFESTS {
        println!("  {}", style.dim(name));
    }
    let started = Instant::now();
    for manifest in &manifests {
        client
            .apply_resource(&manifest.to_resource(LifecycleState::Pending))
            .await
            .map_err(|err| {
                Failure::Other(format!(
                    "applying {} ({}): {err}",
                    manifest.id(),
                    manifest.source
                ))
            })?;
    }
    let resources = watch(client, &mut progress, all_ready).await?;
    let order = progress.order.clone();
    progress.finish();
    println!(
        "  {} resources ready in {:.1}s",
        resources.len(),
        started.elapsed().as_secs_f64()
    );

    style.step(2, "Outputs, and what they made on disk");
    outputs_table(style, &resources, &order, root_text);

    println!();
    on_disk(style, root, root_text)?;

    style.step(3, "Change the readme's content");
    let find = |resources: &[RawResource], name: &str| {
        resources
            .iter()
            .find(|r| r.provider == "sandbox" && r.resource == "file" && r.name == name)
            .cloned()
    };
    let old_sha = output_str(find(&resources, CHANGED_FILE).as_ref(), "sha256");
    let mut readme = client.get::<File>(CHANGED_FILE).await?;
    let new_content =
        "This sandbox is managed by the pragma platform.\nIt was changed by the quickstart.\n";
    readme.config.content = Field::Value(new_content.to_owned());
    client.apply(&readme, ApplyMode::Queue).await?;
    println!(
        "  applied sandbox/file/{CHANGED_FILE} with new content; {DEPENDENT_FILE} references its sha256"
    );
    let updated = watch(client, &mut progress, |resources| {
        let readme_sha = output_str(find(resources, CHANGED_FILE).as_ref(), "sha256");
        let dependent = find(resources, DEPENDENT_FILE);
        let on_disk = std::fs::read_to_string(output_str(dependent.as_ref(), "path"));
        all_ready(resources)
            && readme_sha != old_sha
            && on_disk.is_ok_and(|text| text == readme_sha)
    })
    .await?;
    progress.finish();
    let new_sha = output_str(find(&updated, CHANGED_FILE).as_ref(), "sha256");
    let dependent = find(&updated, DEPENDENT_FILE);
    let dependent_path = output_str(dependent.as_ref(), "path");
    println!(
        "  {CHANGED_FILE:<16} sha256 {}… -> {}…",
        &old_sha[..old_sha.len().min(16)],
        &new_sha[..new_sha.len().min(16)]
    );
    println!(
        "  {DEPENDENT_FILE:<16} updated: {} now holds {}…",
        show_value(&Value::String(dependent_path), root_text),
        &new_sha[..new_sha.len().min(16)]
    );

    style.step(4, "Delete everything");
    for manifest in manifests.iter().rev() {
        let owned: Vec<String> = updated
            .iter()
            .filter(|r| r.owner_references.iter().any(|o| o.id() == manifest.id()))
            .map(label)
            .collect();
        client
            .delete_resource(&manifest.provider, &manifest.resource, &manifest.name)
            .await
            .map_err(|err| Failure::Other(format!("deleting {}: {err}", manifest.id())))?;
        let with = if owned.is_empty() {
            String::new()
        } else {
            style.dim(&format!("  (with its subresource {})", owned.join(", ")))
        };
        println!(
            "  {} deleted {}/{}/{}{with}",
            style.green("✔"),
            manifest.provider,
            manifest.resource,
            manifest.name
        );
    }
    let left = client.list_resources(&ListFilter::new()).await?;
    if let Some(first) = left.first() {
        return Err(Failure::Resource {
            id: label(first),
            state: first.lifecycle_state,
            error: Some("still listed after everything was deleted".to_owned()),
        });
    }

    style.step(5, "The sandbox afterwards");
    let after = contents(root)?;
    let extra: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
    if !extra.is_empty() {
        let extra: Vec<&str> = extra.iter().map(|p| p.as_str()).collect();
        return Err(Failure::Other(format!(
            "the sandbox still holds {}",
            extra.join(", ")
        )));
    }
    println!(
        "  {} no resources left, and $ROOT holds {}",
        style.green("✔"),
        if after.is_empty() {
            "nothing".to_owned()
        } else {
            format!("only what it held before ({})", after.join(", "))
        }
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let style = Style {
        tty: std::io::stdout().is_terminal(),
    };
    match run(args, style).await {
        Ok(()) => {
            println!();
            println!(
                "{}",
                style.green("Done: every resource went through create, update and delete.")
            );
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!();
            eprintln!("{} {failure}", style.paint("1;31", "quickstart failed:"));
            ExitCode::FAILURE
        }
    }
}
