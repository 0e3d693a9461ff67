//! plugboard serve: REST API, management API, triggers, web console.
