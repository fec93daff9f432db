//! Client overhead against a bare `reqwest` + `serde_json` call, and decode cost of a large
//! resource list.
//!
//! Run with `cargo bench -p pragma-sdk --bench client`; after criterion's report the bench
//! prints the ratios SDK / bare from criterion's median estimates, and the median of paired
//! ratios from rounds that time both sides back to back (in alternating order), which a busy
//! machine disturbs less than two runs one after the other.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// The median over `rounds` of the time ratio `sdk / bare`, each round timing both back to
/// back, the first of the two alternating between rounds.
fn paired_ratio(rounds: usize, mut sdk: impl FnMut(), mut bare: impl FnMut()) -> f64 {
    fn time(f: &mut impl FnMut()) -> f64 {
        let started = Instant::now();
        f();
        started.elapsed().as_secs_f64()
    }
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            if round % 2 == 0 {
                let s = time(&mut sdk);
                s / time(&mut bare)
            } else {
                let b = time(&mut bare);
                time(&mut sdk) / b
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn bench_get_resource(c: &mut Criterion, runtime: &tokio::runtime::Runtime) -> f64 {
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
    let sdk_call = || {
        runtime
            .block_on(sdk.get_resource("mycloud", "storage/bucket", "bucket-7"))
            .expect("get_resource")
    };
    let bare_call = || {
        runtime.block_on(async {
            let response = bare.get(&url).send().await.expect("send");
            let bytes = response.bytes().await.expect("body");
            serde_json::from_slice::<RawResource>(&bytes).expect("decode")
        })
    };
    group.bench_function("sdk", |b| b.iter(sdk_call));
    group.bench_function("bare", |b| b.iter(bare_call));
    group.finish();

    paired_ratio(
        41,
        || (0..200).for_each(|_| drop(black_box(sdk_call()))),
        || (0..200).for_each(|_| drop(black_box(bare_call()))),
    )
}

fn bench_decode_list(c: &mut Criterion) -> f64 {
    let list: Vec<serde_json::Value> = (0..10_000).map(resource_json).collect();
    let body = serde_json::to_vec(&list).expect("encode the list");

    let mut group = c.benchmark_group("decode_10k_resources");
    group.sample_size(15);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    let sdk_decode =
        || pragma_sdk::decode::from_slice::<Vec<RawResource>>(black_box(&body)).expect("decode");
    let bare_decode =
        || serde_json::from_slice::<Vec<RawResource>>(black_box(&body)).expect("decode");
    group.bench_function("sdk", |b| b.iter(sdk_decode));
    group.bench_function("bare", |b| b.iter(bare_decode));
    group.finish();

    paired_ratio(
        21,
        || drop(black_box(sdk_decode())),
        || drop(black_box(bare_decode())),
    )
}

fn main() {
    let home = criterion_home();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("start the runtime");

    let mut criterion = Criterion::default().configure_from_args();
    let get_paired = bench_get_resource(&mut criterion, &runtime);
    let decode_paired = bench_decode_list(&mut criterion);
    criterion.final_summary();

    println!();
    for (group, target, paired) in [
        ("get_resource", 1.10, get_paired),
        ("decode_10k_resources", 1.2, decode_paired),
    ] {
        match (
            median_ns(&home, group, "sdk"),
            median_ns(&home, group, "bare"),
        ) {
            (Some(sdk), Some(bare)) => println!(
                "{group}: criterion medians sdk {:.1} us, bare {:.1} us, ratio sdk/bare {:.3}",
                sdk / 1e3,
                bare / 1e3,
                sdk / bare
            ),
            _ => println!("{group}: no criterion estimates under {}", home.display()),
        }
        println!("{group}: paired ratio sdk/bare {paired:.3} (target <= {target})");
    }
}
