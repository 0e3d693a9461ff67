//! The rules a manifest must follow before the host loads its connector.
//!
//! Every problem is collected, not just the first, so a connector author
//! fixes them all in one round. Messages name the item and say what is
//! expected.

use std::collections::HashSet;

use crate::resolve::sole_placeholder;
use crate::{FieldKind, Manifest, placeholders};

/// Upper bounds that keep a hostile manifest from costing the host much.
const MAX_ITEMS: usize = 256;
const MAX_TEXT: usize = 4096;
const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Triggers are polled at most once a minute (seed 001's polling frequency).
const MIN_POLL_SECONDS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest of connector `{connector}` is invalid:\n  - {}", problems.join("\n  - "))]
pub struct ManifestError {
    /// The id the manifest claims (may itself be the problem).
    pub connector: String,
    pub problems: Vec<String>,
}

impl Manifest {
    /// Check every rule; `Err` lists all problems found.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let mut p = Problems::default();
        self.check_identity(&mut p);
        let config_names = self.check_config_fields(&mut p);
        self.check_endpoints(&config_names, &mut p);
        self.check_auth_methods(&config_names, &mut p);
        self.check_operations_and_triggers(&mut p);
        if p.0.is_empty() {
            Ok(())
        } else {
            Err(ManifestError {
                connector: self.id.clone(),
                problems: p.0,
            })
        }
    }

    fn check_identity(&self, p: &mut Problems) {
        if !is_identifier(&self.id, '-') || self.id.len() > 64 {
            p.push(format!(
                "id `{}` must be 1-64 characters: a lowercase letter, then lowercase letters, digits or `-`",
                self.id
            ));
        }
        if self.name.trim().is_empty() {
            p.push("name must not be empty".into());
        }
        let numeric = self.version.split('.').collect::<Vec<_>>();
        if numeric.len() != 3 || numeric.iter().any(|n| n.parse::<u64>().is_err()) {
            p.push(format!(
                "version `{}` must be MAJOR.MINOR.PATCH, e.g. `1.0.0`",
                self.version
            ));
        }
        for (what, text) in [
            ("name", &self.name),
            ("description", &self.description),
            ("base-url", &self.base_url),
        ] {
            if text.len() > MAX_TEXT {
                p.push(format!("{what} is longer than {MAX_TEXT} bytes"));
            }
        }
        for (what, count) in [
            ("auth-methods", self.auth_methods.len()),
            ("config-fields", self.config_fields.len()),
            ("operations", self.operations.len()),
            ("triggers", self.triggers.len()),
            ("api-hosts", self.api_hosts.len()),
        ] {
            if count > MAX_ITEMS {
                p.push(format!("{what} has {count} entries; at most {MAX_ITEMS}"));
            }
        }
    }

    fn check_config_fields(&self, p: &mut Problems) -> HashSet<String> {
        let mut names = HashSet::new();
        for field in &self.config_fields {
            if !is_identifier(&field.name, '_') {
                p.push(format!(
                    "config field `{}`: name must be a lowercase letter, then lowercase letters, digits or `_`",
                    field.name
                ));
            }
            if !names.insert(field.name.clone()) {
                p.push(format!("config field `{}` is declared twice", field.name));
            }
        }
        names
    }

    fn check_endpoints(&self, config_names: &HashSet<String>, p: &mut Problems) {
        check_url("base-url", &self.base_url, self, config_names, p);
        if self.api_hosts.is_empty() {
            p.push("api-hosts is empty: declare the host names the connector calls".into());
        }
        for host in &self.api_hosts {
            if host.starts_with('{') {
                match placeholders(host) {
                    Ok(names) if names.len() == 1 && host == &format!("{{{}}}", names[0]) => {
                        match self.config_field(&names[0]) {
                            Some(f) if f.kind == FieldKind::Url => {}
                            _ => p.push(format!(
                                "api-host `{host}` must name a config field of kind url"
                            )),
                        }
                    }
                    _ => p.push(format!(
                        "api-host `{host}` must be a host name or exactly one `{{field}}`"
                    )),
                }
            } else if !is_host_pattern(host) {
                p.push(format!(
                    "api-host `{host}` is not a host name (`api.example.com`) or a wildcard below a domain (`*.example.com`)"
                ));
            }
        }
        // A fixed base URL must be a host the connector may call, or every
        // relative request would be refused.
        if placeholders(&self.base_url).is_ok_and(|n| n.is_empty())
            && let Ok(url) = url::Url::parse(&self.base_url)
            && let Some(host) = url.host_str()
            && !self.api_hosts.iter().any(|h| host_matches(h, host))
        {
            p.push(format!("base-url host `{host}` is not listed in api-hosts"));
        }
    }

    fn check_auth_methods(&self, config_names: &HashSet<String>, p: &mut Problems) {
        if self.auth_methods.is_empty() {
            p.push("auth-methods is empty: declare at least one way to authenticate".into());
        }
        let mut kinds = HashSet::new();
        for method in &self.auth_methods {
            let kind = method.kind;
            if !kinds.insert(kind) {
                p.push(format!("auth method `{kind}` is declared twice"));
            }
            match (&method.oauth2, kind.is_oauth2()) {
                (None, true) => p.push(format!("auth method `{kind}` needs oauth2 settings")),
                (Some(_), false) => p.push(format!(
                    "auth method `{kind}` is not OAuth 2.0 but declares oauth2 settings"
                )),
                _ => {}
            }
            if let Some(oauth) = &method.oauth2 {
                let what = format!("auth method `{kind}`");
                if kind.uses_authorize_redirect() {
                    match &oauth.authorize_url {
                        Some(url) => {
                            check_url(&format!("{what} authorize-url"), url, self, config_names, p)
                        }
                        None => p.push(format!("{what} needs an authorize-url")),
                    }
                }
                check_url(
                    &format!("{what} token-url"),
                    &oauth.token_url,
                    self,
                    config_names,
                    p,
                );
                if let Some(url) = &oauth.revoke_url {
                    check_url(&format!("{what} revoke-url"), url, self, config_names, p);
                }
            }
            if let Some(oauth) = &method.oauth2 {
                check_placeholder_fields(
                    &format!("auth method `{kind}` scope-separator"),
                    &oauth.scope_separator,
                    config_names,
                    p,
                );
            }
            if let Some(tp) = &method.token_placement {
                let what = format!("auth method `{kind}` token header");
                if sole_placeholder(&tp.header).is_some() {
                    check_placeholder_fields(&what, &tp.header, config_names, p);
                } else if tp.header.is_empty()
                    || !tp
                        .header
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    p.push(format!("{what} `{}` is not a valid header name", tp.header));
                }
                check_placeholder_fields(
                    &format!("auth method `{kind}` token prefix"),
                    &tp.prefix,
                    config_names,
                    p,
                );
            }
            for scope in &method.scopes_default {
                if sole_placeholder(scope).is_some() {
                    check_placeholder_fields(
                        &format!("auth method `{kind}` default scope"),
                        scope,
                        config_names,
                        p,
                    );
                } else if !method.scopes_offered.is_empty()
                    && !method.scopes_offered.iter().any(|s| &s.name == scope)
                {
                    p.push(format!(
                        "auth method `{kind}` requests default scope `{scope}` that it does not offer"
                    ));
                }
            }
        }
    }

    fn check_operations_and_triggers(&self, p: &mut Problems) {
        // A method offering no scopes list is open-ended (generic connectors
        // take scopes from the user); otherwise a required scope must be one
        // some method can grant, or the operation could never run.
        let open_ended = self
            .auth_methods
            .iter()
            .any(|m| m.kind.is_oauth2() && m.scopes_offered.is_empty());
        let grantable = |scope: &str| {
            open_ended
                || self
                    .auth_methods
                    .iter()
                    .any(|m| m.scopes_offered.iter().any(|s| s.name == scope))
        };
        let mut names = HashSet::new();
        let items = self
            .operations
            .iter()
            .map(|o| {
                (
                    "operation",
                    &o.name,
                    &o.required_scopes,
                    vec![&o.input_schema, &o.output_schema],
                )
            })
            .chain(self.triggers.iter().map(|t| {
                (
                    "trigger",
                    &t.name,
                    &t.required_scopes,
                    vec![&t.parameters_schema, &t.event_schema],
                )
            }));
        for (what, name, scopes, schemas) in items {
            if !is_identifier(name, '_') {
                p.push(format!(
                    "{what} `{name}`: name must be a lowercase letter, then lowercase letters, digits or `_`"
                ));
            }
            if !names.insert((what, name.clone())) {
                p.push(format!("{what} `{name}` is declared twice"));
            }
            for scope in scopes {
                if !grantable(scope) {
                    p.push(format!(
                        "{what} `{name}` requires scope `{scope}` that no auth method offers"
                    ));
                }
            }
            for schema in schemas {
                if !schema.is_object() {
                    p.push(format!(
                        "{what} `{name}`: a JSON Schema must be a JSON object"
                    ));
                } else if schema.to_string().len() > MAX_SCHEMA_BYTES {
                    p.push(format!(
                        "{what} `{name}`: a JSON Schema is larger than {MAX_SCHEMA_BYTES} bytes"
                    ));
                }
            }
        }
        for trigger in &self.triggers {
            if trigger.default_poll_interval_seconds < MIN_POLL_SECONDS {
                p.push(format!(
                    "trigger `{}`: default poll interval {}s is below the minimum of {MIN_POLL_SECONDS}s",
                    trigger.name, trigger.default_poll_interval_seconds
                ));
            }
        }
    }
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }
}

