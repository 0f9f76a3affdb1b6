//! The queue: events are encoded when tracked (their id and time fixed), batched by count and time
//! in a background task, and delivered one batch at a time, in order, with retries. Memory is
//! bounded by count and by bytes; shutdown sends what is queued, within a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::MAX_EVENT_BYTES;
use crate::{ClientConfig, Delivery, Error, Event, Transport, deliver};

/// What became of the events a client was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Events the api accepted (durably in Kafka).
    pub accepted: u64,
    /// Events the api refused for good (a 4xx, or a 202's `rejected`), warned with their fields.
    pub refused: u64,
    /// Attempts that were answered with something that may pass, and made again.
    pub retries: u64,
    /// Events not queued because the queue was full (`try_track`'s `QueueFull`).
    pub dropped: u64,
    /// From [`Client::shutdown`]: the events (as sent, with their ids) still unacknowledged at its
    /// deadline. They may or may not have arrived: posting them again later is safe, their ids
    /// make the stores keep one of each.
    pub undelivered: Vec<serde_json::Value>,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn report(&self) -> Report {
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Report {
            accepted: count(&self.accepted),
            refused: count(&self.refused),
            retries: count(&self.retries),
            dropped: count(&self.dropped),
            undelivered: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Queued {
    id: Uuid,
    json: Vec<u8>,
}

#[derive(Debug)]
enum Command {
    Event(Queued),
    Flush(oneshot::Sender<()>),
}

/// A background sender of events. Make it inside a Tokio runtime; call [`Client::shutdown`]
/// before the process exits (dropping the client lets its task deliver what is queued, but only
/// while the runtime runs).
#[derive(Debug)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    /// One permit per byte of queued JSON.
    room: Arc<Semaphore>,
    counters: Arc<Counters>,
    /// The shutdown's deadline, once there is one: it cuts short the delivery under way.
    deadline: watch::Sender<Option<Instant>>,
    worker: JoinHandle<Vec<serde_json::Value>>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("a Client must be made inside a Tokio runtime".into()))?;
        let transport = Transport::new(
            &config.endpoint,
            &config.api_key.0,
            config.request_timeout,
            config.gzip,
        )?;
        let (commands, receiver) = mpsc::channel(config.max_queue);
        let room = Arc::new(Semaphore::new(config.max_queue_bytes));
        let counters = Arc::new(Counters::default());
        let (deadline, shutdown) = watch::channel(None);
        let worker = Worker {
            receiver,
            transport,
            room: room.clone(),
            counters: counters.clone(),
            batch: Vec::new(),
            shutdown,
            undelivered: Vec::new(),
            config,
        };
        Ok(Self {
            commands,
            room,
            counters,
            deadline,
            worker: runtime.spawn(worker.run()),
        })
    }

    fn encode(event: &Event) -> Result<Queued, Error> {
        let json = serde_json::to_vec(event)
            .map_err(|e| Error::Config(format!("the event does not encode: {e}")))?;
        if json.len() > MAX_EVENT_BYTES {
            return Err(Error::EventTooLarge(json.len()));
        }
        Ok(Queued {
            id: event.event_id,
            json,
        })
    }

    /// Queues `event` if there is room now; returns its `event_id`.
    pub fn try_track(&self, event: Event) -> Result<Uuid, Error> {
        let queued = Self::encode(&event)?;
        let full = || {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            Error::QueueFull
        };
        let bytes = self
            .room
            .try_acquire_many(queued.json.len() as u32)
            .map_err(|_| full())?;
        let id = queued.id;
        match self.commands.try_send(Command::Event(queued)) {
            Ok(()) => {
                bytes.forget();
                Ok(id)
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(full()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Closed),
        }
    }

    /// Queues `event`, waiting for room; returns its `event_id`.
    pub async fn track(&self, event: Event) -> Result<Uuid, Error> {
        let queued = Self::encode(&event)?;
        let bytes = self
            .room
            .acquire_many(queued.json.len() as u32)
            .await
            .map_err(|_| Error::Closed)?;
        let id = queued.id;
        self.commands
            .send(Command::Event(queued))
            .await
            .map_err(|_| Error::Closed)?;
        bytes.forget();
        Ok(id)
    }

    /// Sends everything queued so far; returns once each of it is answered for good (through any
    /// retries: wrap it in a timeout to bound the wait).
    pub async fn flush(&self) -> Result<(), Error> {
        let (done, answered) = oneshot::channel();
        self.commands
            .send(Command::Flush(done))
            .await
            .map_err(|_| Error::Closed)?;
        answered.await.map_err(|_| Error::Closed)
    }

    /// The counts so far.
    pub fn report(&self) -> Report {
        self.counters.report()
    }

    /// Sends what is queued, retrying until `timeout` from now, and stops: an attempt still under
    /// way then is abandoned, and what is not acknowledged is in [`Report::undelivered`].
    pub async fn shutdown(self, timeout: Duration) -> Report {
        let _ = self.deadline.send(Some(Instant::now() + timeout));
        // Closing the queue: the task receives what is in it, then the end.
        drop(self.commands);
        let undelivered = self.worker.await.unwrap_or_default();
        Report {
            undelivered,
            ..self.counters.report()
        }
    }
}

