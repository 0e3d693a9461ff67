//! Plugboard connector for any OAuth 2.0 API.
//!
//! Everything provider-specific comes from the connection's config fields,
//! through `{field}` placeholders the host expands: the authorize, token and
//! revoke endpoints, the scopes and their separator, and the API base URL
//! (also the only API host allowed). The token endpoint's client
//! authentication is an enum in the contract, not a placeholder, so it is
//! HTTP Basic (which RFC 6749 requires servers to support).
//!
//! Operation `request` calls the API with any method, path, query and JSON
//! body and returns the status and JSON body. check-connection GETs the
//! `userinfo_path` config field (OpenID Connect `/userinfo` by default).

use plugboard_sdk::generic::{self, account_from_json};
use plugboard_sdk::prelude::*;

/// The generic OAuth 2.0 connector.
pub struct OAuth2;

impl Connector for OAuth2 {
    fn manifest() -> Manifest {
        manifest()
    }

    fn check_connection() -> Result<Account, ConnectorError> {
        let path = auth::config("userinfo_path")
            .filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| "/userinfo".to_owned());
        let response = Request::get(path.clone()).send()?.error_for_status()?;
        account_from_json(&response.json_value()).ok_or_else(|| {
            ConnectorError::provider(
                Some(response.status),
                None,
                format!("`{path}` answered without an id (`sub`, `id`, `login`, ...)"),
            )
        })
    }

    fn invoke(operation: &str, input: &str) -> Result<String, ConnectorError> {
        Router::new()
            .operation("request", generic::request)
            .invoke(operation, input)
    }
}

plugboard_sdk::export_connector!(OAuth2);

/// The manifest.
pub fn manifest() -> Manifest {
    let settings = || {
        Oauth2Settings::new(Some("{authorize_url}"), "{token_url}")
            .revoke_url("{revoke_url}")
            .client_auth(ClientAuth::Basic)
            .scope_separator("{scope_separator}")
    };
    // One method per kind (the host refuses a kind declared twice), so the
    // token endpoint's client auth is fixed to HTTP Basic, which RFC 6749
    // §2.3.1 requires every server to support.
    let methods = [
        (
            AuthKind::Oauth2Byoa,
            "Authorization code (your OAuth app: client id and secret)",
        ),
        (
            AuthKind::Oauth2ClientCredentials,
            "Client credentials (client id and secret)",
        ),
    ];
    let mut manifest = Manifest::new("oauth2", "OAuth 2.0 (generic)", env!("CARGO_PKG_VERSION"))
        .description("Any REST API protected by OAuth 2.0; endpoints come from the connection.")
        .base_url("{api_base_url}")
        .api_host("{api_base_url}")
        .config(
            ConfigField::new("api_base_url", "API base URL", FieldKind::Url)
                .required()
                .description("Requests' paths are relative to it, e.g. https://api.example.com/v1"),
        )
        .config(
            ConfigField::new("authorize_url", "Authorization endpoint", FieldKind::Url)
                .description("Needed for the authorization-code methods."),
        )
        .config(ConfigField::new("token_url", "Token endpoint", FieldKind::Url).required())
        .config(
            ConfigField::new("revoke_url", "Revocation endpoint", FieldKind::Url)
                .description("RFC 7009 endpoint; leave empty if the provider has none."),
        )
        .config(
            ConfigField::new("scopes", "Scopes", FieldKind::Text)
                .description("Scopes to request, separated by the scope separator."),
        )
        .config(
            ConfigField::new("scope_separator", "Scope separator", FieldKind::Text)
                .description("Between scopes in requests and token responses (RFC 6749: a space).")
                .default_value(" "),
        )
        .config(
            ConfigField::new("userinfo_path", "Account endpoint", FieldKind::Text)
                .description(
                    "Path (relative to the API base URL) that returns the current account.",
                )
                .default_value("/userinfo"),
        )
        .operation(generic::request_operation(
            "Call the API: method, path, query and JSON body; returns status and JSON body. \
             401 and 429 are errors; other statuses are returned.",
        ));
    for (kind, label) in methods {
        manifest =
            manifest.auth(AuthMethod::oauth2(kind, label, settings()).default_scopes(["{scopes}"]));
    }
    manifest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_api_base_come_from_config_fields() {
        let manifest = manifest();
        let fields: Vec<_> = manifest
            .config_fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        for method in &manifest.auth_methods {
            let oauth = method.oauth2.as_ref().unwrap();
            for placeholder in [
                oauth.authorize_url.as_deref().unwrap(),
                &oauth.token_url,
                oauth.revoke_url.as_deref().unwrap(),
                &oauth.scope_separator,
                &method.scopes_default[0],
            ] {
                let field = placeholder.trim_matches(['{', '}']);
                assert!(fields.contains(&field), "no config field `{field}`");
            }
        }
        assert_eq!(manifest.base_url, "{api_base_url}");
        assert_eq!(manifest.api_hosts, ["{api_base_url}"]);
        assert_eq!(manifest.operations[0].name, "request");
    }

    #[test]
    fn each_auth_kind_is_offered_once() {
        let kinds: Vec<_> = manifest().auth_methods.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [AuthKind::Oauth2Byoa, AuthKind::Oauth2ClientCredentials]
        );
    }
}
