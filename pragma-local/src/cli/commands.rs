//! What each everyday command does.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pragma_sdk::client::{DeadLetterScope, ListFilter};
use pragma_sdk::manifest::{self, Manifest};
use pragma_sdk::models::{DeadLetterEvent, LifecycleState, RawResource, ResourceStatus};
use pragma_sdk::AsyncPragmaClient;
use serde_json::Value;

use crate::cli::output::{cell, emit, value_cell, wire_name, Table};
use crate::cli::{
    ApplyArgs, CliError, Command, Connection, DeadLetterCommand, DeleteArgs, GetArgs, ListArgs,
    OutputFormat, ProvidersCommand, TypesArgs, WaitArgs,
};

/// How often `wait` asks for the states.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A resource named on the command line as `PROVIDER/RESOURCE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResourceName {
    provider: String,
    resource: String,
    name: String,
}

impl ResourceName {
    fn parse(text: &str) -> Result<Self, CliError> {
        let mut parts = text.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(provider), Some(resource), Some(name))
                if !provider.is_empty() && !resource.is_empty() && !name.is_empty() =>
            {
                Ok(ResourceName {
                    provider: provider.to_owned(),
                    resource: resource.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(CliError::Usage(format!(
                "{text:?} is not a resource: write it as PROVIDER/RESOURCE/NAME"
            ))),
        }
    }

    fn of(raw: &RawResource) -> Self {
        ResourceName {
            provider: raw.provider.clone(),
            resource: raw.resource.clone(),
            name: raw.name.clone(),
        }
    }
}

impl std::fmt::Display for ResourceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.provider, self.resource, self.name)
    }
}

fn label(raw: &RawResource) -> String {
    cell(&ResourceName::of(raw).to_string())
}

/// Runs `command`, writing its result to `out`.
pub(crate) async fn run(command: Command, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        Command::Apply(args) => apply(args, out).await,
        Command::Get(args) => get(args, out).await,
        Command::List(args) => list(args, out).await,
        Command::Delete(args) => delete(args, out).await,
        Command::Wait(args) => wait(args, out).await,
        Command::Types(args) => types(args, out).await,
        Command::DeadLetter(command) => dead_letter(command, out).await,
        Command::Providers(ProvidersCommand::List { connection }) => {
            providers(connection, out).await
        }
    }
}

/// Reads every manifest of `files`, in order.
fn read_manifests(files: &[PathBuf]) -> Result<Vec<Manifest>, CliError> {
    let mut all = Vec::new();
    for file in files {
        all.extend(manifest::read_file(file)?);
    }
    Ok(all)
}

fn resources_table(resources: &[RawResource]) -> String {
    let mut table = Table::new(&["RESOURCE", "STATE", "TAGS", "ERROR"]);
    for raw in resources {
        table.row(vec![
            label(raw),
            raw.lifecycle_state.to_string(),
            cell(&raw.tags.clone().unwrap_or_default().join(",")),
            cell(raw.error.as_deref().unwrap_or_default()),
        ]);
    }
    table.render()
}

async fn apply(args: ApplyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    // What a manifest references goes first, wherever it stands in the files.
    let manifests = manifest::in_dependency_order(read_manifests(&args.files)?);
    let client = args.connection.client()?;
    let state = if args.draft {
        LifecycleState::Draft
    } else {
        LifecycleState::Pending
    };
    let mut applied = Vec::new();
    for manifest in &manifests {
        let stored = client
            .apply_resource(&manifest.to_resource(state))
            .await
            .map_err(|err| {
                let name = format!(
                    "{}/{}/{}",
                    manifest.provider, manifest.resource, manifest.name
                );
                with_context(err, &format!("applying {name} ({})", manifest.source))
            })?;
        applied.push(stored);
    }
    if args.wait {
        let names: Vec<ResourceName> = applied.iter().map(ResourceName::of).collect();
        let statuses = wait_for(&client, &names, Duration::from_secs(args.timeout)).await;
        let refreshed = refresh(&client, &names).await?;
        emit(out, args.connection.output, &refreshed, || {
            resources_table(&refreshed)
        })?;
        return statuses.map(|_| ());
    }
    emit(out, args.connection.output, &applied, || {
        resources_table(&applied)
    })
}

/// `err` with `what` in front, keeping its kind.
fn with_context(err: pragma_sdk::Error, what: &str) -> CliError {
    match CliError::from(err) {
        CliError::Failed(m) => CliError::Failed(format!("{what}: {m}")),
        CliError::Usage(m) => CliError::Usage(format!("{what}: {m}")),
        CliError::NotFound(m) => CliError::NotFound(format!("{what}: {m}")),
        CliError::Timeout(m) => CliError::Timeout(format!("{what}: {m}")),
        CliError::Connection(m) => CliError::Connection(format!("{what}: {m}")),
    }
}

