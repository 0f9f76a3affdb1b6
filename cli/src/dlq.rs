//! The dead-letter topic, where the consumers put the messages they cannot decode (with the error
//! and the message's origin in headers, DESIGN.md §6.3): [`read`] lists what is in it, and
//! [`replay`] sends chosen messages back to the events topic once the cause is fixed — in the
//! consumers (a deploy that reads them) or in the messages themselves (corrected payloads).
//!
//! Each consumer group dead-letters its own copy of a message, so copies with the same origin are
//! sent once. A message is sent only if it now decodes as an event, exactly as the consumers
//! decode it, so that a replay cannot feed the DLQ again. A replayed event keeps its key (so its
//! partition, where the lake deduplicates) and its `event_id`, which both stores deduplicate by:
//! replaying the same message twice stores it once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lakehouse_event::EnrichedEvent;
use lakehouse_progress::Phase;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, SyncError};

/// How long reading the topic to its end may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// One message of the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where it is in the dead-letter topic.
    pub partition: i32,
    pub offset: i64,
    /// When it was dead-lettered.
    pub timestamp: Option<DateTime<Utc>>,
    /// Why the consumer could not decode it.
    pub error: Option<String>,
    /// Where it came from: the events topic, its partition and offset there.
    pub source_topic: Option<String>,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
    pub key: Option<String>,
    /// The message as JSON when it is JSON, else as text.
    pub payload: Value,
}

impl DeadLetter {
    /// What identifies the original message: its origin, or (for a message without one) itself.
    fn origin(&self) -> (Option<String>, Option<i32>, Option<i64>, i32, i64) {
        match (&self.source_topic, self.source_partition, self.source_offset) {
            (Some(topic), Some(partition), Some(offset)) => {
                (Some(topic.clone()), Some(partition), Some(offset), 0, 0)
            }
            _ => (None, None, None, self.partition, self.offset),
        }
    }

    fn payload_bytes(&self) -> Vec<u8> {
        match &self.payload {
            Value::String(text) => text.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }
    }
}

/// Which dead letters to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    All,
    /// One partition of the dead-letter topic, offsets `from..=to`.
    Range {
        partition: i32,
        from: i64,
        to: i64,
    },
}

impl Selection {
    fn contains(&self, letter: &DeadLetter) -> bool {
        match *self {
            Self::All => true,
            Self::Range { partition, from, to } => {
                letter.partition == partition && (from..=to).contains(&letter.offset)
            }
        }
    }
}

/// What a replay sent, and what it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    pub dry_run: bool,
    /// Dead letters the selection chose.
    pub selected: usize,
    /// Copies of a message another selected dead letter already stands for.
    pub duplicates: usize,
    /// `(partition, offset)` of the dead letters sent (or, in a dry run, that would be).
    pub sent: Vec<(i32, i64)>,
    /// The event ids sent.
    pub event_ids: Vec<uuid::Uuid>,
    /// Dead letters that still do not decode, with the reason: not sent.
    pub still_invalid: Vec<(i32, i64, String)>,
}

/// Every message in `topic`, oldest first per partition. Reads each partition from its start to
/// the high watermark the first fetches report, in a client of its own that commits nothing.
pub async fn read(config: &ClientConfig, topic: &str) -> Result<Vec<DeadLetter>> {
    let partitions = lakehouse_kafka::partitions_of(config, topic)
        .await
        .map_err(|error| SyncError::Kafka(error.to_string()))?;
    let mut config = config.clone();
    config
        .set(
            "group.id",
            format!("lakehouse-dlq-reader-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || read_blocking(&config, &topic, &partitions))
        .await
        .map_err(|error| SyncError::Kafka(error.to_string()))?
}

fn read_blocking(config: &ClientConfig, topic: &str, partitions: &[i32]) -> Result<Vec<DeadLetter>> {
    let ends =
        lakehouse_kafka::fetched_watermarks(config, topic, partitions, READ_TIMEOUT).ok_or_else(|| {
            SyncError::Kafka(format!(
                "the broker did not answer a fetch of every partition of {topic}"
            ))
        })?;
    let mut remaining: BTreeMap<i32, i64> = ends
        .iter()
        .filter(|(_, (low, high))| high > low)
        .map(|(&partition, &(_, high))| (partition, high))
        .collect();
    let consumer: BaseConsumer = config
        .create()
        .map_err(|error| SyncError::Kafka(error.to_string()))?;
    let mut assignment = TopicPartitionList::new();
    for &partition in remaining.keys() {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|error| SyncError::Kafka(error.to_string()))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|error| SyncError::Kafka(error.to_string()))?;
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut letters = Vec::new();
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(SyncError::Kafka(format!(
                "{topic}: partitions {:?} not read to their end within {READ_TIMEOUT:?}",
                remaining.keys().collect::<Vec<_>>()
            )));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.map_err(|error| SyncError::Kafka(error.to_string()))?;
        let (partition, offset) = (message.partition(), message.offset());
        if remaining.get(&partition).is_some_and(|&end| offset + 1 >= end) {
            remaining.remove(&partition);
        }
        letters.push(dead_letter(&message));
    }
    letters.sort_by_key(|letter| (letter.partition, letter.offset));
    Ok(letters)
}

