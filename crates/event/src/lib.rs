//! The event contract of DESIGN.md §5: the fields a client sends, the fields the api adds, and the
//! validation rules that name the offending field; and the records read from the log and the
//! batches of them a store commits. Pure serde: the api links this crate without compiling arrow
//! or sqlx, and the stores without the Kafka client.

mod batch;
mod enriched;
mod validate;

pub use batch::{Batch, Record};
pub use enriched::{EnrichedEvent, OLDEST_SCHEMA_VERSION, SCHEMA_VERSION, UTM_FIELDS, is_known_version};
pub use validate::{
    ClientEvent, EventLimits, FieldError, MAX_UTM_CHARS, metric_field, payload_holds_nul, validate_event,
};
