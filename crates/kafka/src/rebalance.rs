//! The consumer's rebalance callbacks: they record that the group rebalanced, so that the loop
//! drops what it has not committed, and which partitions were assigned, so that the loop seeks
//! each to the sink's position.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

/// What the rebalance callbacks (run by librdkafka inside `recv`) leave for the loop.
#[derive(Debug, Default)]
pub(crate) struct RebalanceContext {
    rebalanced: AtomicBool,
    assigned: Mutex<BTreeSet<i32>>,
}

impl RebalanceContext {
    /// True once after each rebalance.
    pub(crate) fn take_rebalanced(&self) -> bool {
        self.rebalanced.swap(false, Ordering::SeqCst)
    }

    /// The partitions assigned since the last call.
    pub(crate) fn take_assigned(&self) -> BTreeSet<i32> {
        std::mem::take(&mut *self.assigned.lock().unwrap_or_else(|poison| poison.into_inner()))
    }
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                let numbers = partition_numbers(partitions);
                tracing::info!(partitions = ?numbers, "partitions assigned");
                self.assigned
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .extend(numbers);
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = ?partition_numbers(partitions), "partitions revoked")
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
        }
        self.rebalanced.store(true, Ordering::SeqCst);
    }
}

fn partition_numbers(list: &TopicPartitionList) -> Vec<i32> {
    list.elements()
        .iter()
        .map(|element| element.partition())
        .collect()
}