/// Every `{field}` in `text` names a declared config field.
fn check_placeholder_fields(
    what: &str,
    text: &str,
    config_names: &HashSet<String>,
    p: &mut Problems,
) {
    match placeholders(text) {
        Err(e) => p.push(format!("{what}: {e}")),
        Ok(names) => {
            for name in names.into_iter().filter(|n| !config_names.contains(n)) {
                p.push(format!(
                    "{what} `{text}` uses `{{{name}}}`, which is not a config field"
                ));
            }
        }
    }
}

/// A URL that is either absolute http(s) or built from config placeholders
/// that exist.
fn check_url(
    what: &str,
    url: &str,
    manifest: &Manifest,
    config_names: &HashSet<String>,
    p: &mut Problems,
) {
    match placeholders(url) {
        Err(e) => p.push(format!("{what}: {e}")),
        Ok(names) if !names.is_empty() => check_placeholder_fields(what, url, config_names, p),
        Ok(_) => match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host_str().is_some() => {}
            _ => p.push(format!(
                "{what} `{url}` must be an absolute http(s) URL (connector `{}`)",
                manifest.id
            )),
        },
    }
}

/// `[a-z][a-z0-9<sep>]*`.
fn is_identifier(s: &str, sep: char) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == sep)
}

/// `api.example.com`, `localhost`, `127.0.0.1`, or `*.example.com` (a
/// wildcard only as the whole first label, and never just `*` or `*.com`).
fn is_host_pattern(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    if host.starts_with("*.") && !name.contains('.') {
        return false;
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether a declared host pattern covers `host` (case-insensitive).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == pattern,
    }
}