async fn refresh(
    client: &AsyncPragmaClient,
    names: &[ResourceName],
) -> Result<Vec<RawResource>, CliError> {
    let mut all = Vec::new();
    for name in names {
        all.push(
            client
                .get_resource(&name.provider, &name.resource, &name.name)
                .await?,
        );
    }
    Ok(all)
}

fn detail_table(raw: &RawResource) -> String {
    let mut text = String::new();
    let mut fields = Table::new(&["FIELD", "VALUE"]);
    fields.row(vec!["resource".to_owned(), label(raw)]);
    fields.row(vec!["state".to_owned(), raw.lifecycle_state.to_string()]);
    if let Some(error) = &raw.error {
        fields.row(vec!["error".to_owned(), cell(error)]);
    }
    if let Some(tags) = &raw.tags {
        fields.row(vec!["tags".to_owned(), cell(&tags.join(", "))]);
    }
    if !raw.dependencies.is_empty() {
        let deps: Vec<String> = raw
            .dependencies
            .iter()
            .map(|d| format!("{}/{}/{}", d.provider, d.resource, d.name))
            .collect();
        fields.row(vec!["depends on".to_owned(), cell(&deps.join(", "))]);
    }
    if !raw.owner_references.is_empty() {
        let owners: Vec<String> = raw
            .owner_references
            .iter()
            .map(|o| format!("{}/{}/{}", o.provider, o.resource, o.name))
            .collect();
        fields.row(vec!["owned by".to_owned(), cell(&owners.join(", "))]);
    }
    if let Some(updated) = raw.updated_at {
        fields.row(vec!["updated".to_owned(), updated.to_string()]);
    }
    text.push_str(&fields.render());
    let secret = raw.provider == crate::builtin::PROVIDER && raw.resource == "secret";
    let config = if secret {
        redacted(&raw.config)
    } else {
        raw.config.clone()
    };
    for (title, map) in [("CONFIG", &config), ("OUTPUTS", &raw.outputs)] {
        if map.is_empty() {
            continue;
        }
        text.push('\n');
        let mut table = Table::new(&[title, "VALUE"]);
        for (key, value) in map {
            table.row(vec![cell(key), config_cell(value)]);
        }
        text.push_str(&table.render());
    }
    text
}

/// A secret's config with every value of `data` replaced, for tables; JSON and YAML output
/// carry what the API returned.
fn redacted(config: &pragma_sdk::models::JsonObject) -> pragma_sdk::models::JsonObject {
    let mut config = config.clone();
    if let Some(Value::Object(data)) = config.get_mut("data") {
        for value in data.values_mut() {
            *value = Value::String("<redacted>".to_owned());
        }
    }
    config
}

/// A config value as a cell: references shown as where they point.
fn config_cell(value: &Value) -> String {
    if let Value::Object(object) = value {
        let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
        if object.get("__field_ref__") == Some(&Value::Bool(true)) {
            if let Some(Value::Object(reference)) = object.get("ref") {
                let part = |key: &str| {
                    reference
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                };
                return cell(&format!(
                    "-> {}/{}/{}:{}",
                    part("provider"),
                    part("resource"),
                    part("name"),
                    part("field")
                ));
            }
        }
        if object.contains_key("field") && object.contains_key("provider") {
            return cell(&format!(
                "-> {}/{}/{}:{}",
                text("provider"),
                text("resource"),
                text("name"),
                text("field")
            ));
        }
        if object.get("__dependency__") == Some(&Value::Bool(true)) {
            return cell(&format!(
                "-> {}/{}/{}",
                text("provider"),
                text("resource"),
                text("name")
            ));
        }
    }
    value_cell(value)
}

async fn get(args: GetArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let name = ResourceName::parse(&args.resource)?;
    let client = args.connection.client()?;
    let raw = client
        .get_resource(&name.provider, &name.resource, &name.name)
        .await
        .map_err(|err| not_found_as(err, &format!("resource {name} not found")))?;
    emit(out, args.connection.output, &raw, || detail_table(&raw))
}

/// `err`, with a plain message when it is a 404.
fn not_found_as(err: pragma_sdk::Error, message: &str) -> CliError {
    if err.is_not_found() {
        CliError::NotFound(message.to_owned())
    } else {
        CliError::from(err)
    }
}

async fn list(args: ListArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let client = args.connection.client()?;
    let mut filter = ListFilter::new();
    filter.provider = args.provider;
    filter.resource = args.resource;
    filter.tags = args.tags;
    let resources = client.list_resources(&filter).await?;
    emit(out, args.connection.output, &resources, || {
        if resources.is_empty() {
            "No resources.\n".to_owned()
        } else {
            resources_table(&resources)
        }
    })
}

