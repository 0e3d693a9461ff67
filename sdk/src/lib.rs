//! SDK for writing Plugboard connectors as WebAssembly components.
