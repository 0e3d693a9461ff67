//! The manifest types of the contract, with builders so a manifest reads
//! like a description rather than a wall of struct literals.
//!
//! Schemas are JSON values (write them with `serde_json::json!`); the wire
//! carries them as text.

use serde_json::Value;

pub use crate::bindings::plugboard::connector::types::{
    Account, AuthKind, AuthMethod, Capability, ClientAuth, ConfigField, Event, FieldKind, Manifest,
    Oauth2Settings, Operation, PollResult, Scope, TokenPlacement, Trigger,
};

/// The schema used when none is given: any JSON object.
fn any_object() -> String {
    r#"{"type":"object"}"#.to_owned()
}

impl Manifest {
    /// A manifest with `id`, display `name` and `version`; everything else
    /// empty. `base_url` is the URL relative requests resolve against (it may
    /// be a `{field}` placeholder).
    pub fn new(id: &str, name: &str, version: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            description: String::new(),
            base_url: String::new(),
            api_hosts: Vec::new(),
            auth_methods: Vec::new(),
            config_fields: Vec::new(),
            operations: Vec::new(),
            triggers: Vec::new(),
            capabilities: Vec::new(),
        }
    }

    /// Set the description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    /// Set the base URL (may be a `{field}` placeholder).
    pub fn base_url(mut self, base_url: &str) -> Self {
        self.base_url = base_url.to_owned();
        self
    }

    /// Allow a host name (`api.zoom.us`, `*.example.com`) or a `{field}`
    /// placeholder naming a URL config field.
    pub fn api_host(mut self, host: &str) -> Self {
        self.api_hosts.push(host.to_owned());
        self
    }

    /// Offer an auth method.
    pub fn auth(mut self, method: AuthMethod) -> Self {
        self.auth_methods.push(method);
        self
    }

    /// Ask for a config field.
    pub fn config(mut self, field: ConfigField) -> Self {
        self.config_fields.push(field);
        self
    }

    /// Declare an operation.
    pub fn operation(mut self, operation: Operation) -> Self {
        self.operations.push(operation);
        self
    }

    /// Declare a trigger.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.triggers.push(trigger);
        self
    }

    /// Ask for a capability (the operator decides).
    pub fn capability(mut self, capability: Capability) -> Self {
        self.capabilities.push(capability);
        self
    }
}

impl Scope {
    /// A scope with its description.
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
        }
    }
}

impl Oauth2Settings {
    /// Endpoints with PKCE on, HTTP Basic client auth, space-separated scopes.
    pub fn new(authorize_url: Option<&str>, token_url: &str) -> Self {
        Self {
            authorize_url: authorize_url.map(str::to_owned),
            token_url: token_url.to_owned(),
            revoke_url: None,
            pkce: true,
            client_auth: ClientAuth::Basic,
            scope_separator: " ".to_owned(),
            extra_authorize_params: Vec::new(),
        }
    }

    /// Set the revocation endpoint.
    pub fn revoke_url(mut self, url: &str) -> Self {
        self.revoke_url = Some(url.to_owned());
        self
    }

    /// Say whether the provider accepts PKCE.
    pub fn pkce(mut self, pkce: bool) -> Self {
        self.pkce = pkce;
        self
    }

    /// Set how the client authenticates at the token endpoint.
    pub fn client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Set the scope separator.
    pub fn scope_separator(mut self, separator: &str) -> Self {
        self.scope_separator = separator.to_owned();
        self
    }

    /// Add a query parameter to the authorize URL.
    pub fn authorize_param(mut self, name: &str, value: &str) -> Self {
        self.extra_authorize_params
            .push((name.to_owned(), value.to_owned()));
        self
    }
}

impl AuthMethod {
    /// An auth method of `kind` labelled `label`, with nothing else set.
    pub fn new(kind: AuthKind, label: &str) -> Self {
        Self {
            kind,
            label: label.to_owned(),
            oauth2: None,
            token_placement: None,
            scopes_offered: Vec::new(),
            scopes_default: Vec::new(),
        }
    }

