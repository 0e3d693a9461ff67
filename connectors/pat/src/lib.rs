//! Plugboard connector: pat

use plugboard_sdk::prelude::*;

/// The connector.
pub struct Stub;

impl Connector for Stub {
    fn manifest() -> Manifest {
        Manifest::new("pat", "pat", env!("CARGO_PKG_VERSION"))
    }
}

plugboard_sdk::export_connector!(Stub);