/// Returns when the shutdown's deadline has passed; never, while there is none.
async fn deadline_passes(mut shutdown: watch::Receiver<Option<Instant>>) {
    loop {
        let deadline = *shutdown.borrow_and_update();
        if let Some(deadline) = deadline {
            tokio::time::sleep_until(deadline.into()).await;
            return;
        }
        if shutdown.changed().await.is_err() {
            // Dropped without a shutdown: the task delivers what is queued for as long as it runs.
            std::future::pending::<()>().await;
        }
    }
}

struct Worker {
    receiver: mpsc::Receiver<Command>,
    transport: Transport,
    config: ClientConfig,
    room: Arc<Semaphore>,
    counters: Arc<Counters>,
    batch: Vec<Queued>,
    shutdown: watch::Receiver<Option<Instant>>,
    undelivered: Vec<serde_json::Value>,
}

impl Worker {
    async fn run(mut self) -> Vec<serde_json::Value> {
        let mut due = tokio::time::Instant::now();
        loop {
            let command = if self.batch.is_empty() {
                self.receiver.recv().await
            } else {
                match tokio::time::timeout_at(due, self.receiver.recv()).await {
                    Ok(command) => command,
                    Err(_) => {
                        self.send().await;
                        continue;
                    }
                }
            };
            match command {
                Some(Command::Event(queued)) => {
                    if self.batch.is_empty() {
                        due = tokio::time::Instant::now() + self.config.flush_interval;
                    }
                    self.batch.push(queued);
                    if self.batch.len() >= self.config.batch_size {
                        self.send().await;
                    }
                }
                Some(Command::Flush(done)) => {
                    self.send().await;
                    let _ = done.send(());
                }
                None => {
                    self.send().await;
                    return self.undelivered;
                }
            }
        }
    }

    /// Delivers the batch (one request and its retries) and frees its room.
    async fn send(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() {
            return;
        }
        let bytes: usize = batch.iter().map(|queued| queued.json.len()).sum();
        let ids: Vec<Uuid> = batch.iter().map(|queued| queued.id).collect();
        let events: Vec<Vec<u8>> = batch.into_iter().map(|queued| queued.json).collect();
        let deadline = *self.shutdown.borrow();
        let delivery = if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            Delivery::GaveUp { attempts: 0 }
        } else {
            let counters = &self.counters;
            let headers = HeaderMap::new();
            let delivery = deliver(
                &self.transport,
                &events,
                &headers,
                &self.config.retry,
                deadline,
                |attempt| {
                    if matches!(attempt.outcome, crate::Outcome::Retry { .. }) {
                        counters.retries.fetch_add(1, Ordering::Relaxed);
                    }
                },
            );
            tokio::select! {
                delivery = delivery => delivery,
                () = deadline_passes(self.shutdown.clone()) => Delivery::GaveUp { attempts: 0 },
            }
        };
        match delivery {
            Delivery::Accepted { rejected, .. } => {
                for rejection in &rejected {
                    tracing::warn!(
                        event_id = %ids.get(rejection.index).copied().unwrap_or_default(),
                        field = %rejection.field,
                        error = %rejection.error,
                        "the api rejected an event; it is dropped"
                    );
                }
                let refused = rejected.len() as u64;
                self.counters.refused.fetch_add(refused, Ordering::Relaxed);
                self.counters
                    .accepted
                    .fetch_add(ids.len() as u64 - refused, Ordering::Relaxed);
            }
            Delivery::Refused { problems, .. } => {
                tracing::warn!(events = ids.len(), problems = %problems.join("; "), "the api refused a batch; it is dropped");
                self.counters
                    .refused
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
            }
            Delivery::GaveUp { .. } => self
                .undelivered
                .extend(events.iter().filter_map(|json| serde_json::from_slice(json).ok())),
        }
        self.room.add_permits(bytes);
    }
}
