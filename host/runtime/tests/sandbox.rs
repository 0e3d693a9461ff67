//! Hostile guests against the sandbox: every attack ends with a specific
//! error, and the host serves a normal call right after.

mod support;

use std::sync::Arc;

use plugboard_runtime::{
    CallError, Capability, ConnectorError, Grants, Runtime, RuntimeConfig, RuntimeError,
};
use serde_json::value::RawValue;
use support::*;

const NOWHERE: &str = "http://127.0.0.1:9";

fn runtime_error(result: Result<Box<RawValue>, CallError>) -> RuntimeError {
    match result {
        Ok(out) => panic!(
            "expected a host error, got output of {} bytes",
            out.get().len()
        ),
        Err(CallError::Host(e)) => e,
        Err(other) => panic!("expected a host error, got {other}"),
    }
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_cpu_limit_and_the_next_call_is_served() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let err = runtime_error(
        hostile
            .invoke(&ctx, services("t"), "infinite_loop", "{}")
            .await,
    );
    assert!(
        matches!(err, RuntimeError::CpuLimitExceeded { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("CPU time"), "{err}");
    assert_still_serves(&hostile).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_busy_guest_yields_so_other_tasks_on_the_same_thread_run() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let (ticks_tx, mut ticks_rx) = tokio::sync::mpsc::unbounded_channel();
    let ticker = tokio::spawn(async move {
        for i in 0.. {
            if ticks_tx.send(i).is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    let err = runtime_error(
        hostile
            .invoke(&ctx, services("t"), "infinite_loop", "{}")
            .await,
    );
    assert!(
        matches!(err, RuntimeError::CpuLimitExceeded { .. }),
        "{err}"
    );
    ticker.abort();
    let mut seen = 0;
    while ticks_rx.try_recv().is_ok() {
        seen += 1;
    }
    assert!(
        seen > 1,
        "the ticker task never ran while the guest was busy ({seen})"
    );
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let err = runtime_error(
        hostile
            .invoke(&ctx, services("t"), "memory_bomb", "{}")
            .await,
    );
    assert!(
        matches!(err, RuntimeError::MemoryLimitExceeded { .. }),
        "{err}"
    );
    assert_still_serves(&hostile).await;
}

#[tokio::test]
async fn huge_output_is_refused_by_the_output_limit() {
    // Enough memory for the guest to build its 64 MiB answer, so the
    // output limit (1 MiB) is what stops it.
    let mut config = test_config();
    config.limits.max_memory_bytes = 256 << 20;
    // Writing 64 MiB a character at a time takes the guest a while; give
    // it the CPU time so that only the output limit applies.
    config.limits.cpu_time = std::time::Duration::from_secs(10);
    let runtime = Runtime::new(config).unwrap();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let err = runtime_error(
        hostile
            .invoke(&ctx, services("t"), "huge_output", "{}")
            .await,
    );
    let RuntimeError::OutputTooLarge { size, limit, .. } = err else {
        panic!("expected OutputTooLarge, got {err}");
    };
    assert!(size > limit);
    assert_still_serves(&hostile).await;
}

#[tokio::test]
async fn output_that_is_not_one_json_value_is_refused() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    // `noop` answers with its input, so the input is the output under test.
    for bad in [r#"{"cut": "#, "not json", r#"{"a":1} {"b":2}"#, ""] {
        let err = runtime_error(hostile.invoke(&ctx, services("t"), "noop", bad).await);
        let RuntimeError::InvalidOutput { export, reason, .. } = &err else {
            panic!("{bad:?}: expected InvalidOutput, got {err}");
        };
        assert_eq!(export, "invoke(noop)");
        assert!(!reason.is_empty(), "{bad:?}: {err}");
    }
    // Whitespace around one value is still one value, and is kept out of
    // the output the caller embeds.
    let out = hostile
        .invoke(&ctx, services("t"), "noop", " {\"ok\":true}\n")
        .await
        .unwrap();
    assert_eq!(out.get(), r#"{"ok":true}"#);
    assert_still_serves(&hostile).await;
}
#[tokio::test]
async fn a_panic_is_reported_as_a_trap() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let err = runtime_error(hostile.invoke(&ctx, services("t"), "panic", "{}").await);
    assert!(matches!(err, RuntimeError::Trap { .. }), "{err}");
    assert!(err.to_string().contains("\"hostile\" 0.1.0"), "{err}");
    assert!(err.to_string().contains("invoke(panic)"), "{err}");
    assert_still_serves(&hostile).await;
}

#[tokio::test]
async fn the_guest_sees_no_environment_arguments_or_files() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let env = invoke_json(&hostile, &ctx, services("t"), "read_env", "{}").await;
    assert_eq!(env["env"], serde_json::json!([]), "{env}");
    assert_eq!(env["args"], serde_json::json!([]), "{env}");
    let files = invoke_json(&hostile, &ctx, services("t"), "read_file", "{}").await;
    assert!(files["read_dir"].get("Err").is_some(), "{files}");
    assert!(files["read_passwd"].get("Err").is_some(), "{files}");
}

#[tokio::test]
async fn raw_token_is_refused_to_a_connector_that_does_not_declare_it() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let out = invoke_json(&hostile, &ctx, services("secret-a"), "raw_token", "{}").await;
    assert_eq!(out["ok"], false, "{out}");
    let message = out["error"].as_str().unwrap();
    assert!(message.contains("`raw-token`"), "{message}");
    assert!(!out.to_string().contains("secret-a"));
}

#[tokio::test]
async fn raw_token_stays_refused_when_granted_but_not_declared() {
    let config = RuntimeConfig {
        grants: Grants::none().grant("hostile", Capability::RawToken),
        ..test_config()
    };
    let runtime = Runtime::new(config).unwrap();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let out = invoke_json(&hostile, &ctx, services("secret-a"), "raw_token", "{}").await;
    assert_eq!(out["ok"], false, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("does not declare"),
        "{out}"
    );
    assert!(!out.to_string().contains("secret-a"));
}

#[tokio::test]
async fn store_roundtrip_goes_through_the_services_trait() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let services = services("t");
    let out = invoke_json(
        &hostile,
        &ctx,
        services.clone(),
        "store_roundtrip",
        "webhook-secret",
    )
    .await;
    assert_eq!(out["got"], "webhook-secret", "{out}");
    assert!(out["after_delete"].is_null(), "{out}");
    assert!(services.secret_keys().is_empty());
}

#[tokio::test]
async fn an_operation_missing_a_scope_is_refused_before_the_guest_runs() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let err = hostile
        .invoke(&ctx, services("t"), "needs_scope", "{}")
        .await
        .unwrap_err();
    let Some(ConnectorError::Forbidden {
        missing_scopes,
        message,
    }) = err.connector_error()
    else {
        panic!("expected Forbidden, got {err}");
    };
    assert_eq!(missing_scopes, &["admin"]);
    assert!(message.contains("`admin`"), "{message}");

    let granted = hostile_ctx("tenant-a", NOWHERE).with_scopes(["admin"]);
    assert_eq!(
        hostile
            .invoke(&granted, services("t"), "needs_scope", "{}")
            .await
            .unwrap()
            .get(),
        "{}"
    );
}

