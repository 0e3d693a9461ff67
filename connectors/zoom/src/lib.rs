//! Plugboard connector: zoom
