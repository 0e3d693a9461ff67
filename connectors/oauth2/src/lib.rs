//! Plugboard connector: oauth2

use plugboard_sdk::prelude::*;

/// The connector.
pub struct Stub;

impl Connector for Stub {
    fn manifest() -> Manifest {
        Manifest::new("oauth2", "oauth2", env!("CARGO_PKG_VERSION"))
    }
}

plugboard_sdk::export_connector!(Stub);
