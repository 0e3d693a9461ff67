//! `{field}` placeholders in manifest URLs and hosts.
//!
//! Generic connectors take their endpoints from the connection's config
//! (`{base_url}/oauth/token`). Filling is strict: an unknown or empty field
//! is an error, never an empty string, so a half-filled URL cannot send a
//! credential somewhere unintended.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "`{template}` uses `{{{field}}}`, but the connection has no value for config field `{field}`"
    )]
    MissingField { template: String, field: String },
    #[error("`{template}` has an unclosed `{{`; placeholders look like `{{field_name}}`")]
    Unclosed { template: String },
    #[error("`{template}` has an invalid placeholder name `{name}`; use letters, digits and `_`")]
    BadName { template: String, name: String },
}

/// Names of the placeholders in `template`, in order.
pub fn placeholders(template: &str) -> Result<Vec<String>, TemplateError> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or_else(|| TemplateError::Unclosed {
            template: template.to_string(),
        })?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(TemplateError::BadName {
                template: template.to_string(),
                name: name.to_string(),
            });
        }
        names.push(name.to_string());
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// Replace every `{field}` in `template` with the config value.
pub fn fill_template(
    template: &str,
    config: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let mut out = template.to_string();
    for name in placeholders(template)? {
        let value = config.get(&name).filter(|v| !v.is_empty()).ok_or_else(|| {
            TemplateError::MissingField {
                template: template.to_string(),
                field: name.clone(),
            }
        })?;
        out = out.replace(&format!("{{{name}}}"), value.trim_end_matches('/'));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fills_every_placeholder_and_trims_trailing_slash() {
        let c = config(&[("base_url", "https://id.example.com/"), ("tenant", "acme")]);
        assert_eq!(
            fill_template("{base_url}/{tenant}/token", &c).unwrap(),
            "https://id.example.com/acme/token"
        );
        assert_eq!(
            fill_template("https://zoom.us", &c).unwrap(),
            "https://zoom.us"
        );
    }

    #[test]
    fn missing_or_empty_field_is_an_error_naming_it() {
        let c = config(&[("base_url", "")]);
        let err = fill_template("{base_url}/token", &c).unwrap_err();
        assert!(err.to_string().contains("`base_url`"), "{err}");
        assert!(matches!(
            fill_template("{other}", &c),
            Err(TemplateError::MissingField { .. })
        ));
    }

    #[test]
    fn malformed_placeholders_are_refused() {
        assert!(matches!(
            placeholders("{base_url/token"),
            Err(TemplateError::Unclosed { .. })
        ));
        assert!(matches!(
            placeholders("{}/x"),
            Err(TemplateError::BadName { .. })
        ));
        assert!(matches!(
            placeholders("{a b}"),
            Err(TemplateError::BadName { .. })
        ));
    }
}
