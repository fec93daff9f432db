//! Builds and deployments persisted in SQLite (`deploy.db` in the data dir, or in memory).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use pragma_sdk::models::{BuildInfo, BuildStatus, DeploymentStatus, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};

/// Why the deployment store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("deploy store: {0}")]
pub struct DeployStoreError(pub String);

impl From<rusqlite::Error> for DeployStoreError {
    fn from(err: rusqlite::Error) -> Self {
        DeployStoreError(err.to_string())
    }
}

/// A build row with what the API does not show.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BuildRow {
    pub info: BuildInfo,
    pub binary: Option<PathBuf>,
}

/// A deployment row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeploymentRow {
    pub provider_id: String,
    pub version: Option<String>,
    pub status: DeploymentStatus,
    pub updated_at: Timestamp,
}

/// A build row as SQLite returns it: id, version, status, error, created, binary.
type RawBuild = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
);

pub(crate) struct DeployStore {
    db: Connection,
}

fn build_status(text: &str) -> Result<BuildStatus, DeployStoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| DeployStoreError(format!("unknown build status {text:?} in the store")))
}

fn deployment_status(text: &str) -> Result<DeploymentStatus, DeployStoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| DeployStoreError(format!("unknown deployment status {text:?} in the store")))
}

pub(crate) fn status_text<S: serde::Serialize>(status: S) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

fn timestamp(text: &str) -> Result<Timestamp, DeployStoreError> {
    Timestamp::parse(text).map_err(DeployStoreError)
}

