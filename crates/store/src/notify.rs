use tokio::sync::watch;

/// Publishes `revision` unless a later one already went out: two writers can
/// commit in one order and reach this call in the other, and subscribers must
/// never see the revision go backwards.
pub(crate) fn publish(changes: &watch::Sender<u64>, revision: u64) {
    changes.send_if_modified(|current| {
        if revision > *current {
            *current = revision;
            true
        } else {
            false
        }
    });
}
