//! Plugboard connector for Zoom (REST API v2).
//!
//! Auth: OAuth 2.0 authorization code with Plugboard's Zoom app, or with the
//! user's own Zoom app (BYOA). Operations: `get_current_user`,
//! `create_meeting`, `list_recordings`; trigger: `new_recording`.
//!
//! Zoom specifics handled here: the error body `{"code": 124, "message":
//! ...}` mapped to typed errors ([`errors`]), the admin pre-approval error
//! explained, the one-OAuth-session-per-app-and-user rule explained on 401,
//! and `next_page_token` pagination ([`recordings`]).

pub mod errors;
pub mod recordings;

use plugboard_sdk::prelude::*;
use serde_json::{Map, Value};

use crate::errors::check;

/// The Zoom connector.
pub struct Zoom;

/// Scopes the connector uses.
pub const MEETING_WRITE: &str = "meeting:write";
/// Scopes the connector uses.
pub const RECORDING_READ: &str = "recording:read";
/// Scopes the connector uses.
pub const USER_INFO_READ: &str = "user_info:read";

impl Connector for Zoom {
    fn manifest() -> Manifest {
        manifest()
    }

    fn check_connection() -> Result<Account, ConnectorError> {
        let user = get_current_user(Empty {})?;
        Ok(user.account())
    }

    fn invoke(operation: &str, input: &str) -> Result<String, ConnectorError> {
        Router::new()
            .operation("get_current_user", get_current_user)
            .operation("create_meeting", create_meeting)
            .operation("list_recordings", recordings::list_recordings)
            .invoke(operation, input)
    }

    fn poll(
        trigger: &str,
        _parameters: &str,
        cursor: Option<String>,
    ) -> Result<PollResult, ConnectorError> {
        match trigger {
            "new_recording" => recordings::poll_new_recordings(cursor.as_deref()),
            other => Err(ConnectorError::UnknownOperation(other.to_owned())),
        }
    }
}

plugboard_sdk::export_connector!(Zoom);

/// The manifest: what Zoom offers and what each operation needs.
pub fn manifest() -> Manifest {
    let oauth = Oauth2Settings::new(
        Some("https://zoom.us/oauth/authorize"),
        "https://zoom.us/oauth/token",
    )
    .revoke_url("https://zoom.us/oauth/revoke")
    .client_auth(ClientAuth::Basic)
    // Zoom lists granted scopes comma-separated in token responses.
    .scope_separator(",");
    let scopes = || {
        [
            Scope::new(MEETING_WRITE, "Create and manage your meetings."),
            Scope::new(RECORDING_READ, "See your cloud recordings."),
            Scope::new(USER_INFO_READ, "See your Zoom user profile."),
        ]
    };
    let all = [MEETING_WRITE, RECORDING_READ, USER_INFO_READ];
    Manifest::new("zoom", "Zoom", env!("CARGO_PKG_VERSION"))
        .description("Zoom meetings and cloud recordings.")
        .base_url("https://api.zoom.us/v2")
        .api_host("api.zoom.us")
        .auth(
            AuthMethod::oauth2(
                AuthKind::Oauth2AuthorizationCode,
                "OAuth 2.0 (Plugboard's Zoom app)",
                oauth.clone(),
            )
            .scopes(scopes())
            .default_scopes(all),
        )
        .auth(
            AuthMethod::oauth2(
                AuthKind::Oauth2Byoa,
                "OAuth 2.0 (your own Zoom app: client id and secret)",
                oauth,
            )
            .scopes(scopes())
            .default_scopes(all),
        )
        .operation(
            Operation::new(
                "get_current_user",
                "The Zoom user the connection belongs to.",
            )
            .input(json!({"type": "object", "additionalProperties": false}))
            .output(user_schema())
            .scopes([USER_INFO_READ]),
        )
        .operation(
            Operation::new(
                "create_meeting",
                "Schedule a meeting for the connection's user.",
            )
            .input(create_meeting_schema())
            .output(meeting_schema())
            .scopes([MEETING_WRITE]),
        )
        .operation(
            Operation::new(
                "list_recordings",
                "The user's cloud recordings between `from` and `to` (all pages).",
            )
            .input(recordings::list_input_schema())
            .output(recordings::list_output_schema())
            .scopes([RECORDING_READ]),
        )
        .trigger(
            Trigger::new(
                "new_recording",
                "A new cloud recording is available. The first poll only \
                 records what exists; later polls report recordings not seen before.",
                300,
            )
            .parameters(json!({"type": "object", "additionalProperties": false}))
            .event(recordings::meeting_schema())
            .scopes([RECORDING_READ]),
        )
}

/// No input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A Zoom user (`GET /users/me`); fields Zoom adds are kept in `extra`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Zoom user id.
    pub id: String,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Zoom account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Everything else Zoom returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    /// The account for check-connection: display name, else first and last
    /// name, else e-mail, else id.
    pub fn account(&self) -> Account {
        let full_name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let display_name = self
            .display_name
            .clone()
            .filter(|s| !s.is_empty())
            .or(Some(full_name).filter(|s| !s.is_empty()))
            .or(self.email.clone())
            .unwrap_or_else(|| self.id.clone());
        Account::new(self.id.clone(), display_name).email(self.email.clone())
    }
}

