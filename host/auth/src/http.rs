//! The HTTP client the `oauth2` crate uses, over our reqwest client (no
//! second reqwest, no redirects: a token endpoint that redirects is refused,
//! so credentials never follow a `Location` somewhere else).
//!
//! Transient answers (5xx, 429 with `Retry-After`) become
//! [`HttpError::Transient`] here, because `oauth2` keeps only the body of a
//! failed response and the token manager needs the status to decide between
//! "retry later" and "reconnect required". Bodies are never put in errors:
//! they may hold tokens.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

/// Why a token-endpoint HTTP exchange did not produce a response to parse.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Could not reach the endpoint, or it took longer than the timeout.
    #[error("could not reach {host}: {reason}")]
    Transport { host: String, reason: String },
    /// 5xx or 429: worth retrying later.
    #[error("{host} answered HTTP {status}")]
    Transient {
        host: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The request could not be built (bad URL…).
    #[error("invalid token request: {0}")]
    Build(String),
}

/// Cheap to clone; share one per process.
#[derive(Clone, Debug)]
pub struct OAuthHttp {
    client: reqwest::Client,
}

impl OAuthHttp {
    /// A client with `timeout` per request and no redirects.
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client with static settings");
        OAuthHttp { client }
    }

    /// Use an existing client (it should not follow redirects).
    pub fn from_client(client: reqwest::Client) -> Self {
        OAuthHttp { client }
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let host = request.uri().host().unwrap_or_default().to_string();
        let request = reqwest::Request::try_from(request)
            .map_err(|e| HttpError::Build(e.without_url().to_string()))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| HttpError::Transport {
                host: host.clone(),
                reason: describe(&e),
            })?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(HttpError::Transient {
                host,
                status: status.as_u16(),
                retry_after,
            });
        }
        let mut builder = http::Response::builder().status(status.as_u16());
        for (name, value) in response.headers() {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        let body = response.bytes().await.map_err(|e| HttpError::Transport {
            host,
            reason: describe(&e),
        })?;
        builder
            .body(body.to_vec())
            .map_err(|e| HttpError::Build(e.to_string()))
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        // Without the URL: token requests carry secrets only in bodies and
        // headers, but some providers put them in queries.
        let mut s = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(err) = source {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&err.to_string());
            source = err.source();
        }
        s.split(" for url (").next().unwrap_or_default().to_string()
    }
}

impl<'c> AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
