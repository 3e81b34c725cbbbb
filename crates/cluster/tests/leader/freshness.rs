//! Long-poll, the export cache and `stateDumpPath`: how soon and how
//! cheaply a worker learns of a write.

use super::*;
#[tokio::test]
async fn long_poll_answers_soon_after_a_write() {
    let (store, _leader, router) = setup(LeaderSettings {
        cache_state_for: Duration::from_secs(60),
        ..settings()
    });
    put_entity(&store, "routes", "r1").await;
    let etag = get(&router, "/api/cluster/state", &[]).await.header("etag");
    let waiting = {
        let (router, etag) = (router.clone(), etag.clone());
        tokio::spawn(async move {
            let answer = get(
                &router,
                "/api/cluster/state?wait=10000",
                &[("if-none-match", &etag)],
            )
            .await;
            (answer, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "answered before any write");
    // A counter move is not news for a long-poll.
    store
        .incr("quotas:a:daily:1", 1, Some(now_ms() + 60_000))
        .await
        .unwrap();
    let written = Instant::now();
    put_entity(&store, "routes", "r2").await;
    let (answer, answered) = waiting.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answered - written < Duration::from_millis(500),
        "took {:?}",
        answered - written
    );
    assert_ne!(answer.header("etag"), etag);
    assert_eq!(wire::parse_state(&answer.plain()).unwrap().len(), 3);
}

#[tokio::test]
async fn long_poll_ends_with_a_304_at_the_deadline() {
    let (store, _leader, router) = setup(settings());
    put_entity(&store, "routes", "r1").await;
    let etag = get(&router, "/api/cluster/state", &[]).await.header("etag");
    let start = Instant::now();
    let answer = get(
        &router,
        "/api/cluster/state?wait=300",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(answer.header("etag"), etag);
}

#[tokio::test]
async fn the_export_is_reused_within_cache_state_for_and_dropped_on_a_write() {
    let (store, _leader, router) = setup(LeaderSettings {
        cache_state_for: Duration::from_secs(60),
        ..settings()
    });
    put_entity(&store, "routes", "r1").await;
    // A crowd of pollers at once costs one build: they all get the same one.
    let crowd: Vec<_> = (0..20)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move {
                get(&router, "/api/cluster/state", &[])
                    .await
                    .header("x-data-from")
            })
        })
        .collect();
    let mut froms = Vec::new();
    for poller in crowd {
        froms.push(poller.await.unwrap());
    }
    assert!(froms.iter().all(|f| *f == froms[0]), "{froms:?}");
    let first = get(&router, "/api/cluster/state", &[]).await;
    store
        .incr("quotas:a:daily:1", 1, Some(now_ms() + 60_000))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cached = get(&router, "/api/cluster/state", &[]).await;
    assert_eq!(cached.header("x-data-from"), first.header("x-data-from"));
    assert_eq!(
        cached.body, first.body,
        "the counter waits for the cache to expire"
    );
    put_entity(&store, "routes", "r2").await;
    let rebuilt = get(&router, "/api/cluster/state", &[]).await;
    assert_ne!(rebuilt.header("x-data-from"), first.header("x-data-from"));
    assert_eq!(rebuilt.header("x-data-count"), "3");
}

async fn wait_for_file(path: &std::path::Path, content: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read(path).ok().as_deref() != Some(content) {
        assert!(Instant::now() < deadline, "dump never matched the export");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn each_new_export_is_dumped_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.ndjson");
    let dump = LeaderSettings {
        compression: 6,
        state_dump_path: Some(path.clone()),
        ..settings()
    };
    let (store, _leader, router) = setup(dump);
    put_entity(&store, "routes", "r1").await;
    let first = get(&router, "/api/cluster/state", &[]).await;
    wait_for_file(&path, &first.plain()).await;
    put_entity(&store, "routes", "r2").await;
    let second = get(&router, "/api/cluster/state", &[]).await;
    wait_for_file(&path, &second.plain()).await;
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("state.ndjson")],
        "no temporary file left"
    );
}

#[tokio::test]
async fn a_dump_failure_is_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-folder").join("state.ndjson");
    let (store, _leader, router) = setup(LeaderSettings {
        state_dump_path: Some(path),
        ..settings()
    });
    put_entity(&store, "routes", "r1").await;
    assert_eq!(
        get(&router, "/api/cluster/state", &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_worker_held_in_a_long_poll_stays_a_member() {
    let timeout = Duration::from_millis(1_500);
    let (_store, leader, router) = setup(LeaderSettings {
        member_timeout: timeout,
        ..settings()
    });
    let etag = get(&router, "/api/cluster/state", &[]).await.header("etag");
    let start = Instant::now();
    let waiting = tokio::spawn(async move {
        let headers = [
            (wire::HEADER_WORKER_ID, "w1"),
            ("if-none-match", etag.as_str()),
        ];
        get(&router, "/api/cluster/state?wait=2500", &headers)
            .await
            .status
    });
    // Seen at 0 only, w1 would be gone by 1.5 s; the wait refreshes it every second.
    tokio::time::sleep_until((start + Duration::from_millis(1_800)).into()).await;
    let members = leader.members().await;
    assert!(
        members.as_array().unwrap().iter().any(|m| m["id"] == "w1"),
        "{members}"
    );
    assert_eq!(waiting.await.unwrap(), StatusCode::NOT_MODIFIED);
}
