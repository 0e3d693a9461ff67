//! A small typed HTTP client over the host's `http.send`.
//!
//! The host sends every request: relative URLs (`/users/me`) resolve against
//! the connection's base URL, the credential is injected by the host (never
//! set `Authorization` yourself), and only the manifest's `api-hosts` are
//! reachable.
//!
//! ```ignore
//! let me: User = Request::get("/users/me").send()?.json()?;
//! let created: Meeting = Request::post("/users/me/meetings")
//!     .json(&new_meeting)?
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ConnectorError;
use crate::bindings::plugboard::connector::http as wit;

pub use wit::{HttpError, Method};

impl Method {
    /// Parse `GET`, `post`, ... (case-insensitive).
    pub fn parse(method: &str) -> Option<Self> {
        Some(match method.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }

    /// The method's name in upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// A request to be sent by the host. Build with [`Request::get`] and friends.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Request {
    /// A request with `method` to `url` (a path relative to the base URL, or
    /// an absolute URL on a declared host).
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// `POST url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// `PUT url`.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// `PATCH url`.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// `DELETE url`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Add a header. `Authorization` and the token header are replaced by
    /// the host.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Append a query parameter (percent-encoded for you).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Append a query parameter when `value` is `Some`.
    pub fn query_opt(self, name: impl Into<String>, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.query(name, value),
            None => self,
        }
    }

    /// Set a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Set a JSON body and `Content-Type: application/json`.
    ///
    /// # Errors
    /// [`ConnectorError::Internal`] if `value` cannot be serialized.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, ConnectorError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ConnectorError::internal(format!("cannot serialize request body: {e}")))?;
        Ok(self.header("Content-Type", "application/json").body(body))
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL with the query string appended.
    pub fn url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let mut url = self.url.clone();
        let mut separator = if url.contains('?') { '&' } else { '?' };
        for (name, value) in &self.query {
            url.push(separator);
            url.push_str(&percent_encode(name));
            url.push('=');
            url.push_str(&percent_encode(value));
            separator = '&';
        }
        url
    }

    /// Ask the host to send the request and wait for the whole response.
    /// Any status is a response; see [`Response::error_for_status`].
    ///
    /// # Errors
    /// The host's [`HttpError`] (refused destination, timeout, ...); it
    /// converts into [`ConnectorError`] with `?`.
    pub fn send(self) -> Result<Response, HttpError> {
        let has_accept = self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("accept"));
        let mut headers = self.headers.clone();
        if !has_accept {
            headers.push(("Accept".to_owned(), "application/json".to_owned()));
        }
        let request = wit::Request {
            method: self.method,
            url: self.url(),
            headers,
            body: self.body,
        };
        wit::send(&request).map(|r| Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A response received by the host, credentials already stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers, in the order received.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T`.
    ///
    /// # Errors
    /// [`ConnectorError::Provider`] naming the status when the body is not
    /// the JSON expected: the provider answered something unexpected.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::provider(
                Some(self.status),
                None,
                format!("unexpected response body (HTTP {}): {e}", self.status),
            )
        })
    }

    /// The body as JSON, or `null` when it is empty, or a JSON string
    /// holding the text when it is not JSON.
    pub fn json_value(&self) -> serde_json::Value {
        if self.body.is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| serde_json::Value::String(self.text()))
    }

    /// `Retry-After` in seconds, when the provider sent it as a number.
    pub fn retry_after(&self) -> Option<u32> {
        self.header("retry-after")?.trim().parse().ok()
    }

    /// `Ok(self)` for 2xx; otherwise the generic [`ConnectorError`] for the
    /// status ([`ConnectorError::from_status`]) with the body as message.
    /// Connectors that know their provider's error body map it themselves.
    ///
    /// # Errors
    /// The error for a non-2xx status.
    pub fn error_for_status(self) -> Result<Self, ConnectorError> {
        if self.is_success() {
            return Ok(self);
        }
        let mut message = self.text();
        if message.trim().is_empty() {
            message = format!("HTTP {}", self.status);
        }
        Err(match self.status {
            429 => ConnectorError::rate_limited(message, self.retry_after()),
            status => ConnectorError::from_status(status, None, message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_encoded() {
        let request = Request::get("/search")
            .query("q", "a b&c")
            .query_opt("page", Some("2"))
            .query_opt("none", None::<String>);
        assert_eq!(request.url(), "/search?q=a%20b%26c&page=2");
    }

    #[test]
    fn query_appends_to_an_existing_query_string() {
        assert_eq!(Request::get("/x?a=1").query("b", "2").url(), "/x?a=1&b=2");
    }

    #[test]
    fn error_for_status_maps_statuses() {
        let response = |status| Response {
            status,
            headers: vec![("Retry-After".into(), "7".into())],
            body: b"nope".to_vec(),
        };
        assert!(response(204).error_for_status().is_ok());
        assert!(matches!(
            response(404).error_for_status(),
            Err(ConnectorError::NotFound(m)) if m == "nope"
        ));
        assert!(matches!(
            response(429).error_for_status(),
            Err(ConnectorError::RateLimited(r)) if r.retry_after_seconds == Some(7)
        ));
        assert!(matches!(
            response(500).error_for_status(),
            Err(ConnectorError::Provider(p)) if p.status == Some(500)
        ));
    }
}
