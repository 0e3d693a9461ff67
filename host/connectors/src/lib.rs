//! The connector components that ship inside Plugboard, and the test
//! fixture components, built for `wasm32-wasip2` by this crate's `build.rs`
//! (one nested `cargo build --profile guest` of every guest crate).
//!
//! This crate only carries bytes and paths: it never loads or runs a
//! component (that is `plugboard-runtime`'s job).

/// A connector component built into the binary.
#[derive(Debug, Clone, Copy)]
pub struct BundledConnector {
    /// The connector's id (the same as its manifest's `id`).
    pub id: &'static str,
    /// Where the component was built (useful in error messages and tests).
    pub path: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The connectors built into Plugboard: `zoom`, `oauth2`, `pat`.
pub fn bundled() -> &'static [BundledConnector] {
    BUNDLED
}

/// The bundled connector with this id.
pub fn bundled_by_id(id: &str) -> Option<&'static BundledConnector> {
    BUNDLED.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WebAssembly component-model preamble: magic, version 0x0d, layer 1.
    const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn every_bundled_connector_is_a_component() {
        let ids: Vec<_> = bundled().iter().map(|c| c.id).collect();
        assert_eq!(ids, ["zoom", "oauth2", "pat"]);
        for connector in bundled() {
            assert!(
                connector.wasm.starts_with(&COMPONENT_PREAMBLE),
                "`{}` is not a component",
                connector.id
            );
        }
    }

    #[test]
    fn every_fixture_exists_and_is_a_component() {
        for (name, path) in fixtures::ALL {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("fixture `{name}`: {e}"));
            assert!(
                bytes.starts_with(&COMPONENT_PREAMBLE),
                "fixture `{name}` is not a component"
            );
        }
    }

    #[test]
    fn foreach_fixture_names_every_fixture() {
        let mut names = Vec::new();
        macro_rules! push {
            ($name:ident) => {
                names.push(stringify!($name));
            };
        }
        foreach_fixture!(push);
        let all: Vec<_> = fixtures::ALL.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, all);
    }

    #[test]
    fn bundled_connectors_carry_the_sdk_stamp() {
        let contains =
            |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
        for connector in bundled() {
            assert!(
                contains(connector.wasm, b"plugboard:sdk")
                    && contains(connector.wasm, b"contract=0.1.0;sdk="),
                "`{}` lacks the `plugboard:sdk` custom section",
                connector.id
            );
        }
    }

    #[test]
    fn bundled_by_id_finds_zoom() {
        assert_eq!(bundled_by_id("zoom").map(|c| c.id), Some("zoom"));
        assert!(bundled_by_id("nope").is_none());
    }
}
