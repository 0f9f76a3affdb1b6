//! PostgreSQL's binary `COPY` format, written into one buffer: what `COPY ... FROM STDIN (FORMAT
//! binary)` reads without parsing text. Each value is its type's binary send format (the
//! PostgreSQL documentation's "Binary Format" of COPY and each type's `*send` function).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The 11-byte signature, then the flags (no OIDs) and the length of the header extension (none).
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00:00 UTC.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// The version byte that starts a `jsonb` value in binary form; the JSON text follows.
const JSONB_VERSION: u8 = 1;

/// Rows in binary `COPY` format. Every row must have the same number of fields, in the order of
/// the `COPY` statement's column list.
#[derive(Debug)]
pub struct CopyRows {
    buffer: Vec<u8>,
}

impl CopyRows {
    /// An empty body with room for about `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buffer = Vec::with_capacity(bytes.max(HEADER.len() + 2));
        buffer.extend_from_slice(HEADER);
        Self { buffer }
    }

    /// Starts a row of `fields` fields.
    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buffer.extend_from_slice(&fields.to_be_bytes());
        self
    }

    /// The body with its trailer, ready to send.
    pub fn finish(mut self) -> Vec<u8> {
        self.buffer.extend_from_slice(&(-1i16).to_be_bytes());
        self.buffer
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        // A field longer than 2 GiB cannot be stored anyway; PostgreSQL refuses the row.
        let length = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.buffer.extend_from_slice(&length.to_be_bytes());
        self.buffer.extend_from_slice(bytes);
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buffer.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    pub fn uuid(&mut self, value: &Uuid) -> &mut Self {
        self.field(value.as_bytes())
    }

    pub fn text(&mut self, value: &str) -> &mut Self {
        self.field(value.as_bytes())
    }

    pub fn optional_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    pub fn timestamptz(&mut self, value: &DateTime<Utc>) -> &mut Self {
        let micros = value.timestamp_micros() - POSTGRES_EPOCH_MICROS;
        self.field(&micros.to_be_bytes())
    }

    pub fn optional_timestamptz(&mut self, value: Option<&DateTime<Utc>>) -> &mut Self {
        match value {
            Some(value) => self.timestamptz(value),
            None => self.null(),
        }
    }

    pub fn boolean(&mut self, value: bool) -> &mut Self {
        self.field(&[u8::from(value)])
    }

    pub fn float8(&mut self, value: f64) -> &mut Self {
        self.field(&value.to_bits().to_be_bytes())
    }

    pub fn optional_float8(&mut self, value: Option<f64>) -> &mut Self {
        match value {
            Some(value) => self.float8(value),
            None => self.null(),
        }
    }

    pub fn int2(&mut self, value: i16) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn int4(&mut self, value: i32) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn int8(&mut self, value: i64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    /// A `jsonb` object: the version byte, then the JSON text, serialised in place.
    pub fn jsonb(&mut self, value: &serde_json::Map<String, serde_json::Value>) -> &mut Self {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(&0i32.to_be_bytes());
        self.buffer.push(JSONB_VERSION);
        if serde_json::to_writer(&mut self.buffer, value).is_err() {
            // Maps of JSON values always serialise; keep the row well-formed regardless.
            self.buffer.truncate(start + 5);
            self.buffer.extend_from_slice(b"{}");
        }
        let length = i32::try_from(self.buffer.len() - start - 4).unwrap_or(i32::MAX);
        self.buffer[start..start + 4].copy_from_slice(&length.to_be_bytes());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_row_is_its_field_count_then_each_field_with_its_length() {
        let mut rows = CopyRows::with_capacity(0);
        rows.row(3).int4(7).null().text("ab");
        let body = rows.finish();
        assert_eq!(&body[..HEADER.len()], HEADER);
        assert_eq!(
            &body[HEADER.len()..],
            [
                0, 3, // three fields
                0, 0, 0, 4, 0, 0, 0, 7, // int4 7
                255, 255, 255, 255, // NULL
                0, 0, 0, 2, b'a', b'b', // text "ab"
                255, 255, // trailer
            ]
        );
    }

    #[test]
    fn timestamps_count_microseconds_from_2000() {
        let mut rows = CopyRows::with_capacity(0);
        let millennium = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 1).unwrap();
        rows.row(1).timestamptz(&millennium);
        let body = rows.finish();
        let field = &body[HEADER.len() + 2..HEADER.len() + 2 + 12];
        assert_eq!(&field[..4], &8i32.to_be_bytes());
        assert_eq!(&field[4..], &1_000_000i64.to_be_bytes());
    }

    #[test]
    fn jsonb_is_the_version_byte_then_the_text() {
        let mut rows = CopyRows::with_capacity(0);
        let object = serde_json::json!({"a": 1});
        rows.row(1).jsonb(object.as_object().unwrap());
        let body = rows.finish();
        let field = &body[HEADER.len() + 2..body.len() - 2];
        assert_eq!(&field[..4], &8i32.to_be_bytes());
        assert_eq!(&field[4..], b"\x01{\"a\":1}");
    }
}
