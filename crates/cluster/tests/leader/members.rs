//! The member list (`/api/cluster/members`, `Leader::members`) and the live
//! events (`/api/cluster/live`).

use super::*;

fn worker_headers<'a>(id: &'a str, digest: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        (wire::HEADER_WORKER_ID, id),
        (wire::HEADER_WORKER_NAME, id),
        (wire::HEADER_WORKER_VERSION, "1.2.3"),
        (wire::HEADER_WORKER_LOCATION, "zone-b"),
        (wire::HEADER_WORKER_HTTP_PORT, "8092"),
        (wire::HEADER_WORKER_HTTPS_PORT, "9092"),
        (wire::HEADER_WORKER_STATE_DIGEST, digest),
        (wire::HEADER_WORKER_STATE_REVISION, "7"),
    ]
}

fn by_id<'a>(members: &'a Value, id: &str) -> Option<&'a Value> {
    members.as_array().unwrap().iter().find(|m| m["id"] == id)
}

#[tokio::test]
async fn members_come_from_the_headers_and_say_who_is_in_sync() {
    let (store, leader, router) = setup(settings());
    put_entity(&store, "routes", "r1").await;
    let etag = get(&router, "/api/cluster/state", &[]).await.header("etag");
    let bare = etag.trim_matches('"').to_string();
    get(&router, "/api/cluster/state", &worker_headers("w1", &etag)).await;
    let stats = "{\"typ\":\"globstats\",\"rate\":3}\n";
    push(&router, stats, &worker_headers("w2", "\"stale\"")).await;

    let members = get(&router, "/api/cluster/members", &[]).await.json();
    assert_eq!(members.as_array().unwrap().len(), 3);
    let me = &members[0];
    assert_eq!(
        (me["type"].as_str(), me["name"].as_str()),
        (Some("Leader"), Some("leader-1"))
    );
    assert_eq!(
        (me["httpPort"].as_u64(), me["location"].as_str()),
        (Some(8091), Some("eu"))
    );
    assert_eq!(me["stateDigest"], bare.as_str());
    assert_eq!(me["stateRevision"], store.revision().await.unwrap());
    assert!(me["lastSeen"].as_u64().unwrap() + 5_000 > now_ms());

    let w1 = by_id(&members, "w1").unwrap();
    assert_eq!(w1["type"], "Worker");
    assert_eq!(
        (w1["version"].as_str(), w1["location"].as_str()),
        (Some("1.2.3"), Some("zone-b"))
    );
    assert_eq!(
        (w1["httpPort"].as_u64(), w1["httpsPort"].as_u64()),
        (Some(8092), Some(9092))
    );
    assert_eq!(
        (w1["timeout"].as_u64(), w1["health"].as_str()),
        (Some(30_000), Some("green"))
    );
    assert_eq!(
        (w1["stateDigest"].as_str(), w1["stateRevision"].as_u64()),
        (Some(bare.as_str()), Some(7))
    );
    assert_eq!(w1["inSync"], true);

    let w2 = by_id(&members, "w2").unwrap();
    assert_eq!(w2["inSync"], false);
    assert_eq!(w2["stats"]["rate"], 3);

    // A write makes w1 behind, as the list shows at once.
    put_entity(&store, "routes", "r2").await;
    let members = get(&router, "/api/cluster/members", &[]).await.json();
    assert_eq!(by_id(&members, "w1").unwrap()["inSync"], false);
    assert_eq!(leader.members().await.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn health_fades_with_age_and_the_expired_are_forgotten() {
    let timeout = Duration::from_millis(2_000);
    let (_store, leader, router) = setup(LeaderSettings {
        member_timeout: timeout,
        ..settings()
    });
    let start = Instant::now();
    get(&router, "/api/cluster/state", &worker_headers("w1", "x")).await;
    let health = || {
        let leader = leader.clone();
        async move {
            by_id(&leader.members().await, "w1").map(|m| m["health"].as_str().unwrap().to_string())
        }
    };
    let at = |ms: u64| tokio::time::sleep_until((start + Duration::from_millis(ms)).into());
    at(100).await;
    assert_eq!(health().await.as_deref(), Some("green"));
    at(1_200).await;
    assert_eq!(health().await.as_deref(), Some("orange"));
    at(1_700).await;
    assert_eq!(health().await.as_deref(), Some("red"));
    at(2_300).await;
    assert_eq!(health().await, None);
    assert_eq!(
        leader.members().await.as_array().unwrap().len(),
        1,
        "only the leader is left"
    );
}

#[tokio::test]
async fn live_events_carry_the_members_revision_and_etag() {
    let (store, leader, router) = setup(settings());
    put_entity(&store, "routes", "r1").await;
    get(&router, "/api/cluster/state", &worker_headers("w1", "x")).await;
    let holders = Arc::strong_count(&leader);
    let request = Request::get("/api/cluster/live?every=250")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut text = String::new();
    for _ in 0..2 {
        // Two events, a tick apart.
        let event = loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .unwrap();
            let data = frame.unwrap().unwrap().into_data().unwrap();
            text.push_str(std::str::from_utf8(&data).unwrap());
            if let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                break event;
            }
        };
        assert!(event.starts_with("event: members\n"), "{event}");
        let data = event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap();
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["revision"], store.revision().await.unwrap());
        assert_eq!(data["etag"].as_str().unwrap().len(), 64);
        assert_eq!(data["members"][1]["id"], "w1");
    }
    // Dropping the body is the client going away; the stream, and its hold
    // on the leader, go with it.
    assert!(Arc::strong_count(&leader) > holders);
    drop(body);
    assert_eq!(Arc::strong_count(&leader), holders);
}
