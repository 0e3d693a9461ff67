//! Capabilities beyond the defaults (today: `raw-token`): the manifest
//! asks, the operator grants, and only both together allow it.
//!
//! Owns: the [`Grants`] an operator configures and the one check.
//! Must never: grant anything by default, or let a manifest grant itself.

use std::collections::{BTreeMap, BTreeSet};

use plugboard_manifest::{Capability, Manifest};

/// What the operator grants, per connector id. Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    by_connector: BTreeMap<String, BTreeSet<CapabilityName>>,
}

/// [`Capability`] is not `Ord`; grants key on its stable name.
type CapabilityName = &'static str;

/// The WIT spelling of a capability, used in messages and config.
pub fn capability_name(capability: Capability) -> &'static str {
    match capability {
        Capability::RawToken => "raw-token",
    }
}

/// Why a capability was refused; the message names it and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    #[error(
        "connector `{connector}` does not declare the `{capability}` capability in its manifest"
    )]
    NotDeclared {
        connector: String,
        capability: &'static str,
    },
    #[error(
        "the operator has not granted the `{capability}` capability to connector `{connector}`"
    )]
    NotGranted {
        connector: String,
        capability: &'static str,
    },
}

impl Grants {
    /// No capability for anyone.
    pub fn none() -> Self {
        Grants::default()
    }

    /// Grant `capability` to the connector with id `connector`.
    pub fn grant(mut self, connector: impl Into<String>, capability: Capability) -> Self {
        self.by_connector
            .entry(connector.into())
            .or_default()
            .insert(capability_name(capability));
        self
    }

    /// Whether the operator granted `capability` to `connector`.
    pub fn is_granted(&self, connector: &str, capability: Capability) -> bool {
        self.by_connector
            .get(connector)
            .is_some_and(|set| set.contains(capability_name(capability)))
    }

    /// Allowed only when the manifest declares it and the operator granted it.
    ///
    /// # Errors
    /// [`CapabilityError`] naming the capability and which side is missing.
    pub fn check(
        &self,
        manifest: &Manifest,
        capability: Capability,
    ) -> Result<(), CapabilityError> {
        let name = capability_name(capability);
        if !manifest.capabilities.contains(&capability) {
            return Err(CapabilityError::NotDeclared {
                connector: manifest.id.clone(),
                capability: name,
            });
        }
        if !self.is_granted(&manifest.id, capability) {
            return Err(CapabilityError::NotGranted {
                connector: manifest.id.clone(),
                capability: name,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &str, capabilities: Vec<Capability>) -> Manifest {
        Manifest {
            id: id.into(),
            name: id.into(),
            version: "1.0.0".into(),
            description: String::new(),
            base_url: "https://api.example.com".into(),
            api_hosts: vec!["api.example.com".into()],
            auth_methods: vec![],
            config_fields: vec![],
            operations: vec![],
            triggers: vec![],
            capabilities,
        }
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let m = manifest("pat", vec![Capability::RawToken]);
        let err = Grants::none().check(&m, Capability::RawToken).unwrap_err();
        assert!(matches!(err, CapabilityError::NotGranted { .. }));
        assert!(err.to_string().contains("`raw-token`"), "{err}");
    }

    #[test]
    fn a_grant_without_a_declaration_is_refused() {
        let m = manifest("pat", vec![]);
        let grants = Grants::none().grant("pat", Capability::RawToken);
        let err = grants.check(&m, Capability::RawToken).unwrap_err();
        assert!(matches!(err, CapabilityError::NotDeclared { .. }), "{err}");
    }

    #[test]
    fn declared_and_granted_is_allowed_for_that_connector_only() {
        let grants = Grants::none().grant("pat", Capability::RawToken);
        assert!(
            grants
                .check(
                    &manifest("pat", vec![Capability::RawToken]),
                    Capability::RawToken
                )
                .is_ok()
        );
        assert!(
            grants
                .check(
                    &manifest("zoom", vec![Capability::RawToken]),
                    Capability::RawToken
                )
                .is_err()
        );
    }
}
