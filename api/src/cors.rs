//! Which web origins may post events, globally and per project (DESIGN.md §4).
//!
//! A preflight (`OPTIONS`) carries no API key, so it is answered from the union of every list: an
//! origin that some project allows may ask. The real request is then checked against its own
//! project's list (or the global one, for projects without their own) once the key has resolved:
//! an origin the project does not allow gets `403 origin_not_allowed` and no
//! `Access-Control-Allow-Origin`, and nothing is stored. Refusing, not just withholding the CORS
//! header, matters because `navigator.sendBeacon` and other simple requests are sent without a
//! preflight and the browser never reads their answer anyway. Requests without an `Origin` header
//! (servers, curl) are not from a browser page and are not checked.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    #[error("{origin:?} is not an origin (scheme://host[:port]): {reason}")]
    Origin { origin: String, reason: String },
    #[error("{entry:?} must be project=origin|origin|... (entries separated by ;)")]
    Entry { entry: String },
    #[error("project {project:?} is listed twice")]
    Duplicate { project: String },
}

/// A request from a page whose origin its project does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pages at {origin} may not post events for this project")]
pub struct OriginNotAllowed {
    pub origin: String,
}

/// One list of allowed origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    Any,
    /// Serialized origins (`https://shop.example`), compared exactly with the `Origin` header.
    List(Vec<String>),
}

impl Origins {
    /// `*`, or origins separated by `separator`; blanks are skipped.
    fn parse(text: &str, separator: char) -> Result<Self, CorsError> {
        let mut origins = Vec::new();
        for origin in text.split(separator).map(str::trim).filter(|o| !o.is_empty()) {
            if origin == "*" {
                return Ok(Self::Any);
            }
            origins.push(checked_origin(origin)?);
        }
        Ok(Self::List(origins))
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(origins) => origins.iter().any(|allowed| allowed == origin),
        }
    }
}

/// An origin exactly as browsers send it; anything else (a trailing slash, a path, upper case, a
/// default port) would silently never match, so it is refused at start-up with the right spelling.
fn checked_origin(origin: &str) -> Result<String, CorsError> {
    let error = |reason: String| CorsError::Origin {
        origin: origin.to_string(),
        reason,
    };
    let url = url::Url::parse(origin).map_err(|e| error(e.to_string()))?;
    let serialized = url.origin().ascii_serialization();
    if serialized == "null" {
        return Err(error("it has no host".into()));
    }
    if serialized != origin {
        return Err(error(format!("write it as {serialized:?}")));
    }
    Ok(serialized)
}

/// The global list and the projects' own lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    default: Origins,
    projects: HashMap<String, Origins>,
}

impl Default for CorsPolicy {
    /// Any origin, for every project.
    fn default() -> Self {
        Self {
            default: Origins::Any,
            projects: HashMap::new(),
        }
    }
}

impl CorsPolicy {
    /// `global` as `CORS_ALLOWED_ORIGINS` (comma-separated, or `*`) and `per_project` as
    /// `CORS_PROJECT_ORIGINS` (`shop=https://shop.example|https://www.shop.example;blog=*`).
    pub fn parse(global: &str, per_project: &str) -> Result<Self, CorsError> {
        let mut projects = HashMap::new();
        for entry in per_project.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (project, origins) = entry.split_once('=').ok_or_else(|| CorsError::Entry {
                entry: entry.to_string(),
            })?;
            let project = project.trim();
            if project.is_empty() {
                return Err(CorsError::Entry {
                    entry: entry.to_string(),
                });
            }
            if projects
                .insert(project.to_string(), Origins::parse(origins, '|')?)
                .is_some()
            {
                return Err(CorsError::Duplicate {
                    project: project.to_string(),
                });
            }
        }
        Ok(Self {
            default: Origins::parse(global, ',')?,
            projects,
        })
    }

    /// Whether a request of `project` from a page at `origin` may post.
    pub fn allows(&self, project: &str, origin: &str) -> bool {
        self.projects.get(project).unwrap_or(&self.default).allows(origin)
    }

    /// Checks the `Origin` header of a request of `project`; requests without one pass.
    pub fn check(&self, project: &str, headers: &HeaderMap) -> Result<(), OriginNotAllowed> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or_default();
        if self.allows(project, origin) {
            Ok(())
        } else {
            Err(OriginNotAllowed {
                origin: origin.to_string(),
            })
        }
    }

    /// The CORS layer: preflights and response headers from the union of every list (the
    /// project is not known before the key is read); see [`without_refused_origin`] for the rest.
    pub fn layer(&self) -> CorsLayer {
        let lists: Vec<&Origins> = std::iter::once(&self.default)
            .chain(self.projects.values())
            .collect();
        let allowed = if lists.contains(&&Origins::Any) {
            AllowOrigin::any()
        } else {
            let union: std::collections::BTreeSet<&String> = lists
                .iter()
                .flat_map(|origins| match origins {
                    Origins::List(list) => list.as_slice(),
                    Origins::Any => &[],
                })
                .collect();
            AllowOrigin::list(
                union
                    .into_iter()
                    .filter_map(|origin| HeaderValue::from_str(origin).ok()),
            )
        };
        CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                header::AUTHORIZATION,
                HeaderName::from_static("x-api-key"),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
            ])
            .max_age(Duration::from_secs(86_400))
    }
}

