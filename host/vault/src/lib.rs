//! Envelope encryption of secrets at rest, with key rotation.
