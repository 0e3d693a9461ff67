//! Wasmtime embedding: loads connector components and runs them sandboxed.
