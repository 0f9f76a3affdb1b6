//! Topic administration: the project's own tooling creates its topics (the broker may not
//! auto-create them).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot create a Kafka admin client: {0}")]
    Client(#[source] KafkaError),
    #[error("the broker did not create topic {topic}: {source}")]
    Request {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("the broker refused to create topic {topic}: {code}")]
    Refused { topic: String, code: RDKafkaErrorCode },
    #[error("cannot read the metadata of topic {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("topic {0} does not exist")]
    NoTopic(String),
}

fn admin(config: &ClientConfig) -> Result<AdminClient<DefaultClientContext>, AdminError> {
    config.create().map_err(AdminError::Client)
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))
}

/// Creates the topic with `partitions` partitions, each on `replication` brokers, unless it exists
/// already (an existing topic is left as it is).
pub async fn ensure_topic(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), AdminError> {
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let results = admin(config)?
        .create_topics([&new_topic], &options())
        .await
        .map_err(|source| AdminError::Request {
            topic: topic.into(),
            source,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(AdminError::Refused { topic, code }),
        }
    }
    Ok(())
}

/// The partition numbers of `topic`.
pub async fn partitions_of(config: &ClientConfig, topic: &str) -> Result<Vec<i32>, AdminError> {
    let consumer: BaseConsumer = config.create().map_err(AdminError::Client)?;
    let name = topic.to_string();
    let metadata =
        tokio::task::spawn_blocking(move || consumer.fetch_metadata(Some(&name), Duration::from_secs(10)))
            .await
            .unwrap_or(Err(KafkaError::Canceled))
            .map_err(|source| AdminError::Metadata {
                topic: topic.into(),
                source,
            })?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(AdminError::NoTopic(topic.into()));
    }
    Ok(partitions)
}
