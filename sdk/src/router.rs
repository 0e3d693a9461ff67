//! Dispatch `invoke(operation, input)` to plain Rust functions with serde
//! input and output types.
//!
//! ```ignore
//! fn create_meeting(input: CreateMeeting) -> Result<Meeting, ConnectorError> { .. }
//!
//! Router::new()
//!     .operation("create_meeting", create_meeting)
//!     .invoke(operation, input)
//! ```
//!
//! Input that is not valid JSON for the function's type becomes
//! [`ConnectorError::InvalidInput`] naming the operation and the problem.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ConnectorError;

type Handler<'a> = Box<dyn FnOnce(&str) -> Result<String, ConnectorError> + 'a>;

/// Operations by name. Built per call (each call is a fresh instance), so it
/// is cheap: registering is only boxing a function pointer.
#[derive(Default)]
pub struct Router<'a> {
    routes: Vec<(&'a str, Handler<'a>)>,
}

impl<'a> Router<'a> {
    /// An empty router.
    pub fn new() -> Self {
        Self { routes: Vec::new() }
    }

    /// Route `name` to `handler`. Its input is parsed from the JSON input
    /// (an empty input counts as `{}`), its output serialized to JSON.
    pub fn operation<I, O, F>(mut self, name: &'a str, handler: F) -> Self
    where
        I: DeserializeOwned,
        O: Serialize,
        F: FnOnce(I) -> Result<O, ConnectorError> + 'a,
    {
        self.routes.push((
            name,
            Box::new(move |input: &str| {
                let input: I = parse_input(name, input)?;
                let output = handler(input)?;
                serde_json::to_string(&output).map_err(|e| {
                    ConnectorError::internal(format!("cannot serialize output of `{name}`: {e}"))
                })
            }),
        ));
        self
    }

    /// The names routed, in order.
    pub fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.routes.iter().map(|(name, _)| *name)
    }

    /// Run the operation `operation` with JSON `input`.
    ///
    /// # Errors
    /// [`ConnectorError::UnknownOperation`] for an unrouted name,
    /// [`ConnectorError::InvalidInput`] for bad input, or the handler's error.
    pub fn invoke(self, operation: &str, input: &str) -> Result<String, ConnectorError> {
        let handler = self
            .routes
            .into_iter()
            .find(|(name, _)| *name == operation)
            .map(|(_, handler)| handler)
            .ok_or_else(|| ConnectorError::UnknownOperation(operation.to_owned()))?;
        handler(input)
    }
}

/// Parse an operation's JSON input; an empty input counts as `{}`.
///
/// # Errors
/// [`ConnectorError::InvalidInput`] naming the operation and the problem.
pub fn parse_input<T: DeserializeOwned>(operation: &str, input: &str) -> Result<T, ConnectorError> {
    let input = if input.trim().is_empty() { "{}" } else { input };
    serde_json::from_str(input)
        .map_err(|e| ConnectorError::invalid_input(format!("invalid input for `{operation}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }

    fn add(input: Add) -> Result<i64, ConnectorError> {
        Ok(input.a + input.b)
    }

    fn router() -> Router<'static> {
        Router::new()
            .operation("add", add)
            .operation("fail", |_: serde_json::Value| -> Result<(), _> {
                Err(ConnectorError::not_found("gone"))
            })
    }

    #[test]
    fn dispatches_to_the_named_operation() {
        assert_eq!(router().invoke("add", r#"{"a":2,"b":3}"#).unwrap(), "5");
    }

    #[test]
    fn bad_input_is_invalid_input_naming_the_operation() {
        let err = router().invoke("add", r#"{"a":"x"}"#).unwrap_err();
        assert!(matches!(err, ConnectorError::InvalidInput(m) if m.contains("`add`")));
    }

    #[test]
    fn unknown_operation_is_reported_by_name() {
        let err = router().invoke("nope", "{}").unwrap_err();
        assert!(matches!(err, ConnectorError::UnknownOperation(m) if m == "nope"));
    }

    #[test]
    fn handler_errors_pass_through() {
        assert!(matches!(
            router().invoke("fail", ""),
            Err(ConnectorError::NotFound(_))
        ));
    }
}
