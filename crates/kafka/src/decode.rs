//! What a consumed message holds: an event of a contract this build knows, an event of a newer
//! contract (held, not stored without its fields), or something no sink can store (poison, for
//! the dead-letter topic).

use lakehouse_event::EnrichedEvent;

/// Why a message is not admitted as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// An event of this contract version, which this build does not know.
    Newer(u16),
    /// Not an event any sink can store, and why.
    Poison(String),
}

/// Decodes a message's payload into an event.
pub(crate) fn decode(payload: &[u8]) -> Result<EnrichedEvent, Refused> {
    match serde_json::from_slice::<EnrichedEvent>(payload) {
        // PostgreSQL refuses it: the warehouse's batch would fail forever.
        Ok(_) if lakehouse_event::payload_holds_nul(payload) => {
            Err(Refused::Poison("the event holds a NUL character (U+0000)".into()))
        }
        Ok(event) if !lakehouse_event::is_known_version(event.schema_version) => {
            Err(Refused::Newer(event.schema_version))
        }
        Ok(event) => Ok(event),
        Err(error) => Err(Refused::Poison(error.to_string())),
    }
}
