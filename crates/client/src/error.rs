//! The client's errors.

/// What [`crate::Client`] and [`crate::Transport`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work (a bad endpoint, a zero batch size).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The queue holds `max_queue` events or `max_queue_bytes` bytes: the event was not queued.
    #[error("the queue is full; the event was not queued")]
    QueueFull,
    /// The event encodes to more than the api takes for one event (32 KiB).
    #[error("the event is {0} bytes of JSON, more than the api takes (32 KiB)")]
    EventTooLarge(usize),
    /// The client was shut down.
    #[error("the client is shut down")]
    Closed,
}
