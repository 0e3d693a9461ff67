//! Turning a declared auth method into the concrete one for a connection.
//!
//! Generic connectors declare endpoints, the scope separator, the token
//! header and default scopes as `{field}` placeholders; a connection's config
//! fills them. Auth and runtime call [`AuthMethod::resolve`] and never fill
//! templates themselves, so every placeholder rule lives here:
//! - a required URL (token URL) must fill to a non-empty value;
//! - an optional URL (authorize, revoke) that fills to nothing is absent;
//! - the token prefix may fill to nothing (`X-API-Key: <token>`);
//! - a scope separator that fills to nothing is a space (RFC 6749);
//! - a default scope that is exactly `{field}` expands to that field's
//!   value split on the separator (the user typed their scopes).

use std::collections::BTreeMap;

use crate::{AuthMethod, Manifest, OAuth2Settings, TemplateError, TokenPlacement, fill_template};
use crate::{placeholders, split_scopes};

impl AuthMethod {
    /// This method with every placeholder filled from `config` (apply
    /// [`Manifest::config_with_defaults`] first).
    pub fn resolve(&self, config: &BTreeMap<String, String>) -> Result<AuthMethod, TemplateError> {
        let oauth2 = self
            .oauth2
            .as_ref()
            .map(|o| o.resolve(config))
            .transpose()?;
        let separator = oauth2.as_ref().map_or(" ", |o| o.scope_separator.as_str());
        let mut scopes_default = Vec::new();
        for scope in &self.scopes_default {
            match sole_placeholder(scope) {
                Some(field) => scopes_default.extend(split_scopes(
                    config.get(field).map_or("", String::as_str),
                    separator,
                )),
                None => scopes_default.push(scope.clone()),
            }
        }
        let token_placement = self
            .token_placement
            .as_ref()
            .map(|p| -> Result<TokenPlacement, TemplateError> {
                Ok(TokenPlacement {
                    header: fill_template(&p.header, config)?,
                    prefix: fill_allowing_empty(&p.prefix, config)?,
                })
            })
            .transpose()?;
        Ok(AuthMethod {
            oauth2,
            token_placement,
            scopes_default,
            ..self.clone()
        })
    }
}

impl OAuth2Settings {
    fn resolve(&self, config: &BTreeMap<String, String>) -> Result<OAuth2Settings, TemplateError> {
        let optional_url = |url: &Option<String>| -> Result<Option<String>, TemplateError> {
            match url {
                None => Ok(None),
                Some(u) => {
                    fill_allowing_empty(u, config).map(|f| Some(f).filter(|f| !f.is_empty()))
                }
            }
        };
        let separator = fill_allowing_empty(&self.scope_separator, config)?;
        Ok(OAuth2Settings {
            authorize_url: optional_url(&self.authorize_url)?,
            token_url: fill_template(&self.token_url, config)?,
            revoke_url: optional_url(&self.revoke_url)?,
            scope_separator: if separator.is_empty() {
                " ".into()
            } else {
                separator
            },
            ..self.clone()
        })
    }
}

impl Manifest {
    /// `config` with each declared field's default filled in where the
    /// connection gave no value. Unknown keys are kept; validation of the
    /// values is the caller's.
    pub fn config_with_defaults(
        &self,
        config: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut out = config.clone();
        for field in &self.config_fields {
            if let Some(default) = &field.default_value {
                out.entry(field.name.clone())
                    .or_insert_with(|| default.clone());
            }
        }
        out
    }
}

/// The field name if `text` is exactly one `{field}`.
pub(crate) fn sole_placeholder(text: &str) -> Option<&str> {
    let name = text.strip_prefix('{')?.strip_suffix('}')?;
    (placeholders(text).ok()?.len() == 1).then_some(name)
}

/// Like [`fill_template`], but a placeholder whose field is missing or empty
/// becomes the empty string (for values where nothing is a valid answer).
fn fill_allowing_empty(
    template: &str,
    config: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let mut filled = config.clone();
    for name in placeholders(template)? {
        filled.entry(name).or_default();
    }
    let mut out = template.to_string();
    for name in placeholders(template)? {
        out = out.replace(&format!("{{{name}}}"), &filled[&name]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthKind, ClientAuth};

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn generic_oauth() -> AuthMethod {
        AuthMethod {
            kind: AuthKind::Oauth2Byoa,
            label: "OAuth".into(),
            oauth2: Some(OAuth2Settings {
                authorize_url: Some("{authorize_url}".into()),
                token_url: "{token_url}".into(),
                revoke_url: Some("{revoke_url}".into()),
                pkce: true,
                client_auth: ClientAuth::Basic,
                scope_separator: "{scope_separator}".into(),
                extra_authorize_params: vec![],
            }),
            token_placement: None,
            scopes_offered: vec![],
            scopes_default: vec!["{scopes}".into(), "openid".into()],
        }
    }

    #[test]
    fn generic_oauth_method_fills_urls_separator_and_user_scopes() {
        let c = config(&[
            ("authorize_url", "https://id.example.com/authorize"),
            ("token_url", "https://id.example.com/token"),
            ("revoke_url", ""),
            ("scopes", "read write"),
        ]);
        let m = generic_oauth().resolve(&c).unwrap();
        let o = m.oauth2.unwrap();
        assert_eq!(o.token_url, "https://id.example.com/token");
        assert_eq!(o.revoke_url, None, "an empty optional URL is absent");
        assert_eq!(o.scope_separator, " ", "an empty separator is a space");
        assert_eq!(m.scopes_default, vec!["read", "write", "openid"]);
    }

    #[test]
    fn a_missing_token_url_is_an_error_naming_the_field() {
        let err = generic_oauth().resolve(&config(&[])).unwrap_err();
        assert!(err.to_string().contains("`token_url`"), "{err}");
    }

    #[test]
    fn token_placement_may_have_an_empty_prefix_but_not_an_empty_header() {
        let method = AuthMethod {
            kind: AuthKind::PersonalAccessToken,
            label: "PAT".into(),
            oauth2: None,
            token_placement: Some(TokenPlacement {
                header: "{header_name}".into(),
                prefix: "{header_prefix}".into(),
            }),
            scopes_offered: vec![],
            scopes_default: vec![],
        };
        let p = method
            .resolve(&config(&[
                ("header_name", "X-API-Key"),
                ("header_prefix", ""),
            ]))
            .unwrap()
            .token_placement
            .unwrap();
        assert_eq!((p.header.as_str(), p.prefix.as_str()), ("X-API-Key", ""));
        assert!(method.resolve(&config(&[])).is_err());
    }

    #[test]
    fn defaults_fill_only_what_the_connection_left_out() {
        let mut m = crate::validate::tests_support::zoomish();
        m.config_fields.push(crate::ConfigField {
            name: "header_prefix".into(),
            label: "".into(),
            description: "".into(),
            kind: crate::FieldKind::Text,
            required: false,
            default_value: Some("Bearer ".into()),
        });
        assert_eq!(
            m.config_with_defaults(&config(&[]))["header_prefix"],
            "Bearer "
        );
        assert_eq!(
            m.config_with_defaults(&config(&[("header_prefix", "token ")]))["header_prefix"],
            "token "
        );
    }
}