async fn delete(args: DeleteArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut names = Vec::new();
    for text in &args.resources {
        names.push(ResourceName::parse(text)?);
    }
    // Dependents first: the reverse of the order `apply` uses.
    let manifests = manifest::in_dependency_order(read_manifests(&args.files)?);
    for manifest in manifests.iter().rev() {
        names.push(ResourceName {
            provider: manifest.provider.clone(),
            resource: manifest.resource.clone(),
            name: manifest.name.clone(),
        });
    }
    let client = args.connection.client()?;
    let mut deleted = Vec::new();
    for name in &names {
        let answer = client
            .delete_resource(&name.provider, &name.resource, &name.name)
            .await;
        match answer {
            Ok(_) => deleted.push(name.to_string()),
            // A manifest's resource that is already gone is fine; a named one is not.
            Err(err) if err.is_not_found() && !args.files.is_empty() => {}
            Err(err) => {
                emit_deleted(out, args.connection.output, &deleted)?;
                return Err(not_found_as(err, &format!("resource {name} not found")));
            }
        }
    }
    emit_deleted(out, args.connection.output, &deleted)
}

fn emit_deleted(
    out: &mut dyn Write,
    format: OutputFormat,
    deleted: &[String],
) -> Result<(), CliError> {
    let data = serde_json::json!({ "deleted": deleted });
    emit(out, format, &data, || {
        deleted
            .iter()
            .map(|name| format!("deleted {}\n", cell(name)))
            .collect()
    })
}

/// Waits until every resource of `names` is ready; fails as soon as one fails, or when
/// `timeout` passes.
async fn wait_for(
    client: &AsyncPragmaClient,
    names: &[ResourceName],
    timeout: Duration,
) -> Result<Vec<ResourceStatus>, CliError> {
    let started = Instant::now();
    loop {
        let mut statuses = Vec::new();
        for name in names {
            let status = client
                .get_resource_status(&name.provider, &name.resource, &name.name)
                .await
                .map_err(|err| not_found_as(err, &format!("resource {name} not found")))?;
            if status.lifecycle_state == LifecycleState::Failed {
                return Err(CliError::Failed(format!(
                    "resource {name} failed: {}",
                    status.error.as_deref().unwrap_or("no error given")
                )));
            }
            statuses.push((name, status));
        }
        let waiting: Vec<String> = statuses
            .iter()
            .filter(|(_, s)| s.lifecycle_state != LifecycleState::Ready)
            .map(|(name, s)| format!("{name} ({})", s.lifecycle_state))
            .collect();
        if waiting.is_empty() {
            return Ok(statuses.into_iter().map(|(_, s)| s).collect());
        }
        if started.elapsed() >= timeout {
            return Err(CliError::Timeout(format!(
                "not ready after {}s: {}",
                timeout.as_secs(),
                waiting.join(", ")
            )));
        }
        tokio::time::sleep(POLL_INTERVAL.min(timeout.saturating_sub(started.elapsed()))).await;
    }
}

async fn wait(args: WaitArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut names = Vec::new();
    for text in &args.resources {
        names.push(ResourceName::parse(text)?);
    }
    let client = args.connection.client()?;
    let statuses = wait_for(&client, &names, Duration::from_secs(args.timeout)).await?;
    emit(out, args.connection.output, &statuses, || {
        let mut table = Table::new(&["RESOURCE", "STATE"]);
        for (name, status) in names.iter().zip(&statuses) {
            table.row(vec![
                cell(&name.to_string()),
                status.lifecycle_state.to_string(),
            ]);
        }
        table.render()
    })
}

async fn types(args: TypesArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let client = args.connection.client()?;
    let definitions = client.list_resource_types(args.provider.as_deref()).await?;
    emit(out, args.connection.output, &definitions, || {
        let mut table = Table::new(&["PROVIDER", "RESOURCE", "DESCRIPTION"]);
        for definition in &definitions {
            table.row(vec![
                cell(&definition.provider),
                cell(&definition.resource),
                cell(definition.description.as_deref().unwrap_or_default()),
            ]);
        }
        table.render()
    })
}

fn dead_letters_table(events: &[DeadLetterEvent]) -> String {
    if events.is_empty() {
        return "No dead-letter events.\n".to_owned();
    }
    let mut table = Table::new(&[
        "EVENT",
        "RESOURCE",
        "EVENT TYPE",
        "ATTEMPTS",
        "FAILED AT",
        "ERROR",
    ]);
    for event in events {
        table.row(vec![
            cell(&event.event_id),
            cell(&format!(
                "{}/{}/{}",
                event.provider, event.resource_type, event.resource_name
            )),
            event.event_type.to_string(),
            event.attempt_count.to_string(),
            event.failed_at.to_string(),
            cell(&event.error_message),
        ]);
    }
    table.render()
}

