//! The connector contracts this host speaks, one module per released
//! version, and contract detection on an untrusted component.
//!
//! Owns: which `plugboard:connector` versions are supported and the check,
//! before instantiation, that a component targets one of them. Must never:
//! instantiate or run guest code.

pub mod since_v0_1_0;

/// The newest contract; host code is written against it.
pub use since_v0_1_0 as latest;

use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package every contract version lives in.
pub const PACKAGE: &str = "plugboard:connector";

/// Contract versions this host can run, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &[since_v0_1_0::VERSION];

/// What the host supports, for error messages ("0.1.0" or "0.1.0, 0.2.0").
pub fn supported_versions() -> String {
    SUPPORTED_VERSIONS.join(", ")
}

/// Why a component's contract is not one this host runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractProblem {
    /// It names `plugboard:connector` at a version the host lacks.
    Unsupported { found: String },
    /// It does not export `plugboard:connector/plugin` at all.
    NotAConnector { exports: Vec<String> },
}

/// Find the contract version a component targets by looking at the
/// interface names it imports and exports (`plugboard:connector/plugin@0.1.0`).
///
/// # Errors
/// [`ContractProblem`] when the component exports no plugin interface or
/// names a version this host does not support.
pub fn detect_contract(engine: &Engine, component: &Component) -> Result<String, ContractProblem> {
    let ty = component.component_type();
    let mut exported = None;
    let mut export_names = Vec::new();
    for (name, _) in ty.exports(engine) {
        export_names.push(name.to_string());
        if let Some(version) = plugin_version(name, "plugin") {
            exported = Some(version);
        }
    }
    let Some(version) = exported else {
        // No plugin export: maybe it imports a contract we can name.
        for (name, _) in ty.imports(engine) {
            if let Some(version) = contract_version(name)
                && !SUPPORTED_VERSIONS.contains(&version.as_str())
            {
                return Err(ContractProblem::Unsupported { found: version });
            }
        }
        return Err(ContractProblem::NotAConnector {
            exports: export_names,
        });
    };
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        return Err(ContractProblem::Unsupported { found: version });
    }
    // Imports of our package must name the same version as the export.
    for (name, _) in ty.imports(engine) {
        if let Some(imported) = contract_version(name)
            && imported != version
        {
            return Err(ContractProblem::Unsupported { found: imported });
        }
    }
    Ok(version)
}

/// `plugboard:connector/<interface>@<version>` → version.
fn plugin_version(name: &str, interface: &str) -> Option<String> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    let (iface, version) = rest.split_once('@')?;
    (iface == interface).then(|| version.to_string())
}

/// `plugboard:connector/<any>@<version>` → version.
fn contract_version(name: &str) -> Option<String> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    rest.split_once('@').map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_yield_their_version() {
        assert_eq!(
            plugin_version("plugboard:connector/plugin@0.1.0", "plugin").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(
            plugin_version("plugboard:connector/http@0.1.0", "plugin"),
            None
        );
        assert_eq!(
            contract_version("plugboard:connector/http@9.0.0").as_deref(),
            Some("9.0.0")
        );
        assert_eq!(contract_version("wasi:cli/environment@0.2.0"), None);
        assert_eq!(contract_version("plugboard:connectorx/http@0.1.0"), None);
    }
}
