//! Plugboard connector: pat