impl DeployStore {
    /// Opens `deploy.db` in `dir`, or an in-memory database. Builds left pending or building by
    /// a previous run are marked failed.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Self, DeployStoreError> {
        let db = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|err| {
                    DeployStoreError(format!("cannot create {}: {err}", dir.display()))
                })?;
                Connection::open(dir.join("deploy.db"))?
            }
            None => Connection::open_in_memory()?,
        };
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS builds (
                 provider_id TEXT NOT NULL,
                 version TEXT NOT NULL,
                 status TEXT NOT NULL,
                 error_message TEXT,
                 created_at TEXT NOT NULL,
                 log TEXT NOT NULL DEFAULT '',
                 binary TEXT,
                 PRIMARY KEY (provider_id, version)
             );
             CREATE TABLE IF NOT EXISTS deployments (
                 provider_id TEXT PRIMARY KEY,
                 version TEXT,
                 status TEXT NOT NULL,
                 updated_at TEXT NOT NULL
             );",
        )?;
        db.execute(
            "UPDATE builds SET status = 'failed', error_message = 'interrupted by a platform restart'
             WHERE status IN ('pending', 'building')",
            [],
        )?;
        Ok(DeployStore { db })
    }

    pub(crate) fn insert_build(&self, info: &BuildInfo) -> Result<(), DeployStoreError> {
        self.db.execute(
            "INSERT INTO builds (provider_id, version, status, error_message, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                info.provider_id,
                info.version,
                status_text(info.status),
                info.error_message,
                info.created_at.to_string()
            ],
        )?;
        Ok(())
    }

    pub(crate) fn set_build_status(
        &self,
        provider_id: &str,
        version: &str,
        status: BuildStatus,
        error_message: Option<&str>,
    ) -> Result<(), DeployStoreError> {
        self.db.execute(
            "UPDATE builds SET status = ?3, error_message = ?4 WHERE provider_id = ?1 AND version = ?2",
            params![provider_id, version, status_text(status), error_message],
        )?;
        Ok(())
    }

    pub(crate) fn finish_build(
        &self,
        provider_id: &str,
        version: &str,
        log: &str,
        binary: Option<&Path>,
    ) -> Result<(), DeployStoreError> {
        self.db.execute(
            "UPDATE builds SET log = ?3, binary = ?4 WHERE provider_id = ?1 AND version = ?2",
            params![
                provider_id,
                version,
                log,
                binary.map(|p| p.to_string_lossy().into_owned())
            ],
        )?;
        Ok(())
    }

    fn build_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawBuild> {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        ))
    }

    fn to_build(raw: RawBuild) -> Result<BuildRow, DeployStoreError> {
        let (provider_id, version, status, error_message, created_at, binary) = raw;
        Ok(BuildRow {
            info: BuildInfo {
                provider_id,
                version,
                status: build_status(&status)?,
                error_message,
                created_at: timestamp(&created_at)?,
            },
            binary: binary.map(PathBuf::from),
        })
    }

    pub(crate) fn build(
        &self,
        provider_id: &str,
        version: &str,
    ) -> Result<Option<BuildRow>, DeployStoreError> {
        let raw = self
            .db
            .query_row(
                "SELECT provider_id, version, status, error_message, created_at, binary FROM builds
                 WHERE provider_id = ?1 AND version = ?2",
                params![provider_id, version],
                Self::build_row,
            )
            .optional()?;
        raw.map(Self::to_build).transpose()
    }

    /// The builds of a provider, newest first, at most `limit`.
    pub(crate) fn builds(
        &self,
        provider_id: &str,
        limit: u32,
    ) -> Result<Vec<BuildRow>, DeployStoreError> {
        let mut statement = self.db.prepare(
            "SELECT provider_id, version, status, error_message, created_at, binary FROM builds
             WHERE provider_id = ?1 ORDER BY version DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![provider_id, limit], Self::build_row)?;
        rows.map(|raw| Self::to_build(raw?)).collect()
    }

    pub(crate) fn latest_success(
        &self,
        provider_id: &str,
    ) -> Result<Option<BuildRow>, DeployStoreError> {
        let raw = self
            .db
            .query_row(
                "SELECT provider_id, version, status, error_message, created_at, binary FROM builds
                 WHERE provider_id = ?1 AND status = 'success' ORDER BY version DESC LIMIT 1",
                params![provider_id],
                Self::build_row,
            )
            .optional()?;
        raw.map(Self::to_build).transpose()
    }

    pub(crate) fn latest_version(
        &self,
        provider_id: &str,
    ) -> Result<Option<String>, DeployStoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT MAX(version) FROM builds WHERE provider_id = ?1",
                params![provider_id],
                |row| row.get(0),
            )
            .optional()?
            .flatten())
    }

    pub(crate) fn build_log(
        &self,
        provider_id: &str,
        version: &str,
    ) -> Result<Option<String>, DeployStoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT log FROM builds WHERE provider_id = ?1 AND version = ?2",
                params![provider_id, version],
                |row| row.get(0),
            )
            .optional()?)
    }

    pub(crate) fn provider_ids(&self) -> Result<Vec<String>, DeployStoreError> {
        let mut statement = self.db.prepare(
            "SELECT provider_id FROM builds UNION SELECT provider_id FROM deployments ORDER BY 1",
        )?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn set_deployment(&self, row: &DeploymentRow) -> Result<(), DeployStoreError> {
        self.db.execute(
            "INSERT INTO deployments (provider_id, version, status, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (provider_id) DO UPDATE SET version = ?2, status = ?3, updated_at = ?4",
            params![row.provider_id, row.version, status_text(row.status), row.updated_at.to_string()],
        )?;
        Ok(())
    }

    pub(crate) fn deployment(
        &self,
        provider_id: &str,
    ) -> Result<Option<DeploymentRow>, DeployStoreError> {
        let raw: Option<(String, Option<String>, String, String)> = self
            .db
            .query_row(
                "SELECT provider_id, version, status, updated_at FROM deployments WHERE provider_id = ?1",
                params![provider_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        raw.map(|(provider_id, version, status, updated_at)| {
            Ok(DeploymentRow {
                provider_id,
                version,
                status: deployment_status(&status)?,
                updated_at: timestamp(&updated_at)?,
            })
        })
        .transpose()
    }

    pub(crate) fn deployments(&self) -> Result<Vec<DeploymentRow>, DeployStoreError> {
        let ids: Vec<String> = {
            let mut statement = self
                .db
                .prepare("SELECT provider_id FROM deployments ORDER BY 1")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(row) = self.deployment(&id)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Forgets the provider's builds and deployment.
    pub(crate) fn delete_provider(&self, provider_id: &str) -> Result<(), DeployStoreError> {
        self.db.execute(
            "DELETE FROM builds WHERE provider_id = ?1",
            params![provider_id],
        )?;
        self.db.execute(
            "DELETE FROM deployments WHERE provider_id = ?1",
            params![provider_id],
        )?;
        Ok(())
    }
}

/// The CalVer text (`YYYYMMDD.HHMMSS`) of `time`.
pub(crate) fn calver(time: DateTime<Utc>) -> String {
    time.format("%Y%m%d.%H%M%S").to_string()
}

/// Reads a CalVer version back.
pub(crate) fn parse_calver(text: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d.%H%M%S")
        .ok()
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calver_round_trips() {
        let t = parse_calver("20260102.030405").unwrap();
        assert_eq!(calver(t), "20260102.030405");
        assert!(parse_calver("2026-01-02").is_none());
    }

    #[test]
    fn unfinished_builds_fail_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeployStore::open(Some(dir.path())).unwrap();
        let info = BuildInfo {
            provider_id: "p".into(),
            version: "20260102.030405".into(),
            status: BuildStatus::Building,
            error_message: None,
            created_at: Timestamp::now(),
        };
        store.insert_build(&info).unwrap();
        drop(store);
        let store = DeployStore::open(Some(dir.path())).unwrap();
        let row = store.build("p", "20260102.030405").unwrap().unwrap();
        assert_eq!(row.info.status, BuildStatus::Failed);
        assert_eq!(
            row.info.error_message.as_deref(),
            Some("interrupted by a platform restart")
        );
    }
}