    /// An OAuth 2.0 method of `kind` with `settings`.
    pub fn oauth2(kind: AuthKind, label: &str, settings: Oauth2Settings) -> Self {
        Self {
            oauth2: Some(settings),
            ..Self::new(kind, label)
        }
    }

    /// A personal-access-token method; the token goes in `header` after
    /// `prefix` (e.g. `Authorization` and `Bearer `).
    pub fn personal_access_token(label: &str, header: &str, prefix: &str) -> Self {
        Self {
            token_placement: Some(TokenPlacement {
                header: header.to_owned(),
                prefix: prefix.to_owned(),
            }),
            ..Self::new(AuthKind::PersonalAccessToken, label)
        }
    }

    /// Offer `scopes`.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.scopes_offered.extend(scopes);
        self
    }

    /// Always request these scopes.
    pub fn default_scopes<'a>(mut self, scopes: impl IntoIterator<Item = &'a str>) -> Self {
        self.scopes_default
            .extend(scopes.into_iter().map(str::to_owned));
        self
    }
}

impl ConfigField {
    /// A config field; optional, no default, no description.
    pub fn new(name: &str, label: &str, kind: FieldKind) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            description: String::new(),
            kind,
            required: false,
            default_value: None,
        }
    }

    /// Make it required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Set the description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    /// Set the default value.
    pub fn default_value(mut self, value: &str) -> Self {
        self.default_value = Some(value.to_owned());
        self
    }
}

impl Operation {
    /// An operation taking and returning any JSON object, needing no scope.
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            input_schema: any_object(),
            output_schema: any_object(),
            required_scopes: Vec::new(),
        }
    }

    /// Set the input JSON Schema.
    pub fn input(mut self, schema: Value) -> Self {
        self.input_schema = schema.to_string();
        self
    }

    /// Set the output JSON Schema.
    pub fn output(mut self, schema: Value) -> Self {
        self.output_schema = schema.to_string();
        self
    }

    /// Require these scopes; the host checks them before `invoke`.
    pub fn scopes<'a>(mut self, scopes: impl IntoIterator<Item = &'a str>) -> Self {
        self.required_scopes
            .extend(scopes.into_iter().map(str::to_owned));
        self
    }
}

impl Trigger {
    /// A trigger polled every `default_poll_interval_seconds`, with any
    /// parameters and events.
    pub fn new(name: &str, description: &str, default_poll_interval_seconds: u32) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            parameters_schema: any_object(),
            event_schema: any_object(),
            required_scopes: Vec::new(),
            default_poll_interval_seconds,
        }
    }

    /// Set the parameters JSON Schema.
    pub fn parameters(mut self, schema: Value) -> Self {
        self.parameters_schema = schema.to_string();
        self
    }

    /// Set the event JSON Schema.
    pub fn event(mut self, schema: Value) -> Self {
        self.event_schema = schema.to_string();
        self
    }

    /// Require these scopes.
    pub fn scopes<'a>(mut self, scopes: impl IntoIterator<Item = &'a str>) -> Self {
        self.required_scopes
            .extend(scopes.into_iter().map(str::to_owned));
        self
    }
}

impl Account {
    /// An account with `id` and `display_name`.
    pub fn new(id: impl Into<String>, display_name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            display_name: display_name.into(),
            email: None,
        }
    }

    /// Set the e-mail address.
    pub fn email(mut self, email: Option<String>) -> Self {
        self.email = email;
        self
    }
}

impl Event {
    /// An event with a stable `id` and a serializable payload.
    ///
    /// # Errors
    /// [`crate::ConnectorError::Internal`] if the payload cannot be serialized.
    pub fn new<T: serde::Serialize>(
        id: impl Into<String>,
        occurred_at: Option<String>,
        payload: &T,
    ) -> Result<Self, crate::ConnectorError> {
        let payload = serde_json::to_string(payload).map_err(|e| {
            crate::ConnectorError::internal(format!("cannot serialize event payload: {e}"))
        })?;
        Ok(Self {
            id: id.into(),
            occurred_at,
            payload,
        })
    }
}
