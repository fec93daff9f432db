//! `GET /providers/`: the hosted providers, each `available`.
//!
//! Limitation: only the listing is served here; pushing, building and deploying providers are
//! not available from this module.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use pragma_sdk::models::{DeploymentStatus, ProviderInfo};

use crate::hosted::ProviderRegistry;

async fn list(State(registry): State<Arc<dyn ProviderRegistry>>) -> Json<Vec<ProviderInfo>> {
    Json(
        registry
            .provider_names()
            .into_iter()
            .map(|name| ProviderInfo {
                provider_id: name,
                current_version: None,
                deployment_status: Some(DeploymentStatus::Available),
                updated_at: None,
            })
            .collect(),
    )
}

/// The router serving `GET /providers/`, with its state applied.
pub(crate) fn router(registry: Arc<dyn ProviderRegistry>) -> Router {
    Router::new()
        .route("/providers/", get(list))
        .with_state(registry)
}
