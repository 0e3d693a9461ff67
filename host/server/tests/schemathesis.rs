//! Property-based API testing with schemathesis (PyPI) against the real
//! server: every operation of `/api/openapi.json`, with an admin token, a
//! seeded PAT connection and a second tenant, fails on any 5xx or on a
//! response that does not match the document. The identity and OData
//! operations (seeds 003 and 004) get an external application's access
//! token with every scope instead, and the admin's organization and
//! tenant as their partition and names, so their handlers run too.
//!
//! Without `schemathesis` on PATH the test says so and passes, unless `CI`
//! is set: CI installs it (`.ci/run`), so there its absence is a failure.

mod common;

use std::process::Stdio;

use common::*;

/// Checks run, and why these:
/// - `not_a_server_error`: no input may produce a 5xx.
/// - `status_code_conformance`, `content_type_conformance`,
///   `response_headers_conformance`, `response_schema_conformance`: every
///   answer is one the document declares, with the declared body.
/// - `negative_data_rejection`: input that violates the schema is refused
///   with a 4xx, never accepted.
/// - `missing_required_header`, `ignored_auth`: without the bearer token an
///   operation answers 401, never runs.
/// - `use_after_free`, `ensure_resource_availability`: a created connection
///   is readable and a deleted one is gone (stateful links).
///
/// Left out: `positive_data_acceptance` (schema-valid input is often
/// refused for a business reason — an unknown connector, a foreign folder —
/// which is a correct 4xx), `unsupported_method` and
/// `allow_header_conformance` (axum answers 405 without an `Allow` header;
/// not part of our contract), `object_level_authorization` (needs a second
/// identity's resources; tenant isolation has its own tests in api.rs).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection,\
missing_required_header,ignored_auth,use_after_free,ensure_resource_availability";

/// Cases per operation and phase: enough to find schema drift and 5xx
/// paths, small enough for two CI cores (about a minute in all).
const MAX_EXAMPLES: &str = "25";

