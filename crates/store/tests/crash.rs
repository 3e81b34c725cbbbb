//! Acknowledged writes survive `kill -9`. The test binary re-runs itself as
//! a child that writes and acknowledges on stdout until it is killed; the
//! parent then reopens the folder and looks for every acknowledged write.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use store::{Condition, EmbeddedStore, Op, Store};
use tempfile::TempDir;

const DIR_VAR: &str = "KOMAINU_STORE_CRASH_DIR";
const ACKS_BEFORE_KILL: u64 = 40;

fn put(id: &str) -> Op {
    Op::Put {
        kind: "route".to_owned(),
        id: id.to_owned(),
        value: id.as_bytes().to_vec(),
        condition: Condition::MustNotExist,
    }
}

/// The child half: does nothing unless the parent set the folder variable.
#[tokio::test]
async fn crash_child_writer() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let store = EmbeddedStore::open(Path::new(&dir)).unwrap();
    for n in 0_u64.. {
        let revision = store.write(vec![put(&format!("{n:08}"))]).await.unwrap();
        let hits = store.incr("hits", 1, None).await.unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "acked {n} {revision} {hits}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut last = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let Some(ack) = line.strip_prefix("acked ") else {
            continue;
        };
        let fields: Vec<u64> = ack.split(' ').map(|field| field.parse().unwrap()).collect();
        last = Some((fields[0], fields[1], fields[2]));
        if fields[0] + 1 >= ACKS_BEFORE_KILL {
            break;
        }
    }
    // SIGKILL: no destructor, no clean close of the database.
    child.kill().unwrap();
    child.wait().unwrap();
    let (n, revision, hits) = last.expect("the child acknowledged nothing");
    assert_eq!(n + 1, ACKS_BEFORE_KILL);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        for acked in 0..=n {
            let id = format!("{acked:08}");
            assert_eq!(
                store.get("route", &id).await.unwrap().as_deref(),
                Some(id.as_bytes()),
                "acknowledged write {acked} is lost"
            );
        }
        assert!(store.revision().await.unwrap() >= revision);
        let counted = store.counters(&["hits".to_owned()]).await.unwrap();
        assert!(counted[0].is_some_and(|counter| counter.value >= i64::try_from(hits).unwrap()));
    });
}
