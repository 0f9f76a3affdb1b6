//! A reverse proxy in front of the api's replicas, as the chart's Ingress puts an ingress
//! controller there: each request goes to the next replica in turn, with the address the proxy
//! was connected from appended to `X-Forwarded-For` and what the client sent kept before it
//! (nginx's `$proxy_add_x_forwarded_for`, the configuration most guides show).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

/// The running proxy; stopped when dropped.
#[derive(Debug)]
pub struct Ingress {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    task: JoinHandle<()>,
}

impl Drop for Ingress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Upstreams {
    addresses: Vec<String>,
    next: AtomicUsize,
    client: reqwest::Client,
}

impl Ingress {
    /// A proxy on a free loopback port in front of `upstreams` (`host:port` each).
    pub async fn start(upstreams: Vec<String>) -> Self {
        let state = Arc::new(Upstreams {
            addresses: upstreams,
            next: AtomicUsize::new(0),
            client: reqwest::Client::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the ingress");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .expect("the ingress serves");
        });
        Self { url, task }
    }
}

async fn forward(
    State(upstreams): State<Arc<Upstreams>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    mut headers: HeaderMap,
    body: Bytes,
) -> Response {
    let turn = upstreams.next.fetch_add(1, Ordering::Relaxed) % upstreams.addresses.len();
    let target = format!(
        "http://{}{}",
        upstreams.addresses[turn],
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(sent) => format!("{sent}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    strip_hop_by_hop(&mut headers);
    headers.remove("host");
    headers.insert(
        "x-forwarded-for",
        forwarded.parse().expect("an address is a header value"),
    );
    let answer = upstreams
        .client
        .request(method, target)
        .headers(headers)
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let status = answer.status();
            let mut headers = answer.headers().clone();
            strip_hop_by_hop(&mut headers);
            let body = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        // What an ingress answers when the replica is away.
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

/// Headers about one connection, never forwarded (the body's length is set anew on each side).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "upgrade",
    ] {
        headers.remove(name);
    }
}
