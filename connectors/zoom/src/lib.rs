//! Plugboard connector: zoom

use plugboard_sdk::prelude::*;

/// The connector.
pub struct Stub;

impl Connector for Stub {
    fn manifest() -> Manifest {
        Manifest::new("zoom", "zoom", env!("CARGO_PKG_VERSION"))
    }
}

plugboard_sdk::export_connector!(Stub);
