//! Guest smoke tests: each component built by this crate is loaded in plain
//! wasmtime with stub imports (a scripted HTTP server in memory, an empty
//! WASI context), to check what the guest side promises: manifests,
//! pagination, error mapping, and that fixtures do what their names say.
//!
//! The sandbox itself (limits, egress policy, credential injection) is
//! tested against the real host in `plugboard-runtime`; nothing here
//! enforces anything.

use std::collections::HashMap;
use std::sync::OnceLock;

use plugboard_connectors::{bundled_by_id, fixtures};
use serde_json::{Value, json};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../../wit/plugboard-connector@0.1.0",
    world: "plugboard:connector/connector",
});

use plugboard::connector::types::{ConnectorError, Manifest};
use plugboard::connector::{auth, credential_store, http, log, types};

/// Stub host state: scripted HTTP answers and a record of requests.
struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    /// (substring of the URL, status, body): the first match answers.
    routes: Vec<(String, u16, String)>,
    requests: Vec<http::Request>,
    store: HashMap<String, Vec<u8>>,
    config: Vec<(String, String)>,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for Host {}

impl http::Host for Host {
    fn send(&mut self, request: http::Request) -> Result<http::Response, http::HttpError> {
        let url = request.url.clone();
        self.requests.push(request);
        let (_, status, body) = self
            .routes
            .iter()
            .find(|(pattern, _, _)| url.contains(pattern.as_str()))
            .cloned()
            .unwrap_or((String::new(), 404, r#"{"message":"no route"}"#.into()));
        Ok(http::Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into_bytes(),
        })
    }
}

impl auth::Host for Host {
    fn connection(&mut self) -> auth::ConnectionInfo {
        auth::ConnectionInfo {
            connection_id: "conn-1".into(),
            auth_kind: types::AuthKind::PersonalAccessToken,
            granted_scopes: vec![],
            account_id: None,
            config: self.config.clone(),
        }
    }
    fn request_reconnect(&mut self, _message: String) {}
    fn raw_token(&mut self) -> Result<String, String> {
        Err("the raw-token capability was not granted".into())
    }
}

impl credential_store::Host for Host {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.store.get(&key).cloned()
    }
    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.store.insert(key, value);
        Ok(())
    }
    fn delete(&mut self, key: String) {
        self.store.remove(&key);
    }
}

impl log::Host for Host {
    fn log(&mut self, _level: log::Level, _message: String) {}
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::default)
}

fn component(path: &str) -> Component {
    Component::from_file(engine(), path).unwrap_or_else(|e| panic!("{path}: {e:?}"))
}

fn linker() -> Linker<Host> {
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    Connector::add_to_linker::<Host, HasSelf<Host>>(&mut linker, |h| h).unwrap();
    linker
}

/// A fresh instance of `component` answering HTTP with `routes`.
fn instance(
    component: &Component,
    routes: &[(&str, u16, Value)],
    config: &[(&str, &str)],
) -> (Store<Host>, Connector) {
    let host = Host {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        routes: routes
            .iter()
            .map(|(p, s, b)| (p.to_string(), *s, b.to_string()))
            .collect(),
        requests: Vec::new(),
        store: HashMap::new(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let mut store = Store::new(engine(), host);
    let connector = Connector::instantiate(&mut store, component, &linker()).unwrap();
    (store, connector)
}

fn manifest_of(component: &Component) -> Manifest {
    let (mut store, connector) = instance(component, &[], &[]);
    connector
        .plugboard_connector_plugin()
        .call_manifest(&mut store)
        .unwrap()
}

fn invoke(
    store: &mut Store<Host>,
    connector: &Connector,
    operation: &str,
    input: Value,
) -> Result<Value, ConnectorError> {
    connector
        .plugboard_connector_plugin()
        .call_invoke(&mut *store, operation, &input.to_string())
        .unwrap()
        .map(|out| serde_json::from_str(&out).unwrap())
}

fn zoom() -> &'static Component {
    static ZOOM: OnceLock<Component> = OnceLock::new();
    ZOOM.get_or_init(|| component(bundled_by_id("zoom").unwrap().path))
}

fn hostile() -> &'static Component {
    static HOSTILE: OnceLock<Component> = OnceLock::new();
    HOSTILE.get_or_init(|| component(fixtures::HOSTILE))
}

#[test]
fn bundled_connectors_describe_themselves_with_their_ids() {
    for connector in plugboard_connectors::bundled() {
        let manifest = manifest_of(&component(connector.path));
        assert_eq!(manifest.id, connector.id);
        assert!(
            !manifest.operations.is_empty(),
            "{} has no operations",
            connector.id
        );
    }
}