/// A small valid manifest that tests in this crate start from.
#[cfg(test)]
pub(crate) mod tests_support {
    use crate::*;

    pub(crate) fn zoomish() -> Manifest {
        Manifest {
            id: "zoom".into(),
            name: "Zoom".into(),
            version: "0.1.0".into(),
            description: "Meetings".into(),
            base_url: "https://api.zoom.us/v2".into(),
            api_hosts: vec!["api.zoom.us".into()],
            auth_methods: vec![AuthMethod {
                kind: AuthKind::Oauth2AuthorizationCode,
                label: "OAuth".into(),
                oauth2: Some(OAuth2Settings {
                    authorize_url: Some("https://zoom.us/oauth/authorize".into()),
                    token_url: "https://zoom.us/oauth/token".into(),
                    revoke_url: Some("https://zoom.us/oauth/revoke".into()),
                    pkce: true,
                    client_auth: ClientAuth::Basic,
                    scope_separator: ",".into(),
                    extra_authorize_params: vec![],
                }),
                token_placement: None,
                scopes_offered: vec![Scope {
                    name: "meeting:write".into(),
                    description: "create meetings".into(),
                }],
                scopes_default: vec!["meeting:write".into()],
            }],
            config_fields: vec![],
            operations: vec![Operation {
                name: "create_meeting".into(),
                description: "".into(),
                input_schema: serde_json::json!({"type": "object"}),
                output_schema: serde_json::json!({"type": "object"}),
                required_scopes: vec!["meeting:write".into()],
            }],
            triggers: vec![],
            capabilities: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::zoomish;
    use super::*;
    use crate::*;

    #[test]
    fn a_well_formed_manifest_passes() {
        zoomish().validate().unwrap();
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut m = zoomish();
        m.id = "".into();
        m.version = "one".into();
        m.operations[0]
            .required_scopes
            .push("admin:everything".into());
        m.operations.push(m.operations[0].clone());
        let err = m.validate().unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 5, "{text}");
        assert!(text.contains("id ``"), "{text}");
        assert!(text.contains("version `one`"), "{text}");
        assert!(
            text.contains("`admin:everything` that no auth method offers"),
            "{text}"
        );
        assert!(
            text.contains("operation `create_meeting` is declared twice"),
            "{text}"
        );
    }

    #[test]
    fn base_url_outside_api_hosts_is_refused() {
        let mut m = zoomish();
        m.base_url = "https://evil.example.com".into();
        let err = m.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("`evil.example.com` is not listed in api-hosts")
        );
    }

