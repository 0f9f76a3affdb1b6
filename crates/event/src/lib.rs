//! The event contract of DESIGN.md §5: the fields a client sends, the fields the api adds, and the
//! validation rules that name the offending field. Pure serde: the api links this crate without
//! compiling arrow or sqlx.

mod enriched;
mod validate;

pub use enriched::{EnrichedEvent, OLDEST_SCHEMA_VERSION, SCHEMA_VERSION, UTM_FIELDS, is_known_version};
pub use validate::{
    ClientEvent, EventLimits, FieldError, MAX_UTM_CHARS, metric_field, payload_holds_nul, validate_event,
};
