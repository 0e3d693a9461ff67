//! Bindings for the frozen contract `plugboard:connector@0.1.0`
//! (`wit/plugboard-connector@0.1.0/`), and the conversions between its
//! generated types and the host's plain Rust types.
//!
//! Owns: the `bindgen!` for this one contract version and the `From`
//! conversions (manifest, connector error). Must never: hold policy. The
//! host functions live in `crate::imports`, which implements the traits
//! generated here; when a newer contract exists, this file keeps its own
//! `bindgen!` and maps onto `latest`.

use plugboard_manifest as m;

use crate::error::ConnectorError;

wasmtime::component::bindgen!({
    path: "../../wit/plugboard-connector@0.1.0",
    world: "connector",
    // Every import is async (HTTP, secret storage and reconnect requests
    // wait on the host's services) and trappable (host faults trap the
    // guest instead of being reported as guest-visible errors).
    imports: { default: async | trappable },
    exports: { default: async },
});

/// The contract version these bindings implement.
pub const VERSION: &str = "0.1.0";

pub use exports::plugboard::connector::plugin::{
    Account as WitAccount, ConnectorError as WitConnectorError, PollResult as WitPollResult,
};
pub use plugboard::connector::types as wit_types;

impl From<wit_types::AuthKind> for m::AuthKind {
    fn from(kind: wit_types::AuthKind) -> Self {
        use wit_types::AuthKind as W;
        match kind {
            W::Oauth2AuthorizationCode => m::AuthKind::Oauth2AuthorizationCode,
            W::Oauth2Byoa => m::AuthKind::Oauth2Byoa,
            W::Oauth2ClientCredentials => m::AuthKind::Oauth2ClientCredentials,
            W::Oauth2Password => m::AuthKind::Oauth2Password,
            W::PersonalAccessToken => m::AuthKind::PersonalAccessToken,
            W::ClientCertificate => m::AuthKind::ClientCertificate,
        }
    }
}

impl From<m::AuthKind> for wit_types::AuthKind {
    fn from(kind: m::AuthKind) -> Self {
        use wit_types::AuthKind as W;
        match kind {
            m::AuthKind::Oauth2AuthorizationCode => W::Oauth2AuthorizationCode,
            m::AuthKind::Oauth2Byoa => W::Oauth2Byoa,
            m::AuthKind::Oauth2ClientCredentials => W::Oauth2ClientCredentials,
            m::AuthKind::Oauth2Password => W::Oauth2Password,
            m::AuthKind::PersonalAccessToken => W::PersonalAccessToken,
            m::AuthKind::ClientCertificate => W::ClientCertificate,
        }
    }
}

impl From<WitConnectorError> for ConnectorError {
    fn from(error: WitConnectorError) -> Self {
        use WitConnectorError as W;
        match error {
            W::InvalidInput(message) => ConnectorError::InvalidInput { message },
            W::Unauthorized(message) => ConnectorError::Unauthorized { message },
            W::Forbidden(f) => ConnectorError::Forbidden {
                message: f.message,
                missing_scopes: f.missing_scopes,
            },
            W::NotFound(message) => ConnectorError::NotFound { message },
            W::RateLimited(r) => ConnectorError::RateLimited {
                message: r.message,
                retry_after_seconds: r.retry_after_seconds,
            },
            W::Provider(p) => ConnectorError::Provider {
                status: p.status,
                code: p.code,
                message: p.message,
            },
            W::ReconnectRequired(message) => ConnectorError::ReconnectRequired { message },
            W::UnknownOperation(message) => ConnectorError::UnknownOperation { message },
            W::Internal(message) => ConnectorError::Internal { message },
        }
    }
}

/// Turn the guest's manifest into the host's [`m::Manifest`].
///
/// JSON Schema texts that do not parse are collected as problems (the
/// caller reports them with [`m::Manifest::validate`]'s problems), never
/// silently dropped.
pub fn convert_manifest(w: wit_types::Manifest) -> (m::Manifest, Vec<String>) {
    let mut problems = Vec::new();
    let mut schema = |what: String, text: &str| -> serde_json::Value {
        if text.trim().is_empty() {
            return serde_json::json!({});
        }
        serde_json::from_str(text).unwrap_or_else(|e| {
            problems.push(format!("{what} is not valid JSON: {e}"));
            serde_json::Value::Null
        })
    };
    let operations = w
        .operations
        .into_iter()
        .map(|o| m::Operation {
            input_schema: schema(
                format!("operation `{}` input-schema", o.name),
                &o.input_schema,
            ),
            output_schema: schema(
                format!("operation `{}` output-schema", o.name),
                &o.output_schema,
            ),
            name: o.name,
            description: o.description,
            required_scopes: o.required_scopes,
        })
        .collect();
    let triggers = w
        .triggers
        .into_iter()
        .map(|t| m::Trigger {
            parameters_schema: schema(
                format!("trigger `{}` parameters-schema", t.name),
                &t.parameters_schema,
            ),
            event_schema: schema(
                format!("trigger `{}` event-schema", t.name),
                &t.event_schema,
            ),
            name: t.name,
            description: t.description,
            required_scopes: t.required_scopes,
            default_poll_interval_seconds: t.default_poll_interval_seconds,
        })
        .collect();
    let manifest = m::Manifest {
        id: w.id,
        name: w.name,
        version: w.version,
        description: w.description,
        base_url: w.base_url,
        api_hosts: w.api_hosts,
        auth_methods: w
            .auth_methods
            .into_iter()
            .map(convert_auth_method)
            .collect(),
        config_fields: w
            .config_fields
            .into_iter()
            .map(|f| m::ConfigField {
                name: f.name,
                label: f.label,
                description: f.description,
                kind: match f.kind {
                    wit_types::FieldKind::Text => m::FieldKind::Text,
                    wit_types::FieldKind::Url => m::FieldKind::Url,
                    wit_types::FieldKind::Secret => m::FieldKind::Secret,
                },
                required: f.required,
                default_value: f.default_value,
            })
            .collect(),
        operations,
        triggers,
        capabilities: w
            .capabilities
            .into_iter()
            .map(|c| match c {
                wit_types::Capability::RawToken => m::Capability::RawToken,
            })
            .collect(),
    };
    (manifest, problems)
}

fn convert_auth_method(a: wit_types::AuthMethod) -> m::AuthMethod {
    m::AuthMethod {
        kind: a.kind.into(),
        label: a.label,
        oauth2: a.oauth2.map(|o| m::OAuth2Settings {
            authorize_url: o.authorize_url,
            token_url: o.token_url,
            revoke_url: o.revoke_url,
            pkce: o.pkce,
            client_auth: match o.client_auth {
                wit_types::ClientAuth::Basic => m::ClientAuth::Basic,
                wit_types::ClientAuth::Post => m::ClientAuth::Post,
            },
            scope_separator: o.scope_separator,
            extra_authorize_params: o.extra_authorize_params,
        }),
        token_placement: a.token_placement.map(|p| m::TokenPlacement {
            header: p.header,
            prefix: p.prefix,
        }),
        scopes_offered: a
            .scopes_offered
            .into_iter()
            .map(|s| m::Scope {
                name: s.name,
                description: s.description,
            })
            .collect(),
        scopes_default: a.scopes_default,
    }
}
