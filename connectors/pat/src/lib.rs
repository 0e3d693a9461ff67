//! Plugboard connector for any REST API that takes a personal access token
//! (or API key) in a header.
//!
//! The connection's config gives the base URL (also the only host allowed),
//! the header name and the text before the token (`Authorization` and
//! `Bearer ` by default; GitHub classic uses `token `, many APIs
//! `X-API-Key` and nothing). The manifest's token placement is
//! `{header_name}` / `{header_prefix}`, expanded by the host: the connector
//! itself never sees the token.
//!
//! Operation `request` calls the API; check-connection GETs the
//! `check_path` config field.

use plugboard_sdk::generic::{self, account_from_json};
use plugboard_sdk::prelude::*;

/// The generic personal-access-token connector.
pub struct Pat;

impl Connector for Pat {
    fn manifest() -> Manifest {
        manifest()
    }

    fn check_connection() -> Result<Account, ConnectorError> {
        let path = auth::require_config("check_path")?;
        let response = Request::get(path.clone()).send()?.error_for_status()?;
        let body = response.json_value();
        Ok(account_from_json(&body).unwrap_or_else(|| {
            // The API accepted the token but does not say whose it is.
            let id = auth::connection_info()
                .account_id
                .unwrap_or_else(|| "token".to_owned());
            Account::new(id, format!("Token accepted by {path}"))
        }))
    }

    fn invoke(operation: &str, input: &str) -> Result<String, ConnectorError> {
        Router::new()
            .operation("request", generic::request)
            .invoke(operation, input)
    }
}

plugboard_sdk::export_connector!(Pat);

/// The manifest.
pub fn manifest() -> Manifest {
    Manifest::new(
        "pat",
        "Personal access token (generic REST)",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Any REST API that takes a personal access token or API key in a header.")
    .base_url("{base_url}")
    .api_host("{base_url}")
    .config(
        ConfigField::new("base_url", "API base URL", FieldKind::Url)
            .required()
            .description("Requests' paths are relative to it, e.g. https://api.example.com/v1"),
    )
    .config(
        ConfigField::new("header_name", "Token header", FieldKind::Text)
            .description("Header that carries the token.")
            .default_value("Authorization"),
    )
    .config(
        ConfigField::new("header_prefix", "Token prefix", FieldKind::Text)
            .description("Text before the token in the header, used verbatim (mind the space); may be empty.")
            .default_value("Bearer "),
    )
    .config(
        ConfigField::new("check_path", "Check path", FieldKind::Text)
            .description("Path that succeeds with a valid token, ideally returning the account (e.g. /user).")
            .default_value("/user"),
    )
    .auth(AuthMethod::personal_access_token(
        "Personal access token",
        "{header_name}",
        "{header_prefix}",
    ))
    .operation(generic::request_operation(
        "Call the API: method, path, query and JSON body; returns status and JSON body. \
         401 and 429 are errors; other statuses are returned.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_placement_comes_from_config_fields() {
        let manifest = manifest();
        let placement = manifest.auth_methods[0].token_placement.as_ref().unwrap();
        assert_eq!(placement.header, "{header_name}");
        assert_eq!(placement.prefix, "{header_prefix}");
        let field = |name: &str| {
            manifest
                .config_fields
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no field {name}"))
                .clone()
        };
        assert_eq!(
            field("header_name").default_value.as_deref(),
            Some("Authorization")
        );
        assert_eq!(
            field("header_prefix").default_value.as_deref(),
            Some("Bearer ")
        );
        assert!(field("base_url").required);
        assert_eq!(manifest.api_hosts, ["{base_url}"]);
    }
}