/// Marks a response refused for its origin (set on the answer to [`OriginNotAllowed`]).
#[derive(Debug, Clone, Copy)]
pub struct RefusedOrigin;

/// Takes the CORS headers the union layer added off a response refused for its origin, so that
/// the page that sent it cannot read it: runs outside [`CorsPolicy::layer`].
pub async fn without_refused_origin(mut response: Response) -> Response {
    if response.extensions().get::<RefusedOrigin>().is_some() {
        let headers = response.headers_mut();
        headers.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;
    use crate::test_app::{cors_state, send};
    use axum::body::Body;
    use axum::http::Request;

    #[test]
    fn projects_use_their_own_list_and_the_others_the_global_one() {
        let policy = CorsPolicy::parse(
            "https://default.example",
            "shop=https://shop.example|https://www.shop.example; blog=*",
        )
        .unwrap();
        assert!(policy.allows("shop", "https://shop.example"));
        assert!(policy.allows("shop", "https://www.shop.example"));
        assert!(
            !policy.allows("shop", "https://default.example"),
            "its own list replaces the global one"
        );
        assert!(policy.allows("blog", "https://anything.example"));
        assert!(policy.allows("other", "https://default.example"));
        assert!(!policy.allows("other", "https://shop.example"));
    }

    #[test]
    fn the_defaults_allow_any_origin() {
        let policy = CorsPolicy::parse("*", "").unwrap();
        assert_eq!(policy, CorsPolicy::default());
        assert!(policy.allows("shop", "https://anything.example"));
    }

    #[test]
    fn origins_that_could_never_match_are_refused_with_their_spelling() {
        for (origin, hint) in [
            ("https://shop.example/", "\"https://shop.example\""),
            ("https://Shop.example", "\"https://shop.example\""),
            ("https://shop.example:443", "\"https://shop.example\""),
            ("https://shop.example/app", "\"https://shop.example\""),
        ] {
            let error = CorsPolicy::parse(origin, "").unwrap_err();
            assert!(error.to_string().contains(hint), "{origin}: {error}");
        }
        assert!(CorsPolicy::parse("shop.example", "").is_err());
        assert!(CorsPolicy::parse("*", "shop=https://shop.example/").is_err());
    }

    #[test]
    fn malformed_project_entries_are_refused() {
        assert!(matches!(
            CorsPolicy::parse("*", "https://shop.example"),
            Err(CorsError::Entry { .. })
        ));
        assert!(matches!(
            CorsPolicy::parse("*", "=https://shop.example"),
            Err(CorsError::Entry { .. })
        ));
        assert!(matches!(
            CorsPolicy::parse("*", "shop=https://a.example;shop=https://b.example"),
            Err(CorsError::Duplicate { .. })
        ));
    }

    #[tokio::test]
    async fn a_preflight_is_answered_for_any_origin_some_project_allows() {
        let sink = MemorySink::default();
        let preflight = |origin: &str| {
            Request::options("/analytics")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type,x-api-key")
                .body(Body::empty())
                .unwrap()
        };
        for origin in [
            "https://shop.example",
            "https://www.shop.example",
            "https://blog.example",
            "https://default.example",
        ] {
            let (status, headers, _) = send(cors_state(&sink), preflight(origin)).await;
            assert!(status.is_success(), "{origin}: {status}");
            assert_eq!(headers["access-control-allow-origin"], origin);
            assert!(
                headers["access-control-allow-headers"]
                    .to_str()
                    .unwrap()
                    .contains("x-api-key")
            );
        }
        let (_, headers, _) = send(cors_state(&sink), preflight("https://evil.example")).await;
        assert!(!headers.contains_key("access-control-allow-origin"));
        assert!(sink.events().is_empty());
    }
}
