//! Plugboard connector: oauth2
