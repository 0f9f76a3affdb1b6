//! The event contract of DESIGN.md §5: the fields a client sends, the fields the api adds, and the
//! validation rules that name the offending field. Pure serde: the api links this crate without
//! compiling arrow or sqlx.

mod enriched;
mod validate;

pub use enriched::{EnrichedEvent, SCHEMA_VERSION};
pub use validate::{ClientEvent, EventLimits, FieldError, metric_field, payload_holds_nul, validate_event};