#[test]
fn zoom_create_meeting_requires_meeting_write() {
    let manifest = manifest_of(zoom());
    let create = manifest
        .operations
        .iter()
        .find(|o| o.name == "create_meeting")
        .unwrap();
    assert_eq!(create.required_scopes, ["meeting:write"]);
    assert_eq!(manifest.base_url, "https://api.zoom.us/v2");
    assert_eq!(manifest.api_hosts, ["api.zoom.us"]);
}

#[test]
fn zoom_lists_recordings_across_two_pages() {
    let routes = [
        (
            "next_page_token=p2",
            200,
            json!({"meetings": [{"uuid": "b", "start_time": "2026-01-02T10:00:00Z"}], "next_page_token": ""}),
        ),
        (
            "/users/me/recordings",
            200,
            json!({"meetings": [{"uuid": "a", "start_time": "2026-01-01T10:00:00Z"}], "next_page_token": "p2"}),
        ),
    ];
    let (mut store, connector) = instance(zoom(), &routes, &[]);
    let out = invoke(
        &mut store,
        &connector,
        "list_recordings",
        json!({"from": "2026-01-01"}),
    )
    .unwrap();
    assert_eq!(out["total_records"], 2);
    assert_eq!(out["meetings"][1]["uuid"], "b");
    let urls: Vec<_> = store
        .data()
        .requests
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(
        urls,
        [
            "/users/me/recordings?page_size=300&from=2026-01-01",
            "/users/me/recordings?page_size=300&from=2026-01-01&next_page_token=p2",
        ]
    );
}

#[test]
fn zoom_pre_approval_error_is_forbidden_with_the_fix() {
    let routes = [(
        "/users/me",
        400,
        json!({"code": 4711, "message": "This app requires admin pre-approval."}),
    )];
    let (mut store, connector) = instance(zoom(), &routes, &[]);
    let err = invoke(&mut store, &connector, "get_current_user", json!({})).unwrap_err();
    let ConnectorError::Forbidden(forbidden) = err else {
        panic!("expected forbidden, got {err:?}")
    };
    assert!(
        forbidden.message.contains("pre-approve"),
        "{}",
        forbidden.message
    );
}

#[test]
fn zoom_check_connection_returns_the_account() {
    let routes = [(
        "/users/me",
        200,
        json!({"id": "u1", "first_name": "Ada", "last_name": "L", "email": "ada@example.com"}),
    )];
    let (mut store, connector) = instance(zoom(), &routes, &[]);
    let account = connector
        .plugboard_connector_plugin()
        .call_check_connection(&mut store)
        .unwrap()
        .unwrap();
    assert_eq!(account.id, "u1");
    assert_eq!(account.display_name, "Ada L");
    assert_eq!(account.email.as_deref(), Some("ada@example.com"));
}

#[test]
fn zoom_new_recording_reports_only_recordings_after_the_first_poll() {
    let page = |uuids: &[&str]| {
        let meetings: Vec<_> = uuids
            .iter()
            .map(|u| json!({"uuid": u, "start_time": "2099-01-01T00:00:00Z"}))
            .collect();
        [("/users/me/recordings", 200, json!({"meetings": meetings}))]
    };
    let poll = |uuids: &[&str], cursor: Option<&str>| {
        let (mut store, connector) = instance(zoom(), &page(uuids), &[]);
        connector
            .plugboard_connector_plugin()
            .call_poll(&mut store, "new_recording", "{}", cursor)
            .unwrap()
            .unwrap()
    };
    let first = poll(&["a"], None);
    assert!(first.events.is_empty());
    let second = poll(&["a", "b"], first.next_cursor.as_deref());
    let ids: Vec<_> = second.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["b"]);
}

#[test]
fn pat_request_sends_method_path_query_and_json_body() {
    let component = component(bundled_by_id("pat").unwrap().path);
    let routes = [("/items", 201, json!({"id": 7}))];
    let (mut store, connector) = instance(&component, &routes, &[]);
    let out = invoke(
        &mut store,
        &connector,
        "request",
        json!({"method": "POST", "path": "/items", "query": {"a": 1}, "body": {"x": 1}}),
    )
    .unwrap();
    assert_eq!(out, json!({"status": 201, "body": {"id": 7}}));
    let request = &store.data().requests[0];
    assert!(matches!(request.method, http::Method::Post));
    assert_eq!(request.url, "/items?a=1");
    assert_eq!(request.body.as_deref(), Some(&br#"{"x":1}"#[..]));
    assert!(
        !request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    );
}

#[test]
fn generic_request_input_errors_are_invalid_input() {
    let component = component(bundled_by_id("oauth2").unwrap().path);
    let (mut store, connector) = instance(&component, &[], &[]);
    let err = invoke(&mut store, &connector, "request", json!({"nopath": true})).unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidInput(m) if m.contains("`request`")));
}

