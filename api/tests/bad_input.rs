//! The bad-input campaign (issue 8, DESIGN.md §3.4): malformed and hostile requests against the
//! real api over real HTTP, with the real broker and PostgreSQL. Each is answered with its
//! documented status and error code in the one error shape, and none of them reaches Kafka: the
//! campaign's topic ends holding exactly one message, the valid control event posted first, which
//! shows that the count would see anything that got through.
//!
//! A new case is one line in `cases()`.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use common::migrate;
use lakehouse_api::ApiConfig;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, consume, message_count};
use rdkafka::Message;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The static key of the campaign's project.
const KEY: &str = "campaign-key";
/// Request bodies past this are refused; set explicitly so that the cases do not depend on the
/// default.
const MAX_BODY_BYTES: usize = 1024 * 1024;
const MAX_BATCH_EVENTS: usize = 500;
const MAX_PROPERTY_KEYS: usize = 64;
const MAX_EVENT_BYTES: usize = 32 * 1024;
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(30);

/// One running api and what the cases need to address it.
struct Target {
    client: reqwest::Client,
    addr: SocketAddr,
    url: String,
    revoked_key: String,
}

impl Target {
    /// `POST /analytics` with the campaign's key and `Content-Type: application/json`, no body.
    fn post(&self) -> reqwest::RequestBuilder {
        self.bare()
            .header("x-api-key", KEY)
            .header("content-type", "application/json")
    }

    /// `POST /analytics` with no header at all.
    fn bare(&self) -> reqwest::RequestBuilder {
        self.client.post(&self.url)
    }

    /// A keyed JSON post of `body` as it is (bytes, not necessarily JSON).
    fn body(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.post().body(body)
    }

    /// A keyed JSON post of `event`.
    fn event(&self, event: Value) -> reqwest::RequestBuilder {
        self.body(event.to_string())
    }

