//! Hostile input: bad names, configs and bodies are each answered with a clear 4xx, and
//! nothing is stored or lost.

mod common;

use std::sync::Arc;

use common::{echo_id, resource, start, Api, Recorder};
use serde_json::{json, Value};

fn first_loc(body: &Value) -> Vec<String> {
    body["detail"][0]["loc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| l.to_string())
        })
        .collect()
}

#[tokio::test]
async fn bad_names_are_refused() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    let long = "a".repeat(10 * 1024);
    for name in [
        "a/b",
        "..",
        "a..b",
        "../etc",
        "",
        "nämé",
        "名前",
        "sp ace",
        long.as_str(),
        "-x",
    ] {
        let (status, body) = api
            .apply(resource("echo", name, json!({}), "pending"))
            .await;
        assert_eq!(status, 422, "{name:?}: {body}");
        assert_eq!(first_loc(&body), vec!["body", "name"], "{name:?}");
    }
    let (status, body) = api
        .apply(json!({"provider": "nope", "resource": "echo", "name": "n"}))
        .await;
    assert_eq!(
        (status, first_loc(&body)),
        (422, vec!["body".into(), "provider".into()])
    );
    assert!(body["detail"][0]["msg"].as_str().unwrap().contains("nope"));
    let (status, body) = api
        .apply(json!({"provider": "test", "resource": "nope/x", "name": "n"}))
        .await;
    assert_eq!(
        (status, first_loc(&body)),
        (422, vec!["body".into(), "resource".into()])
    );
    let (status, body) = api
        .apply(json!({"provider": "test", "resource": "echo", "name": "n", "tags": [""]}))
        .await;
    assert_eq!(
        (status, first_loc(&body)),
        (422, vec!["body".into(), "tags".into(), "0".into()])
    );
    assert_eq!(
        api.get("/resources/").await.1,
        json!([]),
        "nothing was stored"
    );
    assert!(recorder.calls().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn bad_configs_are_refused_naming_the_field() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    assert_eq!(
        api.apply(resource(
            "echo",
            "keep",
            json!({"value": "safe"}),
            "pending"
        ))
        .await
        .0,
        200
    );
    api.wait_state(&echo_id("keep"), "ready").await;

    let cases = [
        (
            json!({"colour": "red"}),
            vec!["body", "config", "colour"],
            "extra_forbidden",
        ),
        (
            json!({"size_gb": "ten"}),
            vec!["body", "config", "size_gb"],
            "type_error",
        ),
        (
            json!({"size_gb": -1}),
            vec!["body", "config", "size_gb"],
            "greater_than_equal",
        ),
        (
            json!({"value": 7}),
            vec!["body", "config", "value"],
            "value_error",
        ),
    ];
    for (config, loc, kind) in cases {
        let (status, body) = api
            .apply(resource("echo", "keep", config.clone(), "pending"))
            .await;
        assert_eq!(status, 422, "{config}: {body}");
        assert_eq!(first_loc(&body), loc, "{config}");
        assert_eq!(body["detail"][0]["type"], kind, "{config}");
    }
    let mut deep = json!("bottom");
    for _ in 0..200 {
        deep = json!({ "x": deep });
    }
    let (status, body) = api
        .apply(resource(
            "echo",
            "keep",
            json!({"upstream": deep}),
            "pending",
        ))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["type"], "json_invalid");

    let (status, body) = api.apply(json!(["not", "an", "object"])).await;
    assert_eq!((status, first_loc(&body)), (422, vec!["body".to_owned()]));
    let (status, body) = api
        .apply(json!({"provider": "test", "resource": "echo", "name": 5}))
        .await;
    assert_eq!(
        (status, first_loc(&body)),
        (422, vec!["body".into(), "name".into()])
    );

    let (_, kept) = api.resource(&echo_id("keep")).await;
    assert_eq!(
        kept["config"],
        json!({"value": "safe"}),
        "the stored resource is unchanged"
    );
    assert_eq!(kept["lifecycle_state"], "ready");
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    let url = format!("{}/resources/apply", server.base_url());

    let big = json!({"provider": "test", "resource": "echo", "name": "big",
                     "config": {"value": "x".repeat(5 * 1024 * 1024)}});
    let response = api.http.post(&url).json(&big).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("limit"));

    let response = api
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"provider\": \"test\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert!(body["detail"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("line 1"));

    let (status, body) = api.get("/resources/resource:..%2F..%2Fetc").await;
    assert_eq!(status, 404);
    assert!(body["detail"].is_string());
    let (status, _) = api.get("/ops/dead-letter/%E2%98%83").await;
    assert_eq!(status, 404);
    let (status, _) = api.get("/resources/x/logs?since=yesterday").await;
    assert_eq!(status, 422);
    let (status, body) = api.send(reqwest::Method::PATCH, "/resources/", None).await;
    assert_eq!((status, body["detail"].is_string()), (405, true));
    assert_eq!(api.get("/resources/").await.1, json!([]));
    server.shutdown().await;
}

#[tokio::test]
async fn a_path_off_by_its_trailing_slash_is_redirected() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, location) in [
        ("/resources", Some("/resources/")),
        (
            "/resources?provider=test",
            Some("/resources/?provider=test"),
        ),
        ("/providers", Some("/providers/")),
        ("/health/", Some("/health")),
        ("/resources/types/", Some("/resources/types")),
        (
            "/resources/resource:test_echo_a/status/",
            Some("/resources/resource:test_echo_a/status"),
        ),
        ("/ops/dead-letter/", Some("/ops/dead-letter")),
        ("/nowhere", None),
        ("/nowhere/", None),
        ("/resources/a/b/c", None),
    ] {
        let response = http
            .get(format!("{}{path}", server.base_url()))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let found = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        match location {
            Some(location) => {
                assert_eq!(status, 307, "{path}");
                assert_eq!(found.as_deref(), Some(location), "{path}");
            }
            None => {
                assert_eq!(status, 404, "{path}");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["detail"], "Not Found", "{path}");
            }
        }
    }
    // The SDK's client follows the redirect like any HTTP client.
    let api = Api::new(server.base_url());
    let (status, body) = api.get("/resources").await;
    assert_eq!((status, body), (200, json!([])));
    server.shutdown().await;
}