    #[test]
    fn placeholders_must_name_config_fields_of_the_right_kind() {
        let mut m = zoomish();
        m.base_url = "{base_url}".into();
        m.api_hosts = vec!["{base_url}".into()];
        let err = m.validate().unwrap_err();
        assert!(err.to_string().contains("not a config field"), "{err}");
        assert!(
            err.to_string().contains("config field of kind url"),
            "{err}"
        );
        m.config_fields.push(ConfigField {
            name: "base_url".into(),
            label: "Base URL".into(),
            description: "".into(),
            kind: FieldKind::Url,
            required: true,
            default_value: None,
        });
        m.validate().unwrap();
    }

    #[test]
    fn host_patterns() {
        for ok in ["api.zoom.us", "*.zoom.us", "localhost", "127.0.0.1"] {
            assert!(is_host_pattern(ok), "{ok}");
        }
        for bad in [
            "*",
            "*.com",
            "api.zoom.us/v2",
            "",
            "a..b",
            "https://x.com",
            "-a.com",
        ] {
            assert!(!is_host_pattern(bad), "{bad}");
        }
        assert!(host_matches("*.zoom.us", "API.zoom.us"));
        assert!(!host_matches("*.zoom.us", "zoom.us"));
        assert!(!host_matches("*.zoom.us", "evilzoom.us"));
    }

    #[test]
    fn oauth_kinds_need_their_endpoints_and_sane_polling() {
        let mut m = zoomish();
        m.auth_methods[0].oauth2.as_mut().unwrap().authorize_url = None;
        m.auth_methods.push(AuthMethod {
            kind: AuthKind::Oauth2ClientCredentials,
            label: "cc".into(),
            oauth2: None,
            token_placement: None,
            scopes_offered: vec![],
            scopes_default: vec![],
        });
        m.triggers.push(Trigger {
            name: "new_recording".into(),
            description: "".into(),
            parameters_schema: serde_json::json!({}),
            event_schema: serde_json::json!({}),
            required_scopes: vec![],
            default_poll_interval_seconds: 5,
        });
        let text = m.validate().unwrap_err().to_string();
        assert!(text.contains("needs an authorize-url"), "{text}");
        assert!(
            text.contains("`oauth2_client_credentials` needs oauth2 settings"),
            "{text}"
        );
        assert!(text.contains("below the minimum of 60s"), "{text}");
    }

    #[test]
    fn token_header_and_default_scopes_may_come_from_config_fields() {
        let mut m = zoomish();
        m.auth_methods.push(AuthMethod {
            kind: AuthKind::PersonalAccessToken,
            label: "PAT".into(),
            oauth2: None,
            token_placement: Some(TokenPlacement {
                header: "{header_name}".into(),
                prefix: "{header_prefix}".into(),
            }),
            scopes_offered: vec![],
            scopes_default: vec!["{scopes}".into()],
        });
        let text = m.validate().unwrap_err().to_string();
        for field in ["header_name", "header_prefix", "scopes"] {
            assert!(
                text.contains(&format!("`{{{field}}}`, which is not a config field")),
                "{text}"
            );
        }
        for name in ["header_name", "header_prefix", "scopes"] {
            m.config_fields.push(ConfigField {
                name: name.into(),
                label: name.into(),
                description: "".into(),
                kind: FieldKind::Text,
                required: false,
                default_value: None,
            });
        }
        m.validate().unwrap();
    }
}
