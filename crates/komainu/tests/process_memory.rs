//! Process-wide memory settings of a running node.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Node;

/// Huge pages would make an idle worker's RSS about twice what it uses
/// (`bench/worker_memory.py`), so a node turns them off for itself.
#[tokio::test]
async fn a_node_runs_without_transparent_huge_pages() {
    let (node, _dir) = Node::start(&[]);
    let thp = node.proc_status("THP_enabled");
    if thp.is_none() {
        eprintln!("skipped: this kernel's /proc/<pid>/status has no THP_enabled line");
        return;
    }
    assert_eq!(thp.as_deref(), Some("0"), "THP_enabled of the node");
}
