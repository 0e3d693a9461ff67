//! Loading components: what is refused, with which message, and the
//! on-disk compile cache.

mod support;

use plugboard_connectors::fixtures;
use plugboard_runtime::{Runtime, RuntimeConfig, RuntimeError};
use support::*;

async fn load_error(runtime: &Runtime, bytes: &[u8]) -> RuntimeError {
    match runtime.load(bytes).await {
        Ok(c) => panic!("expected a load error, loaded {c:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn random_bytes_are_refused_as_not_a_component() {
    let err = load_error(&runtime(), b"definitely not wasm").await;
    assert!(matches!(err, RuntimeError::NotAComponent { .. }), "{err}");
    assert!(
        err.to_string().contains("not a WebAssembly component"),
        "{err}"
    );
}

#[tokio::test]
async fn a_core_module_is_refused_with_a_hint_to_build_a_component() {
    let err = load_error(&runtime(), b"\0asm\x01\0\0\0").await;
    assert!(matches!(err, RuntimeError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
}

#[tokio::test]
async fn a_component_for_a_future_contract_is_refused_naming_both_versions() {
    let err = load_error(&runtime(), &fixture(fixtures::FUTURE_CONTRACT)).await;
    assert!(
        matches!(err, RuntimeError::ContractMismatch { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("targets plugboard:connector@9.0.0"),
        "{message}"
    );
    assert!(message.contains("this host supports 0.1.0"), "{message}");
}

#[tokio::test]
async fn a_lying_manifest_is_refused_with_every_problem_listed() {
    let err = load_error(&runtime(), &fixture(fixtures::LIAR)).await;
    let RuntimeError::InvalidManifest { source, .. } = &err else {
        panic!("expected InvalidManifest, got {err}");
    };
    let message = err.to_string();
    assert!(source.problems.len() >= 3, "{message}");
    assert!(message.contains("id ``"), "{message}");
    assert!(message.contains("admin:everything"), "{message}");
    assert!(message.contains("dup"), "{message}");
}

#[tokio::test]
async fn a_manifest_that_traps_is_refused_at_load() {
    let err = load_error(&runtime(), &fixture(fixtures::TRAP_AT_LOAD)).await;
    assert!(matches!(err, RuntimeError::TrapAtLoad { .. }), "{err}");
    assert!(
        err.to_string().contains("manifest() trapped at load"),
        "{err}"
    );
}

#[tokio::test]
async fn a_label_names_the_component_until_its_manifest_does() {
    let err = runtime()
        .load_named(Some("upload.wasm"), b"nope")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`upload.wasm`"), "{err}");
}

#[tokio::test]
async fn bad_components_harm_nothing_else() {
    let runtime = runtime();
    let good = hostile(&runtime).await;
    for bad in [
        fixture(fixtures::TRAP_AT_LOAD),
        fixture(fixtures::LIAR),
        fixture(fixtures::FUTURE_CONTRACT),
        b"junk".to_vec(),
    ] {
        assert!(runtime.load(&bad).await.is_err());
    }
    assert_still_serves(&good).await;
    assert_eq!(good.manifest().id, "hostile");
    assert_eq!(good.contract_version(), "0.1.0");
}

#[tokio::test]
async fn the_compile_cache_is_written_and_reused_by_a_second_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..test_config()
    };
    let wasm = fixture(fixtures::HOSTILE);

    let first = Runtime::new(config.clone()).unwrap();
    let cache_file = first.cache_path_for(&wasm).unwrap();
    assert!(!cache_file.exists());
    let loaded = first.load(&wasm).await.unwrap();
    assert!(!loaded.loaded_from_cache());
    assert!(
        cache_file.exists(),
        "{} was not written",
        cache_file.display()
    );

    let second = Runtime::new(config).unwrap();
    assert_eq!(second.cache_path_for(&wasm).unwrap(), cache_file);
    let again = second.load(&wasm).await.unwrap();
    assert!(again.loaded_from_cache());
    assert_still_serves(&again).await;
}

#[tokio::test]
async fn a_corrupt_cache_file_is_discarded_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..test_config()
    };
    let wasm = fixture(fixtures::HOSTILE);
    let runtime = Runtime::new(config).unwrap();
    let cache_file = runtime.cache_path_for(&wasm).unwrap();
    std::fs::write(&cache_file, b"PLUGBOARD-CWASM1 but not really").unwrap();
    let loaded = runtime.load(&wasm).await.unwrap();
    assert!(!loaded.loaded_from_cache());
    assert_still_serves(&loaded).await;
}

#[tokio::test]
async fn the_bundled_connectors_load_with_a_valid_manifest() {
    let runtime = runtime();
    for bundled in plugboard_connectors::bundled() {
        let loaded = runtime
            .load_named(Some(bundled.id), bundled.wasm)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.id(), bundled.id);
    }
    assert_eq!(plugboard_connectors::bundled().len(), 3);
}