#[test]
fn hostile_declares_every_operation_and_base_url_placeholder() {
    let manifest = manifest_of(hostile());
    assert_eq!(manifest.base_url, "{base_url}");
    assert_eq!(manifest.api_hosts, ["{base_url}"]);
    let names: Vec<_> = manifest
        .operations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    for op in [
        "noop",
        "infinite_loop",
        "memory_bomb",
        "huge_output",
        "undeclared_host",
        "metadata_ip",
        "many_requests",
        "panic",
        "read_env",
        "read_file",
        "raw_token",
        "store_roundtrip",
        "echo_http",
    ] {
        assert!(names.contains(&op), "missing {op}");
    }
}

#[test]
fn hostile_panic_traps_and_the_next_instance_works() {
    let (mut store, connector) = instance(hostile(), &[], &[]);
    let trapped = connector
        .plugboard_connector_plugin()
        .call_invoke(&mut store, "panic", "{}");
    assert!(trapped.is_err());
    let (mut store, connector) = instance(hostile(), &[], &[]);
    assert_eq!(
        invoke(&mut store, &connector, "noop", json!({"n": 1})).unwrap(),
        json!({"n": 1})
    );
}

#[test]
fn hostile_sees_no_environment_files_or_token() {
    let (mut store, connector) = instance(hostile(), &[], &[]);
    let env = invoke(&mut store, &connector, "read_env", json!({})).unwrap();
    assert_eq!(env["env"], json!([]));
    let files = invoke(&mut store, &connector, "read_file", json!({})).unwrap();
    assert!(files["read_dir"].get("Err").is_some(), "{files}");
    let token = invoke(&mut store, &connector, "raw_token", json!({})).unwrap();
    assert_eq!(token["ok"], false);
}

#[test]
fn hostile_store_roundtrip_and_echo_http_report_what_they_saw() {
    let routes = [("/echo", 200, json!({"ok": 1}))];
    let (mut store, connector) = instance(hostile(), &routes, &[]);
    let roundtrip = invoke(&mut store, &connector, "store_roundtrip", json!("v")).unwrap();
    assert_eq!(roundtrip["got"], "\"v\"");
    assert_eq!(roundtrip["after_delete"], Value::Null);
    let echo = invoke(
        &mut store,
        &connector,
        "echo_http",
        json!({"method": "PUT", "url": "/echo", "headers": {"X-A": "1"}, "body": "hi"}),
    )
    .unwrap();
    assert_eq!(echo["status"], 200);
    assert_eq!(echo["body"], r#"{"ok":1}"#);
    let sent = &store.data().requests[0];
    assert!(sent.headers.contains(&("X-A".into(), "1".into())));
    assert_eq!(sent.body.as_deref(), Some(&b"hi"[..]));
}

#[test]
fn hostile_undeclared_host_asks_for_evil_example_com() {
    let (mut store, connector) = instance(hostile(), &[], &[]);
    invoke(&mut store, &connector, "undeclared_host", json!({})).unwrap();
    invoke(&mut store, &connector, "metadata_ip", json!({})).unwrap();
    let urls: Vec<_> = store
        .data()
        .requests
        .iter()
        .map(|r| r.url.as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "https://evil.example.com/",
            "http://169.254.169.254/latest/meta-data/"
        ]
    );
}

#[test]
fn hostile_huge_output_is_64_mib() {
    let (mut store, connector) = instance(hostile(), &[], &[]);
    let out = connector
        .plugboard_connector_plugin()
        .call_invoke(&mut store, "huge_output", "{}")
        .unwrap()
        .unwrap();
    assert_eq!(out.len(), (64 << 20) + 2);
}

#[test]
fn liar_manifest_lies() {
    let manifest = manifest_of(&component(fixtures::LIAR));
    assert_eq!(manifest.id, "");
    let names: Vec<_> = manifest
        .operations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["get", "dup", "dup"]);
}

#[test]
fn trap_at_load_traps_in_manifest() {
    let (mut store, connector) = instance(&component(fixtures::TRAP_AT_LOAD), &[], &[]);
    assert!(
        connector
            .plugboard_connector_plugin()
            .call_manifest(&mut store)
            .is_err()
    );
}