fn dead_letter(message: &impl Message) -> DeadLetter {
    let header = |name: &str| -> Option<String> {
        let headers = message.headers()?;
        headers
            .iter()
            .find(|header| header.key == name)
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    };
    let bytes = message.payload().unwrap_or_default();
    let payload = serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()));
    DeadLetter {
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message
            .timestamp()
            .to_millis()
            .and_then(DateTime::from_timestamp_millis),
        error: header("error"),
        source_topic: header("source_topic"),
        source_partition: header("source_partition").and_then(|v| v.parse().ok()),
        source_offset: header("source_offset").and_then(|v| v.parse().ok()),
        key: message.key().map(|key| String::from_utf8_lossy(key).into_owned()),
        payload,
    }
}

/// Why `payload` would be dead-lettered again, as the consumers decide it; `None` when it decodes.
pub fn still_invalid(payload: &[u8]) -> Option<String> {
    match serde_json::from_slice::<EnrichedEvent>(payload) {
        Ok(_) if lakehouse_event::payload_holds_nul(payload) => {
            Some("the event holds a NUL character (U+0000)".into())
        }
        Ok(_) => None,
        Err(error) => Some(error.to_string()),
    }
}

/// Sends the dead letters `selection` chooses from `letters` to `events_topic` with `producer`,
/// each once per origin, those that now decode only; `fixed` replaces the payloads of some
/// (by dead-letter partition and offset) with corrected ones.
pub async fn replay(
    producer: &FutureProducer,
    events_topic: &str,
    letters: &[DeadLetter],
    selection: Selection,
    fixed: &HashMap<(i32, i64), Value>,
    dry_run: bool,
) -> Result<Replayed> {
    let mut replayed = Replayed {
        dry_run,
        selected: 0,
        duplicates: 0,
        sent: Vec::new(),
        event_ids: Vec::new(),
        still_invalid: Vec::new(),
    };
    let mut origins = BTreeSet::new();
    let selected: Vec<&DeadLetter> = letters
        .iter()
        .filter(|letter| selection.contains(letter))
        .collect();
    let mut progress = Phase::start("dlq replay: dead letters", "letters", Some(selected.len() as u64));
    for letter in selected {
        progress.add(1);
        replayed.selected += 1;
        if !origins.insert(letter.origin()) {
            replayed.duplicates += 1;
            continue;
        }
        let payload = match fixed.get(&(letter.partition, letter.offset)) {
            Some(Value::String(text)) => text.clone().into_bytes(),
            Some(value) => value.to_string().into_bytes(),
            None => letter.payload_bytes(),
        };
        if let Some(reason) = still_invalid(&payload) {
            replayed
                .still_invalid
                .push((letter.partition, letter.offset, reason));
            continue;
        }
        let event: EnrichedEvent =
            serde_json::from_slice(&payload).map_err(|e| SyncError::Row(e.to_string()))?;
        if !dry_run {
            let from = format!("{}:{}", letter.partition, letter.offset);
            let headers = OwnedHeaders::new().insert(Header {
                key: "replayed_from_dlq",
                value: Some(from.as_str()),
            });
            let key = letter.key.clone().unwrap_or_else(|| event.kafka_key());
            producer
                .send(
                    FutureRecord::to(events_topic)
                        .key(&key)
                        .payload(&payload)
                        .headers(headers),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(error, _)| SyncError::Kafka(format!("producing to {events_topic}: {error}")))?;
        }
        replayed.sent.push((letter.partition, letter.offset));
        replayed.event_ids.push(event.event_id);
    }
    progress.finish();
    Ok(replayed)
}

/// Corrected payloads, from JSON lines as `dlq list --json` prints them (`partition`, `offset`,
/// and the edited `payload`); other fields are ignored.
pub fn fixed_payloads(text: &str) -> Result<HashMap<(i32, i64), Value>> {
    #[derive(Deserialize)]
    struct Fix {
        partition: i32,
        offset: i64,
        payload: Value,
    }
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str::<Fix>(line)
                .map(|fix| ((fix.partition, fix.offset), fix.payload))
                .map_err(|error| SyncError::Row(format!("fixed payloads, line {}: {error}", index + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(partition: i32, offset: i64, origin: i64, payload: Value) -> DeadLetter {
        DeadLetter {
            partition,
            offset,
            timestamp: None,
            error: Some("missing field `received_at`".into()),
            source_topic: Some("events".into()),
            source_partition: Some(0),
            source_offset: Some(origin),
            key: Some("p:s".into()),
            payload,
        }
    }

    #[test]
    fn selections_choose_by_partition_and_offset_range() {
        let range = Selection::Range {
            partition: 1,
            from: 3,
            to: 5,
        };
        let at = |partition, offset| letter(partition, offset, 0, Value::Null);
        assert!(range.contains(&at(1, 3)) && range.contains(&at(1, 5)));
        assert!(!range.contains(&at(1, 6)) && !range.contains(&at(0, 4)));
        assert!(Selection::All.contains(&at(7, 100)));
    }

    #[test]
    fn fixed_payloads_read_the_lines_list_prints() {
        let line = serde_json::to_string(&letter(2, 9, 4, serde_json::json!({"a": 1}))).unwrap();
        let fixed = fixed_payloads(&format!("{line}\n\n")).unwrap();
        assert_eq!(fixed[&(2, 9)], serde_json::json!({"a": 1}));
        assert!(fixed_payloads("{\"partition\": 1}").is_err());
    }

    #[test]
    fn only_what_the_consumers_decode_is_valid() {
        assert!(still_invalid(b"not json").is_some());
        assert!(still_invalid(br#"{"event_id": "nope"}"#).is_some());
    }
}