/// `get_current_user`: `GET /users/me`.
///
/// # Errors
/// Zoom's error, mapped by [`errors::from_response`].
pub fn get_current_user(_: Empty) -> Result<User, ConnectorError> {
    check(Request::get("/users/me").send()?)?.json()
}

/// Input of `create_meeting`: Zoom's own field names.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMeeting {
    /// Meeting topic.
    pub topic: String,
    /// 1 instant, 2 scheduled (default), 3 recurring without fixed time,
    /// 8 recurring with fixed time.
    #[serde(rename = "type", default = "scheduled")]
    pub kind: u8,
    /// Start time, e.g. `2026-12-01T10:00:00Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Duration in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    /// IANA time zone of `start_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agenda: Option<String>,
    /// Passcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Zoom meeting settings object, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
}

fn scheduled() -> u8 {
    2
}

/// A meeting as Zoom returns it; fields Zoom adds are kept in `extra`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meeting {
    /// Meeting number.
    pub id: u64,
    /// Meeting instance uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Topic.
    #[serde(default)]
    pub topic: String,
    /// Link for participants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Everything else Zoom returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `create_meeting`: `POST /users/me/meetings`.
///
/// # Errors
/// [`ConnectorError::InvalidInput`] for an empty topic; Zoom's error, mapped
/// by [`errors::from_response`].
pub fn create_meeting(input: CreateMeeting) -> Result<Meeting, ConnectorError> {
    if input.topic.trim().is_empty() {
        return Err(ConnectorError::invalid_input("`topic` must not be empty"));
    }
    let response = Request::post("/users/me/meetings").json(&input)?.send()?;
    check(response)?.json()
}

fn user_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "email": {"type": "string"},
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "display_name": {"type": "string"},
            "account_id": {"type": "string"}
        }
    })
}

fn create_meeting_schema() -> Value {
    json!({
        "type": "object",
        "required": ["topic"],
        "additionalProperties": false,
        "properties": {
            "topic": {"type": "string", "minLength": 1},
            "type": {"type": "integer", "enum": [1, 2, 3, 8], "default": 2},
            "start_time": {"type": "string", "format": "date-time"},
            "duration": {"type": "integer", "minimum": 1},
            "timezone": {"type": "string"},
            "agenda": {"type": "string"},
            "password": {"type": "string"},
            "settings": {"type": "object"}
        }
    })
}

fn meeting_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "topic"],
        "properties": {
            "id": {"type": "integer"},
            "uuid": {"type": "string"},
            "topic": {"type": "string"},
            "join_url": {"type": "string"},
            "start_time": {"type": "string"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_declares_scopes_per_operation() {
        let manifest = manifest();
        assert_eq!(manifest.id, "zoom");
        let scopes = |name: &str| {
            manifest
                .operations
                .iter()
                .find(|o| o.name == name)
                .map(|o| o.required_scopes.clone())
                .unwrap()
        };
        assert_eq!(scopes("create_meeting"), ["meeting:write"]);
        assert_eq!(scopes("list_recordings"), ["recording:read"]);
        assert_eq!(scopes("get_current_user"), ["user_info:read"]);
        assert_eq!(manifest.triggers[0].required_scopes, ["recording:read"]);
        let kinds: Vec<_> = manifest.auth_methods.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [AuthKind::Oauth2AuthorizationCode, AuthKind::Oauth2Byoa]
        );
        let oauth = manifest.auth_methods[0].oauth2.as_ref().unwrap();
        assert_eq!(oauth.token_url, "https://zoom.us/oauth/token");
        assert_eq!(oauth.scope_separator, ",");
        assert!(matches!(oauth.client_auth, ClientAuth::Basic));
    }

    #[test]
    fn manifest_schemas_are_json() {
        for operation in manifest().operations {
            serde_json::from_str::<Value>(&operation.input_schema).unwrap();
            serde_json::from_str::<Value>(&operation.output_schema).unwrap();
        }
    }

    #[test]
    fn account_prefers_display_name_then_full_name_then_email() {
        let user: User = serde_json::from_value(json!({
            "id": "u1", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@x", "type": 1
        }))
        .unwrap();
        let account = user.account();
        assert_eq!(account.display_name, "Ada Lovelace");
        assert_eq!(account.email.as_deref(), Some("ada@x"));
        assert_eq!(user.extra["type"], 1);
    }

    #[test]
    fn create_meeting_defaults_to_a_scheduled_meeting() {
        let input: CreateMeeting = serde_json::from_value(json!({"topic": "Standup"})).unwrap();
        assert_eq!(
            serde_json::to_value(&input).unwrap(),
            json!({"topic": "Standup", "type": 2})
        );
    }
}