    /// A keyed post of `body` as `content_type`.
    fn typed(
        &self,
        content_type: impl Into<reqwest::header::HeaderValue>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::RequestBuilder {
        self.bare()
            .header("x-api-key", KEY)
            .header("content-type", content_type.into())
            .body(body)
    }

    /// A keyed gzip post of `body`.
    fn gzip(&self, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.post().header("content-encoding", "gzip").body(body)
    }
}

/// A valid event with `field` set to `value` (or removed when `value` is `None`).
fn with(field: &str, value: Option<Value>) -> Value {
    let mut event = valid_event();
    match value {
        Some(value) => event[field] = value,
        None => {
            event.as_object_mut().expect("an object").remove(field);
        }
    }
    event
}

fn valid_event() -> Value {
    json!({"event_type": "page_view", "session_id": "s-1", "url": "https://shop.example/a"})
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// `depth` nested arrays (`[[[...]]]`) as a string.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested objects (`{"a":{"a":...}}`) as a string.
fn nested_objects(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// A request and how the api must answer it.
struct Case {
    name: &'static str,
    request: fn(&Target) -> reqwest::RequestBuilder,
    status: u16,
    /// The error code in the JSON error body.
    code: &'static str,
    /// The field some entry of `details` must name, for codes whose details name fields.
    field: Option<&'static str>,
}

fn case(
    name: &'static str,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
    request: fn(&Target) -> reqwest::RequestBuilder,
) -> Case {
    Case {
        name,
        request,
        status,
        code,
        field,
    }
}

/// The corpus. Statuses and codes as api/openapi.json documents them.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    const BAD: u16 = 400;
    vec![
        // Broken JSON: 400 malformed_json, with line and column.
        case("empty body", BAD, "malformed_json", None, |t| t.body("")),
        case("truncated", BAD, "malformed_json", None, |t| t.body(r#"{"event_type": "click", "session_id": "#)),
        case("trailing garbage", BAD, "malformed_json", None, |t| t.body(format!("{} x", valid_event()))),
        case("two concatenated objects", BAD, "malformed_json", None, |t| t.body(format!("{0}{0}", valid_event()))),
        case("NaN", BAD, "malformed_json", None, |t| t.body(r#"{"event_type":"click","session_id":"s","value":NaN}"#)),
        case("Infinity", BAD, "malformed_json", None, |t| t.body(r#"{"event_type":"click","session_id":"s","value":Infinity}"#)),
        case("number out of range", BAD, "malformed_json", None, |t| t.body(r#"{"event_type":"click","session_id":"s","value":1e400}"#)),
        case("single quotes", BAD, "malformed_json", None, |t| t.body("{'event_type':'click','session_id':'s'}")),
        case("trailing comma", BAD, "malformed_json", None, |t| t.body(r#"{"event_type":"click","session_id":"s",}"#)),
        case("comment", BAD, "malformed_json", None, |t| t.body("// hi\n{\"event_type\":\"click\",\"session_id\":\"s\"}")),
        case("UTF-8 byte order mark", BAD, "malformed_json", None, |t| t.body([b"\xEF\xBB\xBF".as_slice(), valid_event().to_string().as_bytes()].concat())),
        case("invalid UTF-8 in a string", BAD, "malformed_json", None, |t| t.body(b"{\"event_type\":\"click\",\"session_id\":\"s\xff\xfe\"}".to_vec())),
        case("invalid UTF-8 as text/plain", BAD, "malformed_json", None, |t| t.typed(HeaderValue::from_static("text/plain;charset=UTF-8"), b"{\"event_type\":\"click\",\"session_id\":\"\xc0\xaf\"}".to_vec())),
        case("lone surrogate escape", BAD, "malformed_json", None, |t| t.body(r#"{"event_type":"click","session_id":"\ud800"}"#)),
        case("10 000 nested arrays in properties", BAD, "malformed_json", None, |t| t.body(format!(r#"{{"event_type":"click","session_id":"s","properties":{{"deep":{}}}}}"#, nested_arrays(10_000)))),
        case("10 000 nested objects in properties", BAD, "malformed_json", None, |t| t.body(format!(r#"{{"event_type":"click","session_id":"s","properties":{}}}"#, nested_objects(10_000)))),
        case("100 000 nested arrays as the body", BAD, "malformed_json", None, |t| t.body(nested_arrays(100_000))),
        // Duplicate keys: the last one counts (as JavaScript's JSON.parse); a valid first value
        // does not smuggle an invalid last one past validation.
        case("duplicate key, the last invalid", BAD, "invalid_events", Some("event_type"), |t| t.body(r#"{"event_type":"click","session_id":"s","event_type":"Not A Type"}"#)),
        // Bodies that are JSON but not events: 400 invalid_body or invalid_events.
        case("null", BAD, "invalid_body", Some("body"), |t| t.body("null")),
        case("a string", BAD, "invalid_body", Some("body"), |t| t.body(r#""page_view""#)),
        case("an empty array", BAD, "invalid_body", Some("batch"), |t| t.body("[]")),
        case("batch not an array", BAD, "invalid_body", Some("batch"), |t| t.event(json!({"batch": {}}))),
        case("unknown envelope field", BAD, "invalid_body", Some("api_key"), |t| t.event(json!({"batch": [valid_event()], "api_key": KEY}))),
        case("array of scalars", BAD, "invalid_events", Some("event"), |t| t.event(json!([1, "x", null]))),
        // Wrong types and values, each contract field: 400 invalid_events naming the field.
        case("event_type missing", BAD, "invalid_events", Some("event_type"), |t| t.event(with("event_type", None))),
        case("event_type a number", BAD, "invalid_events", Some("event_type"), |t| t.event(with("event_type", Some(json!(42))))),
        case("event_type with capitals", BAD, "invalid_events", Some("event_type"), |t| t.event(with("event_type", Some(json!("Page View"))))),
        case("event_type too long", BAD, "invalid_events", Some("event_type"), |t| t.event(with("event_type", Some(json!("a".repeat(65)))))),
        case("event_id not a UUID", BAD, "invalid_events", Some("event_id"), |t| t.event(with("event_id", Some(json!("42"))))),
        case("event_name an array", BAD, "invalid_events", Some("event_name"), |t| t.event(with("event_name", Some(json!(["a"]))))),
        case("session_id missing", BAD, "invalid_events", Some("session_id"), |t| t.event(with("session_id", None))),
        case("session_id a number", BAD, "invalid_events", Some("session_id"), |t| t.event(with("session_id", Some(json!(7))))),
        case("session_id too long", BAD, "invalid_events", Some("session_id"), |t| t.event(with("session_id", Some(json!("s".repeat(65)))))),
        case("session_id with NUL", BAD, "invalid_events", Some("session_id"), |t| t.event(with("session_id", Some(json!("a\u{0}b"))))),
        case("user_id an object", BAD, "invalid_events", Some("user_id"), |t| t.event(with("user_id", Some(json!({"id": 1}))))),
        case("timestamp not a date", BAD, "invalid_events", Some("timestamp"), |t| t.event(with("timestamp", Some(json!("yesterday"))))),
        case("timestamp epoch seconds", BAD, "invalid_events", Some("timestamp"), |t| t.event(with("timestamp", Some(json!(1_763_892_000))))),
        case("sent_at a boolean", BAD, "invalid_events", Some("sent_at"), |t| t.event(with("sent_at", Some(json!(true))))),
        case("url not absolute", BAD, "invalid_events", Some("url"), |t| t.event(with("url", Some(json!("/pricing"))))),
        case("url a number", BAD, "invalid_events", Some("url"), |t| t.event(with("url", Some(json!(5))))),
        case("url too long", BAD, "invalid_events", Some("url"), |t| t.event(with("url", Some(json!(format!("https://x.example/{}", "a".repeat(3000))))))),
        case("referrer an array", BAD, "invalid_events", Some("referrer"), |t| t.event(with("referrer", Some(json!(["https://a.example"]))))),
        case("title a number", BAD, "invalid_events", Some("title"), |t| t.event(with("title", Some(json!(1))))),
        case("value a string", BAD, "invalid_events", Some("value"), |t| t.event(with("value", Some(json!("12.50"))))),
        case("value a boolean", BAD, "invalid_events", Some("value"), |t| t.event(with("value", Some(json!(true))))),
        case("properties a string", BAD, "invalid_events", Some("properties"), |t| t.event(with("properties", Some(json!("x"))))),
        case("properties an array", BAD, "invalid_events", Some("properties"), |t| t.event(with("properties", Some(json!([1]))))),
        case("NUL in a property value", BAD, "invalid_events", Some("properties"), |t| t.event(with("properties", Some(json!({"plan": "pro\u{0}"}))))),
        case("NUL in a property key", BAD, "invalid_events", Some("properties"), |t| t.event(with("properties", Some(json!({"pl\u{0}an": "pro"}))))),
        case("funnel step 0", BAD, "invalid_events", Some("properties.step"), |t| t.event(json!({"event_type": "funnel_step", "session_id": "s", "properties": {"funnel": "checkout", "step": 0}}))),
        case("unknown field", BAD, "invalid_events", Some("ip"), |t| t.event(with("ip", Some(json!("203.0.113.7"))))),
        // Per-event limits are rejections of that event, reported by index (400 when none is valid).
        case("too many properties", BAD, "invalid_events", Some("properties"), |t| t.event(with("properties", Some(Value::Object((0..=MAX_PROPERTY_KEYS).map(|i| (format!("k{i}"), json!(i))).collect()))))),
        case("an event over MAX_EVENT_BYTES", BAD, "invalid_events", Some("event"), |t| t.event(with("properties", Some(json!({"blob": "x".repeat(MAX_EVENT_BYTES)}))))),
        // Request limits: 413.
        case("too many events", 413, "too_many_events", None, |t| t.event(Value::Array(vec![valid_event(); MAX_BATCH_EVENTS + 1]))),
        case("a body over MAX_BODY_BYTES", 413, "body_too_large", None, |t| t.body(format!(r#"{{"event_type":"click","session_id":"s","title":"{}"}}"#, "x".repeat(MAX_BODY_BYTES)))),
        case("a gzip bomb", 413, "body_too_large", None, |t| t.gzip(gzip(&vec![b' '; 64 * MAX_BODY_BYTES]))),
        // Encodings.
        case("declared gzip, not gzip", BAD, "invalid_body", Some("body"), |t| t.post().header("content-encoding", "gzip").body(valid_event().to_string())),
        case("truncated gzip", BAD, "invalid_body", Some("body"), |t| t.gzip({ let whole = gzip(valid_event().to_string().as_bytes()); whole[..whole.len() / 2].to_vec() })),
        case("gzip of broken JSON", BAD, "malformed_json", None, |t| t.gzip(gzip(b"{\"event_type\":"))),
        case("Content-Encoding br", 415, "unsupported_encoding", None, |t| t.post().header("content-encoding", "br").body(valid_event().to_string())),
        case("Content-Encoding deflate", 415, "unsupported_encoding", None, |t| t.post().header("content-encoding", "deflate").body(valid_event().to_string())),
        case("Content-Encoding gzip twice", 415, "unsupported_encoding", None, |t| t.post().header("content-encoding", "gzip, gzip").body(gzip(&gzip(valid_event().to_string().as_bytes())))),
        // Content types.
        case("Content-Type XML", 415, "unsupported_media_type", None, |t| t.typed(HeaderValue::from_static("application/xml"), valid_event().to_string())),
        case("Content-Type form", 415, "unsupported_media_type", None, |t| t.typed(HeaderValue::from_static("application/x-www-form-urlencoded"), "event_type=click&session_id=s")),
        case("Content-Type multipart", 415, "unsupported_media_type", None, |t| t.typed(HeaderValue::from_static("multipart/form-data; boundary=x"), valid_event().to_string())),
        case("Content-Type not ASCII", 415, "unsupported_media_type", None, |t| t.typed(HeaderValue::from_bytes(b"application/json\xff").expect("a header value"), valid_event().to_string())),
        // Keys: 401 missing or unknown, 403 revoked; checked before the body is read.
        case("no key", 401, "missing_api_key", None, |t| t.bare().header("content-type", "application/json").body(valid_event().to_string())),
        case("an empty key", 401, "missing_api_key", None, |t| t.bare().header("x-api-key", " ").body(valid_event().to_string())),
        case("Basic authorization", 401, "missing_api_key", None, |t| t.bare().header("authorization", "Basic Y2FtcGFpZ246a2V5").body(valid_event().to_string())),
        case("an unknown key", 401, "invalid_api_key", None, |t| t.bare().header("x-api-key", "not-a-key").body(valid_event().to_string())),
        case("an unknown bearer token", 401, "invalid_api_key", None, |t| t.bare().header("authorization", "Bearer not-a-key").body(valid_event().to_string())),
        case("an unknown key in the query", 401, "invalid_api_key", None, |t| t.client.post(format!("{}?api_key=not-a-key", t.url)).header("content-type", "text/plain").body(valid_event().to_string())),
        // A header value that is not text reads as no key at all.
        case("a key that is not ASCII", 401, "missing_api_key", None, |t| t.bare().header("x-api-key", HeaderValue::from_bytes(b"campaign-k\xe9y").expect("a header value")).body(valid_event().to_string())),
        case("the key's SHA-256 instead of the key", 401, "invalid_api_key", None, |t| t.bare().header("x-api-key", sha256_hex(KEY)).body(valid_event().to_string())),
        case("a revoked key", 403, "revoked_api_key", None, |t| t.bare().header("x-api-key", &t.revoked_key).body(valid_event().to_string())),
        case("a revoked key, bad body too", 403, "revoked_api_key", None, |t| t.bare().header("x-api-key", &t.revoked_key).body("{")),
        // Methods other than POST.
        case("GET", 405, "method_not_allowed", None, |t| t.client.get(&t.url).header("x-api-key", KEY)),
        case("PUT", 405, "method_not_allowed", None, |t| t.client.put(&t.url).header("x-api-key", KEY).body(valid_event().to_string())),
        case("DELETE", 405, "method_not_allowed", None, |t| t.client.delete(&t.url).header("x-api-key", KEY)),
    ]
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Sends `case` and checks the status, the error shape, the code and the field.
async fn check(target: &Target, case: &Case) -> Result<(), String> {
    let response = (case.request)(target)
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| format!("no body: {e}"))?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "status {status}, body not JSON: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    })?;
    let error = &body["error"];
    let shaped = error["code"].is_string() && error["message"].is_string() && error["details"].is_array();
    if status != case.status || !shaped || error["code"] != case.code {
        return Err(format!("status {status}, body {body}"));
    }
    if let Some(field) = case.field {
        let details = error["details"].as_array().map(Vec::as_slice).unwrap_or_default();
        if !details.iter().any(|detail| detail["field"] == field) {
            return Err(format!("no detail names {field}: {body}"));
        }
    }
    Ok(())
}

/// An api on a port of its own, serving until the token is cancelled.
async fn start_api(stack: &Stack, topic: &TestTopic, extra: &[String]) -> (SocketAddr, CancellationToken) {
    let mut args = vec!["lakehouse-api".to_string()];
    args.extend(topic.flags(stack));
    args.extend([
        format!("--api-keys=campaign:{KEY},flood:flood-key"),
        "--visitor-id-secret-ephemeral".into(),
        format!("--max-body-bytes={MAX_BODY_BYTES}"),
        format!("--max-batch-events={MAX_BATCH_EVENTS}"),
        format!("--max-property-keys={MAX_PROPERTY_KEYS}"),
        format!("--max-event-bytes={MAX_EVENT_BYTES}"),
        "--log-format=pretty".into(),
    ]);
    args.extend(extra.iter().cloned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let shutdown = CancellationToken::new();
    let config = ApiConfig::parse_from(args);
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if let Err(error) = lakehouse_api::serve(config, listener, shutdown).await {
                panic!("the api failed: {error:#}");
            }
        }
    });
    (addr, shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_their_documented_errors_and_nothing_reaches_kafka() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 2).await;
    let database = TempDatabase::create(&stack).await;
    migrate(&database.url).await;
    let pool = sqlx::PgPool::connect(&database.url).await.expect("the database");
    let revoked = lakehouse_warehouse::api_keys::create(&pool, "campaign", "revoked in the campaign")
        .await
        .expect("a stored key");
    assert!(
        lakehouse_warehouse::api_keys::revoke(&pool, revoked.stored.id)
            .await
            .expect("revoke")
    );

    let (addr, shutdown) = start_api(
        &stack,
        &topic,
        &[
            format!("--database-url={}", database.url),
            // Generous enough for the campaign itself; the floods run against their own api.
            "--rate-limit-ip-requests-per-sec=1000".into(),
            "--rate-limit-ip-burst=1000".into(),
        ],
    )
    .await;
    let target = Target {
        client: reqwest::Client::new(),
        addr,
        url: format!("http://{addr}/analytics"),
        revoked_key: revoked.key.clone(),
    };

    // The control: one valid event gets through, and the count sees it.
    assert_eq!(message_count(&stack, &topic.name, WATERMARK_TIMEOUT).await, 0);
    let control_id = uuid::Uuid::new_v4();
    let response = target
        .event(json!({"event_id": control_id, "event_type": "page_view", "session_id": "control"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 202, "the control event is accepted");
    assert_eq!(
        message_count(&stack, &topic.name, WATERMARK_TIMEOUT).await,
        1,
        "the count sees the control event"
    );

    let mut failures = Vec::new();
    for case in cases() {
        if let Err(error) = check(&target, &case).await {
            failures.push(format!(
                "{}: expected {} {}; got {error}",
                case.name, case.status, case.code
            ));
        }
    }
    for (name, outcome) in protocol_cases(&target).await {
        if let Err(error) = outcome {
            failures.push(format!("{name}: {error}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    assert_eq!(
        message_count(&stack, &topic.name, WATERMARK_TIMEOUT).await,
        1,
        "no hostile request reached Kafka"
    );
    let messages = consume(&stack, &topic.name, 1, Duration::from_secs(30)).await;
    let event: Value = serde_json::from_slice(messages[0].payload().unwrap_or_default()).expect("JSON");
    assert_eq!(
        event["event_id"],
        control_id.to_string(),
        "the one message is the control's"
    );
    shutdown.cancel();
}

/// Requests written on a plain socket, so that no client library refuses to send them or adds
/// headers: the status of each answer, and for our own answers the code. Hyper refuses oversized
/// heads (431) before our code sees them, with an empty body rather than the JSON error shape
/// (documented in api/openapi.json).
async fn protocol_cases(target: &Target) -> Vec<(&'static str, Result<(), String>)> {
    let event = valid_event().to_string();
    let keyed = format!("x-api-key: {KEY}\r\ncontent-type: application/json\r\n");
    let huge_header = format!("x-api-key: {}\r\n", "k".repeat(512 * 1024));
    let many_headers: String = (0..101).map(|i| format!("x-h{i}: {i}\r\n")).collect();
    let with_length =
        |headers: &str, body: &str| format!("{headers}content-length: {}\r\n\r\n{body}", body.len());
    // 40 chunks of 32 KiB: past the body limit with no Content-Length to refuse it by.
    let chunk = format!("8000\r\n{}\r\n", " ".repeat(0x8000));
    let chunked = format!(
        "{keyed}transfer-encoding: chunked\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(40)
    );
    vec![
        (
            "a 512 KiB header",
            raw(target.addr, &with_length(&huge_header, &event), 431, None).await,
        ),
        (
            "101 headers",
            raw(target.addr, &with_length(&many_headers, &event), 431, None).await,
        ),
        (
            "a chunked body over MAX_BODY_BYTES",
            raw(target.addr, &chunked, 413, Some("body_too_large")).await,
        ),
    ]
}

/// Writes `POST /analytics` with `rest` (headers, blank line, body) and checks the answer's status
/// and, when given, its JSON error code.
async fn raw(addr: SocketAddr, rest: &str, status: u16, code: Option<&str>) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("POST /analytics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{rest}");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    // The server may answer and close before it read everything: a failed write is not the test.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    let shown = || answer.chars().take(300).collect::<String>();
    if !answer.starts_with(&format!("HTTP/1.1 {status} ")) {
        return Err(format!("expected {status}; got {:?}", shown()));
    }
    if let Some(code) = code {
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or_default();
        let body: Value = serde_json::from_str(body).map_err(|_| format!("not JSON: {:?}", shown()))?;
        if body["error"]["code"] != code || !body["error"]["details"].is_array() {
            return Err(format!("expected {code}; got {body}"));
        }
    }
    Ok(())
}

/// A client whose requests come from `ip` (any 127.0.0.0/8 address is this machine), so that
/// each flood has a client-IP bucket of its own.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("a client")
}

/// Posts `request()` until one is answered 429 (at most `max` times); returns how many were
/// answered before it, each with `before` as its status, and the 429 itself.
async fn flood(
    max: usize,
    before: u16,
    mut request: impl FnMut() -> reqwest::RequestBuilder,
) -> (usize, reqwest::header::HeaderMap, Value) {
    for sent in 0..max {
        let response = request().send().await.expect("an answer");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: Value = response.json().await.expect("a JSON body");
        match status {
            429 => return (sent, headers, body),
            status => assert_eq!(status, before, "before the limit: {body}"),
        }
    }
    panic!("no 429 after {max} requests");
}

/// A 429 as documented: the code, when to retry, and which limit.
fn assert_rate_limited(headers: &reqwest::header::HeaderMap, body: &Value, scope: &str, limit: &str) {
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["details"].is_array(), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(scope), "{message}");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header: {headers:?}"))
            .to_string()
    };
    let retry_after: u64 = header("retry-after").parse().expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header("ratelimit-limit"), limit);
    assert_eq!(header("ratelimit-remaining"), "0");
    assert!(header("ratelimit-reset").parse::<u64>().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_past_the_ip_and_project_limits_are_429_with_when_to_retry() {
    const BURST: usize = 5;
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let (addr, shutdown) = start_api(
        &stack,
        &topic,
        &[
            "--rate-limit-ip-requests-per-sec=1".into(),
            format!("--rate-limit-ip-burst={BURST}"),
            "--rate-limit-project-events-per-sec=1".into(),
            format!("--rate-limit-project-burst={BURST}"),
        ],
    )
    .await;
    let url = format!("http://{addr}/analytics");

    // Per client IP, counted before the key is looked at: a key-guessing flood is cut off.
    let client = client_from([127, 0, 0, 2]);
    let (passed, headers, body) = flood(50, 401, || client.post(&url).header("x-api-key", "guess")).await;
    // A token comes back each second: one more may pass on a slow machine.
    assert!((BURST..=BURST + 1).contains(&passed), "{passed} passed");
    assert_rate_limited(&headers, &body, "client IP", "1");
    let other_client = client_from([127, 0, 0, 3]);
    let response = other_client
        .post(&url)
        .header("x-api-key", "guess")
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status().as_u16(),
        401,
        "another client has its own bucket"
    );

    // Per project, in events: batches of two events (none valid, so that nothing is stored).
    let batch = json!([with("session_id", None), with("session_id", None)]).to_string();
    let project_client = client_from([127, 0, 0, 5]);
    let (passed, headers, body) = flood(50, 400, || {
        project_client
            .post(&url)
            .header("x-api-key", "flood-key")
            .body(batch.clone())
    })
    .await;
    assert!((BURST / 2..=BURST / 2 + 1).contains(&passed), "{passed} passed");
    assert_rate_limited(&headers, &body, "project", "1");
    let response = client_from([127, 0, 0, 4])
        .post(&url)
        .header("x-api-key", KEY)
        .body(with("session_id", None).to_string())
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status().as_u16(),
        400,
        "another project has its own bucket"
    );

    assert_eq!(message_count(&stack, &topic.name, WATERMARK_TIMEOUT).await, 0);
    shutdown.cancel();
}
