//! Building blocks for generic connectors (any REST API reached with a
//! configured base URL): the `request` operation and a best-effort account
//! from a "who am I" JSON body. Used by the bundled `oauth2` and `pat`
//! connectors; a connector for one known API should use typed requests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::http::{Method, Request};
use crate::{Account, ConnectorError, Operation};

/// Input of the generic `request` operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// HTTP method; `GET` when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path relative to the API base URL (`/v1/items`), or an absolute URL
    /// on an allowed host.
    pub path: String,
    /// Query parameters; values may be strings, numbers, booleans or arrays
    /// of those (repeated parameter).
    #[serde(default)]
    pub query: Map<String, Value>,
    /// Extra headers (credential headers are set by the host).
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// JSON body, sent as `application/json`.
    #[serde(default)]
    pub body: Option<Value>,
}

/// Output of the generic `request` operation.
#[derive(Debug, Clone, Serialize)]
pub struct RawResponse {
    /// The provider's HTTP status.
    pub status: u16,
    /// The body as JSON (`null` when empty, a string when not JSON).
    pub body: Value,
}

/// The manifest entry for the generic `request` operation.
pub fn request_operation(description: &str) -> Operation {
    Operation::new("request", description)
        .input(json!({
            "type": "object",
            "required": ["path"],
            "additionalProperties": false,
            "properties": {
                "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], "default": "GET"},
                "path": {"type": "string", "description": "Path relative to the API base URL, e.g. /v1/items"},
                "query": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "array"]}},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "body": {"description": "JSON body"}
            }
        }))
        .output(json!({
            "type": "object",
            "required": ["status", "body"],
            "properties": {
                "status": {"type": "integer"},
                "body": {"description": "The response body as JSON; a string when it is not JSON"}
            }
        }))
}

/// Build the HTTP request the `request` operation sends.
///
/// # Errors
/// [`ConnectorError::InvalidInput`] for an unknown method or a query or
/// header value of the wrong type.
pub fn build_request(input: &RawRequest) -> Result<Request, ConnectorError> {
    let method = input.method.as_deref().unwrap_or("GET");
    let method = Method::parse(method)
        .ok_or_else(|| ConnectorError::invalid_input(format!("unknown HTTP method `{method}`")))?;
    let mut request = Request::new(method, input.path.clone());
    for (name, value) in &input.query {
        let values = match value {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        };
        for value in values {
            request = request.query(name.clone(), scalar(name, value)?);
        }
    }
    for (name, value) in &input.headers {
        let Value::String(value) = value else {
            return Err(ConnectorError::invalid_input(format!(
                "header `{name}` must be a string"
            )));
        };
        request = request.header(name.clone(), value.clone());
    }
    if let Some(body) = &input.body {
        request = request.json(body)?;
    }
    Ok(request)
}

fn scalar(name: &str, value: &Value) -> Result<String, ConnectorError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ConnectorError::invalid_input(format!(
            "query parameter `{name}` must be a string, number, boolean or an array of those"
        ))),
    }
}

/// Run the generic `request` operation: any status comes back as data,
/// except 401 (the credential was refused even after a refresh →
/// [`ConnectorError::Unauthorized`]) and 429 ([`ConnectorError::RateLimited`]),
/// which the host needs to see to update the connection.
///
/// # Errors
/// Those two statuses, bad input, or a failed send.
pub fn request(input: RawRequest) -> Result<RawResponse, ConnectorError> {
    let response = build_request(&input)?.send()?;
    match response.status {
        401 | 429 => Err(response.error_for_status().err().unwrap_or_else(|| {
            ConnectorError::internal("error_for_status accepted a 401/429 response")
        })),
        status => Ok(RawResponse {
            status,
            body: response.json_value(),
        }),
    }
}

/// A best-effort account from a "who am I" body (OpenID Connect userinfo,
/// GitHub's `/user`, ...): id from `sub`, `id`, `uuid`, `login` or
/// `username`; display name from `name`, `display_name`,
/// `preferred_username`, `login`, `username` or `email`.
pub fn account_from_json(body: &Value) -> Option<Account> {
    let text = |key: &str| match &body[key] {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let first = |keys: &[&str]| keys.iter().find_map(|k| text(k));
    let id = first(&["sub", "id", "uuid", "login", "username", "email"])?;
    let email = text("email");
    let display_name = first(&[
        "name",
        "display_name",
        "preferred_username",
        "login",
        "username",
        "email",
    ])
    .unwrap_or_else(|| id.clone());
    Some(Account::new(id, display_name).email(email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_input_becomes_an_http_request() {
        let input: RawRequest = serde_json::from_value(json!({
            "method": "post",
            "path": "/v1/items",
            "query": {"tag": ["a", "b"], "limit": 10, "all": true},
            "headers": {"X-Trace": "1"},
            "body": {"name": "x"}
        }))
        .unwrap();
        let request = build_request(&input).unwrap();
        assert_eq!(request.method(), Method::Post);
        assert_eq!(request.url(), "/v1/items?all=true&limit=10&tag=a&tag=b");
    }

    #[test]
    fn unknown_fields_and_methods_are_invalid_input() {
        assert!(serde_json::from_value::<RawRequest>(json!({"path": "/", "bogus": 1})).is_err());
        let input: RawRequest =
            serde_json::from_value(json!({"path": "/", "method": "BREW"})).unwrap();
        assert!(matches!(
            build_request(&input),
            Err(ConnectorError::InvalidInput(m)) if m.contains("BREW")
        ));
    }

    #[test]
    fn account_from_userinfo_and_github_style_bodies() {
        let oidc = account_from_json(&json!({"sub": "u1", "name": "Ada", "email": "a@x"})).unwrap();
        assert_eq!(
            (oidc.id.as_str(), oidc.display_name.as_str()),
            ("u1", "Ada")
        );
        assert_eq!(oidc.email.as_deref(), Some("a@x"));
        let github = account_from_json(&json!({"id": 42, "login": "ada"})).unwrap();
        assert_eq!(
            (github.id.as_str(), github.display_name.as_str()),
            ("42", "ada")
        );
        assert!(account_from_json(&json!({"nothing": true})).is_none());
    }
}
