//! The bundled connector components, built for wasm32-wasip2 by build.rs.
