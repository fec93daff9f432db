//! Client overhead against a bare `reqwest` + `serde_json` call, and decode cost of a large
//! resource list.
//!
//! Run with `cargo bench -p pragma-sdk --bench client`; after criterion's report the bench
//! prints the ratios SDK / bare from criterion's median estimates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use criterion::{black_box, Criterion, SamplingMode};
use pragma_sdk::models::RawResource;
use pragma_sdk::ClientBuilder;

fn resource_json(index: usize) -> serde_json::Value {
    serde_json::json!({
        "provider": "mycloud",
        "resource": "storage/bucket",
        "name": format!("bucket-{index}"),
        "config": {
            "region": "eu-west-1",
            "size_gb": index % 500,
            "labels": {"team": "data", "tier": "hot"},
            "versioning": true
        },
        "dependencies": [{"provider": "mycloud", "resource": "network/vpc", "name": "main"}],
        "owner_references": [],
        "outputs": {"url": format!("https://buckets.example/bucket-{index}"), "arn": "arn:x:y"},
        "lifecycle_state": "ready",
        "provisioned": true,
        "tags": ["prod", "eu"],
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:06.123456"
    })
}

/// Where criterion writes its estimates: `CRITERION_HOME`, set here when unset to the
/// `criterion` folder of the target directory holding this binary.
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"));
    let home = target.join("criterion");
    std::env::set_var("CRITERION_HOME", &home);
    home
}

fn median_ns(home: &Path, group: &str, function: &str) -> Option<f64> {
    let path = home.join(group).join(function).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["median"]["point_estimate"].as_f64()
}

fn bench_get_resource(c: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let body = resource_json(7).to_string();
    let app = Router::new().route(
        "/resources/{id}",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    runtime.spawn(async move { axum::serve(listener, app).await });

    let sdk = ClientBuilder::new()
        .base_url(&base)
        .no_auth()
        .build()
        .expect("build the client");
    let bare = reqwest::Client::new();
    let url = format!("{base}/resources/resource%3Amycloud_storage_bucket_bucket-7");

    let mut group = c.benchmark_group("get_resource");
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("sdk", |b| {
        b.iter(|| {
            runtime
                .block_on(sdk.get_resource("mycloud", "storage/bucket", "bucket-7"))
                .expect("get_resource")
        })
    });
    group.bench_function("bare", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = bare.get(&url).send().await.expect("send");
                let bytes = response.bytes().await.expect("body");
                serde_json::from_slice::<RawResource>(&bytes).expect("decode")
            })
        })
    });
    group.finish();
}

fn bench_decode_list(c: &mut Criterion) {
    let list: Vec<serde_json::Value> = (0..10_000).map(resource_json).collect();
    let body = serde_json::to_vec(&list).expect("encode the list");

    let mut group = c.benchmark_group("decode_10k_resources");
    group.sample_size(15);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("sdk", |b| {
        b.iter(|| {
            pragma_sdk::decode::from_slice::<Vec<RawResource>>(black_box(&body)).expect("decode")
        })
    });
    group.bench_function("bare", |b| {
        b.iter(|| serde_json::from_slice::<Vec<RawResource>>(black_box(&body)).expect("decode"))
    });
    group.finish();
}

fn main() {
    let home = criterion_home();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("start the runtime");

    let mut criterion = Criterion::default().configure_from_args();
    bench_get_resource(&mut criterion, &runtime);
    bench_decode_list(&mut criterion);
    criterion.final_summary();

    println!();
    for (group, target) in [("get_resource", 1.10), ("decode_10k_resources", 1.2)] {
        match (
            median_ns(&home, group, "sdk"),
            median_ns(&home, group, "bare"),
        ) {
            (Some(sdk), Some(bare)) => println!(
                "{group}: sdk {:.1} us, bare {:.1} us, ratio sdk/bare {:.3} (target <= {target})",
                sdk / 1e3,
                bare / 1e3,
                sdk / bare
            ),
            _ => println!("{group}: no estimates under {}", home.display()),
        }
    }
}
