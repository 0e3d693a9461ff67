//! The operator's OAuth apps: one client id/secret per bundled connector,
//! from the environment or the config file. A user who picks "OAuth 2.0
//! authorization code" uses these; BYOA brings its own.
//!
//! Keys, for connector id `zoom` (non-alphanumerics become `_`, upper-case):
//! - env: `PLUGBOARD_CONNECTOR_ZOOM_CLIENT_ID`, `PLUGBOARD_CONNECTOR_ZOOM_CLIENT_SECRET`
//! - config file: `[connectors.zoom] client_id = "…" client_secret = "…"`

use std::collections::BTreeMap;

use plugboard_vault::SecretString;

/// One OAuth client.
#[derive(Clone, Debug)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Operator-configured OAuth apps, by connector id.
#[derive(Clone, Debug, Default)]
pub struct OperatorApps {
    apps: BTreeMap<String, AppCredentials>,
}

/// The env variable names for a connector's app: `(client id, client secret)`.
pub fn env_keys(connector: &str) -> (String, String) {
    let id: String = connector
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    (
        format!("PLUGBOARD_CONNECTOR_{id}_CLIENT_ID"),
        format!("PLUGBOARD_CONNECTOR_{id}_CLIENT_SECRET"),
    )
}

/// The config-file key for a connector's app: `connectors.<connector>` (the server config's section).
pub fn config_key(connector: &str) -> String {
    format!("connectors.{connector}")
}

impl OperatorApps {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set (or replace) the app of `connector`.
    pub fn insert(&mut self, connector: &str, app: AppCredentials) {
        self.apps.insert(connector.to_string(), app);
    }

    /// Read `PLUGBOARD_CONNECTOR_<ID>_CLIENT_ID/_SECRET` for each connector id;
    /// connectors with neither set are skipped. Values from the environment
    /// replace those already present (env wins over the config file).
    ///
    /// # Errors
    /// When only one of the two variables is set, naming the missing one.
    pub fn load_env<'a>(
        &mut self,
        connectors: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), String> {
        self.load_from(connectors, |k| std::env::var(k).ok())
    }

    /// [`Self::load_env`] over any lookup (tests, config layers).
    pub fn load_from<'a>(
        &mut self,
        connectors: impl IntoIterator<Item = &'a str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        for connector in connectors {
            let (id_key, secret_key) = env_keys(connector);
            let id = lookup(&id_key).filter(|v| !v.trim().is_empty());
            let secret = lookup(&secret_key).filter(|v| !v.is_empty());
            match (id, secret) {
                (Some(client_id), Some(secret)) => self.insert(
                    connector,
                    AppCredentials {
                        client_id: client_id.trim().to_string(),
                        client_secret: SecretString::new(secret),
                    },
                ),
                (None, None) => {}
                (Some(_), None) => {
                    return Err(format!("`{id_key}` is set but `{secret_key}` is not"));
                }
                (None, Some(_)) => {
                    return Err(format!("`{secret_key}` is set but `{id_key}` is not"));
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, connector: &str) -> Option<&AppCredentials> {
        self.apps.get(connector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_derived_from_the_connector_id() {
        assert_eq!(
            env_keys("zoom"),
            (
                "PLUGBOARD_CONNECTOR_ZOOM_CLIENT_ID".to_string(),
                "PLUGBOARD_CONNECTOR_ZOOM_CLIENT_SECRET".to_string()
            )
        );
        assert_eq!(
            env_keys("ms-graph.v2").0,
            "PLUGBOARD_CONNECTOR_MS_GRAPH_V2_CLIENT_ID"
        );
        assert_eq!(config_key("zoom"), "connectors.zoom");
    }

    #[test]
    fn both_values_or_neither() {
        let vars = BTreeMap::from([
            ("PLUGBOARD_CONNECTOR_ZOOM_CLIENT_ID", "zid"),
            ("PLUGBOARD_CONNECTOR_ZOOM_CLIENT_SECRET", "zsecret"),
            ("PLUGBOARD_CONNECTOR_HALF_CLIENT_ID", "hid"),
        ]);
        let lookup = |k: &str| vars.get(k).map(|v| v.to_string());
        let mut apps = OperatorApps::new();
        apps.load_from(["zoom", "absent"], lookup).unwrap();
        assert_eq!(apps.get("zoom").unwrap().client_id, "zid");
        assert_eq!(apps.get("zoom").unwrap().client_secret.expose(), "zsecret");
        assert!(apps.get("absent").is_none());
        let err = apps.load_from(["half"], lookup).unwrap_err();
        assert!(
            err.contains("PLUGBOARD_CONNECTOR_HALF_CLIENT_SECRET"),
            "{err}"
        );
    }
}