#[test]
fn future_contract_does_not_instantiate_as_0_1_0() {
    let component = component(fixtures::FUTURE_CONTRACT);
    let mut store = Store::new(
        engine(),
        Host {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            routes: vec![],
            requests: vec![],
            store: HashMap::new(),
            config: vec![],
        },
    );
    let err = match Connector::instantiate(&mut store, &component, &linker()) {
        Ok(_) => panic!("a 9.0.0 component instantiated as 0.1.0"),
        Err(err) => format!("{err:?}"),
    };
    assert!(err.contains("plugboard:connector/plugin@0.1.0"), "{err}");
    // What it does export: the host names this version in its refusal.
    let bytes = std::fs::read(fixtures::FUTURE_CONTRACT).unwrap();
    let needle = b"plugboard:connector/plugin@9.0.0";
    assert!(bytes.windows(needle.len()).any(|w| w == needle));
}

/// The guest's manifest as the host's plain `plugboard_manifest::Manifest`
/// (through JSON: the two have the same shape, enums in snake_case).
fn host_manifest(w: &Manifest) -> plugboard_manifest::Manifest {
    let kind = |k: types::AuthKind| match k {
        types::AuthKind::Oauth2AuthorizationCode => "oauth2_authorization_code",
        types::AuthKind::Oauth2Byoa => "oauth2_byoa",
        types::AuthKind::Oauth2ClientCredentials => "oauth2_client_credentials",
        types::AuthKind::Oauth2Password => "oauth2_password",
        types::AuthKind::PersonalAccessToken => "personal_access_token",
        types::AuthKind::ClientCertificate => "client_certificate",
    };
    let schema = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.into()));
    let value = json!({
        "id": w.id, "name": w.name, "version": w.version, "description": w.description,
        "base_url": w.base_url, "api_hosts": w.api_hosts,
        "auth_methods": w.auth_methods.iter().map(|a| json!({
            "kind": kind(a.kind), "label": a.label,
            "oauth2": a.oauth2.as_ref().map(|o| json!({
                "authorize_url": o.authorize_url, "token_url": o.token_url,
                "revoke_url": o.revoke_url, "pkce": o.pkce,
                "client_auth": match o.client_auth { types::ClientAuth::Basic => "basic", types::ClientAuth::Post => "post" },
                "scope_separator": o.scope_separator,
                "extra_authorize_params": o.extra_authorize_params,
            })),
            "token_placement": a.token_placement.as_ref().map(|t| json!({"header": t.header, "prefix": t.prefix})),
            "scopes_offered": a.scopes_offered.iter().map(|s| json!({"name": s.name, "description": s.description})).collect::<Vec<_>>(),
            "scopes_default": a.scopes_default,
        })).collect::<Vec<_>>(),
        "config_fields": w.config_fields.iter().map(|f| json!({
            "name": f.name, "label": f.label, "description": f.description,
            "kind": match f.kind { types::FieldKind::Text => "text", types::FieldKind::Url => "url", types::FieldKind::Secret => "secret" },
            "required": f.required, "default_value": f.default_value,
        })).collect::<Vec<_>>(),
        "operations": w.operations.iter().map(|o| json!({
            "name": o.name, "description": o.description,
            "input_schema": schema(&o.input_schema), "output_schema": schema(&o.output_schema),
            "required_scopes": o.required_scopes,
        })).collect::<Vec<_>>(),
        "triggers": w.triggers.iter().map(|t| json!({
            "name": t.name, "description": t.description,
            "parameters_schema": schema(&t.parameters_schema), "event_schema": schema(&t.event_schema),
            "required_scopes": t.required_scopes,
            "default_poll_interval_seconds": t.default_poll_interval_seconds,
        })).collect::<Vec<_>>(),
        "capabilities": w.capabilities.iter().map(|_| "raw_token").collect::<Vec<_>>(),
    });
    serde_json::from_value(value).unwrap()
}

fn validate(path: &str) -> Result<(), plugboard_manifest::ManifestError> {
    host_manifest(&manifest_of(&component(path))).validate()
}

#[test]
fn zoom_oauth2_and_hostile_manifests_pass_the_hosts_validation() {
    for path in [
        bundled_by_id("zoom").unwrap().path,
        bundled_by_id("oauth2").unwrap().path,
        fixtures::HOSTILE,
    ] {
        validate(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn pat_manifest_passes_the_hosts_validation() {
    validate(bundled_by_id("pat").unwrap().path).unwrap();
}

#[test]
fn liar_manifest_fails_the_hosts_validation_naming_each_lie() {
    let err = validate(fixtures::LIAR).unwrap_err().to_string();
    assert!(err.contains("id ``"), "{err}");
    assert!(
        err.contains("`admin:everything` that no auth method offers"),
        "{err}"
    );
    assert!(err.contains("operation `dup` is declared twice"), "{err}");
}
