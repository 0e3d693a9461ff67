//! Auth flows and the token manager.