#[tokio::test]
async fn an_unknown_operation_is_refused_by_name() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let err = hostile
        .invoke(&ctx, services("t"), "nope", "{}")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.connector_error(),
            Some(ConnectorError::UnknownOperation { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("`nope`"), "{err}");
}

#[tokio::test]
async fn a_call_for_another_connector_is_refused() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let mut ctx = hostile_ctx("tenant-a", NOWHERE);
    ctx.connector_id = "zoom".into();
    let err = hostile
        .invoke(&ctx, services("t"), "noop", "{}")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`zoom`"), "{err}");
}

#[tokio::test]
async fn the_connection_import_reports_this_calls_connection() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE).with_scopes(["admin"]);
    let out = invoke_json(&hostile, &ctx, services("t"), "connection", "{}").await;
    assert_eq!(out["connection_id"], "tenant-a-conn", "{out}");
    assert_eq!(out["granted_scopes"], serde_json::json!(["admin"]), "{out}");
    assert!(out.to_string().contains(NOWHERE), "{out}");
}

#[tokio::test]
async fn check_connection_returns_the_account() {
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let ctx = hostile_ctx("tenant-a", NOWHERE);
    let account = hostile.check_connection(&ctx, services("t")).await.unwrap();
    assert_eq!(account.id, "hostile");
}

#[tokio::test]
async fn many_concurrent_calls_from_different_tenants_see_only_their_own_credentials() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let mut calls = Vec::new();
    for i in 0..24 {
        let hostile = Arc::clone(&hostile);
        let base = base.clone();
        calls.push(tokio::spawn(async move {
            let tenant = format!("tenant-{i}");
            let ctx = hostile_ctx(&tenant, &base);
            let out = invoke_json(
                &hostile,
                &ctx,
                services(&format!("secret-{tenant}")),
                "echo_http",
                r#"{"url": "/whoami"}"#,
            )
            .await;
            (tenant, out)
        }));
    }
    for call in calls {
        let (tenant, out) = call.await.unwrap();
        assert_eq!(out["body"], tenant.as_str(), "{out}");
    }
    assert_eq!(recorder.all().len(), 24);
}
