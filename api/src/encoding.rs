//! `Content-Encoding: gzip` bodies, inflated with a cap on their decompressed size: a small body
//! that inflates past the body limit (a gzip bomb) is refused as too large once the limit is
//! passed, never inflated in full.

use std::io::Read;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// The body as the client meant it: `body` itself, or `body` inflated (at most `limit` bytes).
pub fn decode(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(body),
        Some("gzip" | "x-gzip") => {
            let mut inflated = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            flate2::read::GzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|error| ApiError::invalid_body("body", format!("is not valid gzip: {error}")))?;
            if inflated.len() > limit {
                return Err(ApiError::BodyTooLarge { limit });
            }
            Ok(inflated.into())
        }
        Some(other) => Err(ApiError::UnsupportedEncoding {
            encoding: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Bytes {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap().into()
    }

    fn headers(encoding: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, encoding.parse().unwrap());
        headers
    }

    #[test]
    fn gzip_is_inflated_and_identity_passes_through() {
        let body = br#"{"event_type":"page_view"}"#;
        assert_eq!(decode(&headers("gzip"), gzip(body), 1024).unwrap(), &body[..]);
        assert_eq!(
            decode(&HeaderMap::new(), Bytes::from_static(body), 1024).unwrap(),
            &body[..]
        );
    }

    #[test]
    fn a_bomb_is_too_large_not_inflated() {
        let bomb = gzip(&vec![b' '; 64 * 1024 * 1024]);
        assert!(bomb.len() < 128 * 1024, "{} bytes compressed", bomb.len());
        let error = decode(&headers("gzip"), bomb, 1024 * 1024).unwrap_err();
        assert!(matches!(error, ApiError::BodyTooLarge { limit: 1_048_576 }));
    }

    #[test]
    fn broken_gzip_is_400_and_other_encodings_415() {
        let error = decode(&headers("gzip"), Bytes::from_static(b"not gzip"), 1024).unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
        let error = decode(&headers("br"), Bytes::from_static(b"x"), 1024).unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