fn schemathesis_available() -> bool {
    std::process::Command::new("schemathesis")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_mismatch() {
    if !schemathesis_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "schemathesis is not installed but CI is set; install it with \
             `pip install schemathesis==4.32.5` (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: schemathesis is not on PATH; `pip install schemathesis==4.32.5` to run this test"
        );
        return;
    }

    let t = start_server().await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    // Something for the read, invoke and edit operations to find.
    let secret = "pat-secret-schemathesis-9d1e";
    let fake = start_fake_api(secret).await;
    let r = api
        .post("/api/v1/connections", pat_body(&fake, secret))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let connection = r.body["connection"]["id"].as_str().unwrap().to_string();
    // One for the DELETE operation to delete, so the first one stays.
    let r = api
        .post("/api/v1/connections", pat_body(&fake, secret))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let doomed = r.body["connection"]["id"].as_str().unwrap().to_string();
    // Another tenant's data exists, so a leak would have something to leak.
    t.server.create_tenant("other").await.unwrap();
    let identity = identity_access(&t, &api).await;

    let reports = tempfile::tempdir().unwrap();
    let base = t.base.clone();
    let token = t.admin_token.clone();
    let report_dir = reports.path().to_path_buf();
    // Random ids only ever find 404: the invoke, check and references
    // operations get the seeded connection (and `request`, the pat
    // connector's operation) so their real logic runs too; DELETE gets the
    // other one, or it would delete the seeded one early in the run. The
    // identity and OData operations get the access token (an operation's
    // headers win over `--header`), the partition and names; the
    // `Users({key})` ones a robot account to delete.
    let config_file = reports.path().join("schemathesis.toml");
    std::fs::write(
        &config_file,
        format!(
            r#"[[operations]]
include-path-regex = '^/api/v1/connections/\{{id\}}/(invoke|check|references)'
parameters = {{ "path.id" = "{connection}", "path.operation" = "request" }}

[[operations]]
include-path-regex = '^/api/v1/connections/\{{id\}}$'
include-method = "DELETE"
parameters = {{ "path.id" = "{doomed}" }}

[[operations]]
include-path-regex = '^/(identity/api/|odata/|\{{organizationName\}}/)'
exclude-path-regex = 'Users\(\{{key\}}\)$'
headers = {{ Authorization = "Bearer {identity_token}" }}
parameters = {partition}

[[operations]]
include-path-regex = 'Users\(\{{key\}}\)$'
headers = {{ Authorization = "Bearer {identity_token}" }}
parameters = {doomed_key}
"#,
            identity_token = identity.token,
            partition = identity.parameters(None),
            doomed_key = identity.parameters(Some(identity.doomed)),
        ),
    )
    .unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("schemathesis")
            .arg("--config-file")
            .arg(&config_file)
            .arg("run")
            .arg(format!("{base}/api/openapi.json"))
            .args(["--url", &base])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", CHECKS])
            .args(["--max-examples", MAX_EXAMPLES])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--seed", "20261123"])
            .args(["--workers", "2"])
            .args(["--request-timeout", "20"])
            .args(["--suppress-health-check", "all"])
            .args(["--generation-database", "none"])
            .arg("--no-color")
            .args(["--report", "har"])
            .arg("--report-dir")
            .arg(&report_dir)
            .current_dir(&report_dir)
            .stdin(Stdio::null())
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The summary shows with `--nocapture` (and on failure).
    println!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    // It tested something: the summary names the operations it ran.
    for api in ["/api/v1/connections", "/identity/api/Group", "/odata/Users"] {
        assert!(
            stdout.contains(api),
            "schemathesis did not test {api}:\n{stdout}"
        );
    }
    // No response to any generated request carried the PAT.
    let mut seen_har = false;
    for entry in std::fs::read_dir(reports.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("har"))
        {
            seen_har = true;
            let har = std::fs::read_to_string(&path).unwrap();
            assert!(
                !har.contains(secret),
                "a response carried the PAT: {path:?}"
            );
        }
    }
    assert!(seen_har, "schemathesis wrote no HAR report");
    api.assert_never_returned(secret);
    t.server.shutdown().await.unwrap();
}

/// What the identity and OData operations run with.
struct IdentityAccess {
    /// An access token with every scope, of the admin's organization.
    token: String,
    org_id: String,
    org_name: String,
    tenant_name: String,
    /// The integer `Id` of a robot account the `Users({key})` operations
    /// may delete (random keys could name the admin and end the run).
    doomed: i64,
}

impl IdentityAccess {
    /// The `parameters` table of the schemathesis configuration: the
    /// partition and names, and the key when given.
    fn parameters(&self, key: Option<i64>) -> String {
        let mut p = format!(
            r#"{{ "path.partitionGlobalId" = "{0}", "path.organizationId" = "{0}", "query.partitionGlobalId" = "{0}", "path.organizationName" = "{1}", "path.tenantName" = "{2}""#,
            self.org_id, self.org_name, self.tenant_name
        );
        if let Some(k) = key {
            p.push_str(&format!(r#", "path.key" = "{k}""#));
        }
        p + " }"
    }
}

/// An access token with every scope, the admin's organization and tenant,
/// and a robot account to delete.
async fn identity_access(t: &TestServer, api: &Api) -> IdentityAccess {
    let token = identity_token(t, plugboard_identity::all_scopes()).await;
    let me = api.get("/api/v1/me").await.body;
    let tenant = me["tenant_id"].as_str().unwrap().parse().unwrap();
    let store = &t.server.state.store;
    let scope = store.tenant_scope(tenant).await.unwrap().unwrap();
    let org = store.get_organization(scope.org).await.unwrap().unwrap();
    let tenant = store.get_tenant(&scope).await.unwrap().unwrap();
    let doomed = store
        .create_robot_account(scope.org, "schemathesis-doomed", "Doomed")
        .await
        .unwrap();
    IdentityAccess {
        token,
        org_id: org.id.to_string(),
        org_name: org.name,
        tenant_name: tenant.name,
        doomed: doomed.number,
    }
}