async fn dead_letter(command: DeadLetterCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        DeadLetterCommand::List {
            provider,
            connection,
        } => {
            let client = connection.client()?;
            let events = client.list_dead_letter_events(provider.as_deref()).await?;
            emit(out, connection.output, &events, || {
                dead_letters_table(&events)
            })
        }
        DeadLetterCommand::Get {
            event_id,
            connection,
        } => {
            let client = connection.client()?;
            let event = client
                .get_dead_letter_event(&event_id)
                .await
                .map_err(|err| {
                    not_found_as(err, &format!("dead-letter event {event_id:?} not found"))
                })?;
            emit(out, connection.output, &event, || {
                let mut text = dead_letters_table(std::slice::from_ref(&event));
                if !event.payload.is_empty() {
                    let mut table = Table::new(&["PAYLOAD", "VALUE"]);
                    for (key, value) in &event.payload {
                        table.row(vec![cell(key), config_cell(value)]);
                    }
                    text.push('\n');
                    text.push_str(&table.render());
                }
                text
            })
        }
        DeadLetterCommand::Retry {
            event_id,
            connection,
        } => {
            let client = connection.client()?;
            let event = client
                .retry_dead_letter_event(&event_id)
                .await
                .map_err(|err| {
                    not_found_as(err, &format!("dead-letter event {event_id:?} not found"))
                })?;
            emit(out, connection.output, &event, || {
                format!(
                    "queued {} of {}/{}/{} again as event {}\n",
                    event.event_type.to_string().to_lowercase(),
                    cell(&event.provider),
                    cell(&event.resource_type),
                    cell(&event.resource_name),
                    cell(&event.event_id)
                )
            })
        }
        DeadLetterCommand::RetryAll { connection } => {
            let client = connection.client()?;
            let count = client.retry_all_dead_letter_events().await?;
            let data = serde_json::json!({ "retried_count": count });
            emit(out, connection.output, &data, || {
                format!("queued {count} dead-letter events again\n")
            })
        }
        DeadLetterCommand::Delete {
            event_id,
            all,
            provider,
            connection,
        } => {
            let client = connection.client()?;
            let (count, what) = match (event_id, all, provider) {
                (Some(event_id), _, _) => {
                    client
                        .get_dead_letter_event(&event_id)
                        .await
                        .map_err(|err| {
                            not_found_as(err, &format!("dead-letter event {event_id:?} not found"))
                        })?;
                    client.delete_dead_letter_event(&event_id).await?;
                    (1, format!("event {}", cell(&event_id)))
                }
                (None, true, _) => (
                    client
                        .delete_dead_letter_events(DeadLetterScope::All)
                        .await?,
                    "every provider".to_owned(),
                ),
                (None, false, Some(provider)) => (
                    client
                        .delete_dead_letter_events(DeadLetterScope::Provider(provider.clone()))
                        .await?,
                    format!("provider {}", cell(&provider)),
                ),
                (None, false, None) => {
                    return Err(CliError::Usage(
                        "give an event id, --provider or --all".to_owned(),
                    ))
                }
            };
            let data = serde_json::json!({ "deleted_count": count });
            emit(out, connection.output, &data, || {
                format!("removed {count} dead-letter events of {what}\n")
            })
        }
    }
}

async fn providers(connection: Connection, out: &mut dyn Write) -> Result<(), CliError> {
    let client = connection.client()?;
    let providers = client.list_providers().await?;
    emit(out, connection.output, &providers, || {
        if providers.is_empty() {
            return "No providers.\n".to_owned();
        }
        let mut table = Table::new(&["PROVIDER", "VERSION", "STATUS", "UPDATED"]);
        for provider in &providers {
            table.row(vec![
                cell(&provider.provider_id),
                cell(provider.current_version.as_deref().unwrap_or("-")),
                provider
                    .deployment_status
                    .as_ref()
                    .map(wire_name)
                    .unwrap_or_else(|| "-".to_owned()),
                provider
                    .updated_at
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        table.render()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_need_three_parts() {
        let name = ResourceName::parse("pragma/secret/a/b").unwrap();
        assert_eq!(name.name, "a/b");
        for bad in ["pragma/secret", "pragma//x", "/secret/x", "pragma/secret/"] {
            let err = ResourceName::parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), crate::cli::EXIT_USAGE, "{bad}");
        }
    }
}
