//! `PUT /api/cluster/quotas`: applied once per batch, totals answered,
//! nothing applied from a bad push.

use super::*;

fn batch(id: &str, increments: &[(&str, u64)], expiry: u64) -> String {
    let mut body = format!("{{\"typ\":\"batch\",\"id\":\"{id}\"}}\n");
    for (key, by) in increments {
        body.push_str(&format!(
            "{{\"typ\":\"quotaincr\",\"k\":\"{key}\",\"i\":{by},\"e\":{expiry}}}\n"
        ));
    }
    body.push_str("{\"typ\":\"globstats\",\"rate\":2.5,\"cpu_usage\":0.1}\n");
    body
}

fn totals(answer: &Answer) -> Vec<(String, u64)> {
    let parsed: wire::PushAnswer = serde_json::from_slice(&answer.body).unwrap();
    assert!(parsed.done);
    parsed
        .counters
        .into_iter()
        .map(|c| (c.counter, c.total))
        .collect()
}

fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    expected.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[tokio::test]
async fn a_batch_is_applied_once_even_when_sent_twice() {
    let (store, _leader, router) = setup(settings());
    let expiry = now_ms() + 60_000;
    let daily = "quotas:k:daily:1";
    let monthly = "quotas:k:monthly:1";
    let body = batch("w1:1", &[(daily, 3), (monthly, 2), (daily, 1)], expiry);
    let first = push(&router, &body, &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(totals(&first), pairs(&[(daily, 4), (monthly, 2)]));
    let retried = push(&router, &body, &[]).await;
    assert_eq!(totals(&retried), pairs(&[(daily, 4), (monthly, 2)]));
    let stored = store.counters(&[daily.to_string()]).await.unwrap();
    assert_eq!(
        stored[0].map(|c| (c.value, c.expires_at_ms)),
        Some((4, Some(expiry)))
    );
    let next = push(&router, &batch("w1:2", &[(daily, 5)], expiry), &[]).await;
    assert_eq!(totals(&next), pairs(&[(daily, 9)]));
    // Another worker's batch with the same sequence is another batch.
    let other = push(&router, &batch("w2:1", &[(daily, 1)], expiry), &[]).await;
    assert_eq!(totals(&other), pairs(&[(daily, 10)]));
}

#[tokio::test]
async fn a_gzipped_push_is_read() {
    let (_store, _leader, router) = setup(settings());
    let body = gzip(batch("w1:1", &[("quotas:z:daily:1", 7)], now_ms() + 60_000).as_bytes());
    let request = Request::put("/api/cluster/quotas")
        .header("content-encoding", "gzip")
        .body(Body::from(body))
        .unwrap();
    let answer = send(&router, request).await;
    assert_eq!(totals(&answer), pairs(&[("quotas:z:daily:1", 7)]));
}

#[tokio::test]
async fn a_bad_line_is_a_400_and_nothing_is_applied() {
    let (store, _leader, router) = setup(settings());
    let expiry = now_ms() + 60_000;
    let good = batch("w1:1", &[("quotas:k:daily:1", 3)], expiry);
    let bad =
        format!("{good}{{\"typ\":\"quotaincr\",\"k\":\"quotas:k:daily:1\",\"i\":-1,\"e\":1}}\n");
    let answer = push(&router, &bad, &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let error = answer.json();
    assert_eq!(error["error"], "bad_request");
    let description = error["error_description"].as_str().unwrap();
    assert!(description.starts_with("line 4: "), "{description}");
    assert_eq!(
        store.counters(&["quotas:k:daily:1".into()]).await.unwrap(),
        vec![None]
    );
    let garbage = push(
        &router,
        "{\"typ\":\"batch\",\"id\":\"w1:9\"}\nnot json\n",
        &[],
    )
    .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    // The rejected batch was not remembered: sent right, it applies.
    let answer = push(&router, &good, &[]).await;
    assert_eq!(totals(&answer), pairs(&[("quotas:k:daily:1", 3)]));
}

#[tokio::test]
async fn a_push_over_8_mib_is_a_413() {
    let (_store, _leader, router) = setup(settings());
    let line = format!(
        "{{\"typ\":\"quotaincr\",\"k\":\"quotas:{}\",\"i\":1,\"e\":1}}\n",
        "x".repeat(1000)
    );
    let body = line.repeat(8 * 1024 * 1024 / line.len() + 1);
    assert_eq!(
        push(&router, &body, &[]).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Declared or not, and zipped small: the decoded size counts.
    let zipped = gzip(body.as_bytes());
    assert!(zipped.len() < 1024 * 1024);
    let request = Request::put("/api/cluster/quotas")
        .header("content-encoding", "gzip")
        .body(Body::from(zipped))
        .unwrap();
    assert_eq!(
        send(&router, request).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}
