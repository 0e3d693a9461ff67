//! Vault behaviour through its public API, with the in-memory key store.

use plugboard_vault::{
    Aad, KeyStore, MemoryKeyStore, Progress, RootKeySource, RootKeyring, Sealed, Vault, VaultError,
};
use uuid::Uuid;

fn ids() -> (Uuid, Uuid) {
    (Uuid::now_v7(), Uuid::now_v7())
}

async fn vault() -> (Vault, MemoryKeyStore) {
    let keys = MemoryKeyStore::default();
    let vault = Vault::open_with_keyring(RootKeyring::generate(), &keys)
        .await
        .unwrap();
    (vault, keys)
}

fn no_progress() -> impl FnMut(&Progress) + Send {
    |_: &Progress| {}
}

#[tokio::test]
async fn sealed_secret_round_trips_and_hides_plaintext() {
    let (vault, keys) = vault().await;
    let (tenant, conn) = ids();
    let aad = Aad::new(tenant, conn, "credential");
    let sealed = vault.seal(&keys, &aad, b"ya29.access-token").await.unwrap();
    assert!(!sealed.ciphertext.windows(6).any(|w| w == b"access"));
    assert_eq!(sealed.key_version, 1);
    let back = Sealed::from_bytes(&sealed.to_bytes()).unwrap();
    assert_eq!(
        vault.unseal(&keys, &aad, &back).await.unwrap().expose(),
        b"ya29.access-token"
    );
}

#[tokio::test]
async fn tampered_byte_fails_to_decrypt() {
    let (vault, keys) = vault().await;
    let (tenant, conn) = ids();
    let aad = Aad::new(tenant, conn, "credential");
    let sealed = vault.seal(&keys, &aad, b"secret").await.unwrap();
    for i in 0..sealed.ciphertext.len() {
        let mut bad = sealed.clone();
        bad.ciphertext[i] ^= 0x01;
        let e = vault.unseal(&keys, &aad, &bad).await.unwrap_err();
        assert!(matches!(e, VaultError::Decrypt { .. }), "{e}");
    }
    let mut bad = sealed.clone();
    bad.nonce[0] ^= 0x80;
    let e = vault.unseal(&keys, &aad, &bad).await.unwrap_err();
    assert!(e.to_string().contains("tampered with"), "{e}");
}

#[tokio::test]
async fn swapped_owner_or_field_fails_to_decrypt() {
    let (vault, keys) = vault().await;
    let (tenant, conn) = ids();
    let sealed = vault
        .seal(&keys, &Aad::new(tenant, conn, "credential"), b"secret")
        .await
        .unwrap();
    let other_row = Aad::new(tenant, Uuid::now_v7(), "credential");
    let e = vault.unseal(&keys, &other_row, &sealed).await.unwrap_err();
    assert!(matches!(e, VaultError::Decrypt { .. }), "{e}");
    let other_field = Aad::new(tenant, conn, "connector-secret:webhook");
    let e = vault
        .unseal(&keys, &other_field, &sealed)
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::Decrypt { .. }), "{e}");
}

#[tokio::test]
async fn ciphertext_moved_to_another_tenant_fails() {
    let (vault, keys) = vault().await;
    let (tenant_a, conn) = ids();
    let tenant_b = Uuid::now_v7();
    // tenant B has a data key of the same version, so the failure is the AEAD's
    vault
        .seal(&keys, &Aad::new(tenant_b, conn, "credential"), b"b's own")
        .await
        .unwrap();
    let sealed = vault
        .seal(&keys, &Aad::new(tenant_a, conn, "credential"), b"a's token")
        .await
        .unwrap();
    let e = vault
        .unseal(&keys, &Aad::new(tenant_b, conn, "credential"), &sealed)
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::Decrypt { .. }), "{e}");
    // and a tenant with no data key at all gets a message naming the cause
    let e = vault
        .unseal(
            &keys,
            &Aad::new(Uuid::now_v7(), conn, "credential"),
            &sealed,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::DataKeyMissing { .. }), "{e}");
    assert!(e.to_string().contains("copied from another tenant"), "{e}");
}

#[tokio::test]
async fn wrong_root_key_is_refused_at_open() {
    let keys = MemoryKeyStore::default();
    let vault = Vault::open_with_keyring(RootKeyring::generate(), &keys)
        .await
        .unwrap();
    let (tenant, conn) = ids();
    vault
        .seal(&keys, &Aad::new(tenant, conn, "credential"), b"x")
        .await
        .unwrap();
    let e = Vault::open_with_keyring(RootKeyring::generate(), &keys)
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::WrongRootKey { version: 1 }), "{e}");
    assert!(e.to_string().contains("wrong root key"), "{e}");
}

fn data_dir_source(dir: &tempfile::TempDir) -> RootKeySource {
    RootKeySource::DataDir(dir.path().join("root.key"))
}

#[tokio::test]
async fn tampered_wrapped_data_key_fails_to_unwrap() {
    let dir = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let vault = Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    let (tenant, conn) = ids();
    let aad = Aad::new(tenant, conn, "credential");
    let sealed = vault.seal(&keys, &aad, b"x").await.unwrap();
    keys.with_data_keys(|k| k[0].wrapped[3] ^= 1);
    // a fresh vault over the same store (nothing cached) must refuse
    let fresh = Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    let e = fresh.unseal(&keys, &aad, &sealed).await.unwrap_err();
    assert!(matches!(e, VaultError::UnwrapDataKey { .. }), "{e}");
}

#[cfg(unix)]
#[tokio::test]
async fn first_start_generates_a_0600_key_file_and_reuses_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let vault = Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    let path = dir.path().join("root.key");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (tenant, conn) = ids();
    let aad = Aad::new(tenant, conn, "pat");
    let sealed = vault.seal(&keys, &aad, b"ghp_123").await.unwrap();
    drop(vault);
    let again = Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    assert_eq!(
        again.unseal(&keys, &aad, &sealed).await.unwrap().expose(),
        b"ghp_123"
    );
}

#[tokio::test]
async fn missing_key_file_over_existing_data_is_an_error_not_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let vault = Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    let (tenant, conn) = ids();
    vault
        .seal(&keys, &Aad::new(tenant, conn, "pat"), b"x")
        .await
        .unwrap();
    std::fs::remove_file(dir.path().join("root.key")).unwrap();
    let e = Vault::open(data_dir_source(&dir), &keys).await.unwrap_err();
    assert!(matches!(e, VaultError::RootKeyMissing { .. }), "{e}");
    assert!(e.to_string().contains("PLUGBOARD_ROOT_KEY"), "{e}");
    assert!(
        !dir.path().join("root.key").exists(),
        "no key generated over existing data"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn key_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    let path = dir.path().join("root.key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Vault::open(data_dir_source(&dir), &keys).await.unwrap_err();
    assert!(e.to_string().contains("chmod 600"), "{e}");
}

#[tokio::test]
async fn operator_key_from_env_text_is_checked() {
    let keys = MemoryKeyStore::default();
    let key = "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let src = || RootKeySource::Inline(zeroize::Zeroizing::new(key.to_owned()));
    let vault = Vault::open(src(), &keys).await.unwrap();
    let (tenant, conn) = ids();
    vault
        .seal(&keys, &Aad::new(tenant, conn, "pat"), b"x")
        .await
        .unwrap();
    let other = RootKeySource::Inline(zeroize::Zeroizing::new(
        "1:HxwdHhscGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=".to_owned(),
    ));
    let e = Vault::open(other, &keys).await.unwrap_err();
    assert!(matches!(e, VaultError::WrongRootKey { version: 1 }), "{e}");
    // rotation cannot write the env var: it says what to add
    let e = vault
        .rotate_root(&keys, &mut no_progress())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("`2:<base64"), "{e}");
}

#[tokio::test]
async fn rotation_rewraps_with_live_reads_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let keys = std::sync::Arc::new(MemoryKeyStore::default());
    let vault = std::sync::Arc::new(Vault::open(data_dir_source(&dir), &*keys).await.unwrap());
    let mut sealed = Vec::new();
    for i in 0..20 {
        let (tenant, conn) = ids();
        let plain = format!("token-{i}");
        let s = vault
            .seal(
                &*keys,
                &Aad::new(tenant, conn, "credential"),
                plain.as_bytes(),
            )
            .await
            .unwrap();
        sealed.push((tenant, conn, plain, s));
    }
    // a reader on a second vault instance (another replica sharing the key file)
    let reader_vault =
        std::sync::Arc::new(Vault::open(data_dir_source(&dir), &*keys).await.unwrap());
    let sealed = std::sync::Arc::new(sealed);
    let reads = {
        let (r_keys, r_vault, r_sealed) = (keys.clone(), reader_vault.clone(), sealed.clone());
        let live_reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = live_reads.clone();
        let mut progress = move |_: &Progress| {
            // live reads between every re-wrapped key, on a second instance
            for (tenant, conn, plain, s) in r_sealed.iter() {
                let aad = Aad::new(*tenant, *conn, "credential");
                let got = futures_lite_block_on(r_vault.unseal(&*r_keys, &aad, s)).unwrap();
                assert_eq!(got.expose(), plain.as_bytes());
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let r = vault.rotate_root(&*keys, &mut progress).await.unwrap();
        assert_eq!(r.root_version, 2);
        assert!(r.added_version);
        assert_eq!(r.rewrapped, 20);
        assert_eq!(live_reads.load(std::sync::atomic::Ordering::Relaxed), 21);
        r
    };
    assert!(
        keys.all_data_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.root_version == 2)
    );
    // old ciphertexts still open, on a brand-new instance too
    let fresh = Vault::open(data_dir_source(&dir), &*keys).await.unwrap();
    assert_eq!(fresh.root_versions(), vec![1, 2]);
    for (tenant, conn, plain, s) in sealed.iter() {
        let aad = Aad::new(*tenant, *conn, "credential");
        assert_eq!(
            fresh.unseal(&*keys, &aad, s).await.unwrap().expose(),
            plain.as_bytes()
        );
    }
    // new data key versions are wrapped by the new root key
    let (tenant, _) = (sealed[0].0, ());
    assert_eq!(vault.new_data_key_version(&*keys, tenant).await.unwrap(), 2);
    let newest = keys.latest_data_key(tenant).await.unwrap().unwrap();
    assert_eq!(
        (newest.version, newest.root_version),
        (2, reads.root_version)
    );
}

/// Drives a future to completion on the current thread (the in-memory key
/// store never actually waits).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A key store whose first read of the check values misses a concurrent
/// registration (as when two replicas start on an empty database at once).
struct RacingKeyStore {
    inner: MemoryKeyStore,
    first_read: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl KeyStore for RacingKeyStore {
    async fn root_key_checks(
        &self,
    ) -> Result<Vec<plugboard_vault::RootKeyCheck>, plugboard_vault::KeyStoreError> {
        if self
            .first_read
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(Vec::new());
        }
        self.inner.root_key_checks().await
    }
    async fn add_root_key_check(
        &self,
        c: &plugboard_vault::RootKeyCheck,
    ) -> Result<(), plugboard_vault::KeyStoreError> {
        self.inner.add_root_key_check(c).await
    }
    async fn latest_data_key(
        &self,
        t: Uuid,
    ) -> Result<Option<plugboard_vault::WrappedDataKey>, plugboard_vault::KeyStoreError> {
        self.inner.latest_data_key(t).await
    }
    async fn data_key(
        &self,
        t: Uuid,
        v: u32,
    ) -> Result<Option<plugboard_vault::WrappedDataKey>, plugboard_vault::KeyStoreError> {
        self.inner.data_key(t, v).await
    }
    async fn insert_data_key(
        &self,
        k: &plugboard_vault::WrappedDataKey,
    ) -> Result<bool, plugboard_vault::KeyStoreError> {
        self.inner.insert_data_key(k).await
    }
    async fn all_data_keys(
        &self,
    ) -> Result<Vec<plugboard_vault::WrappedDataKey>, plugboard_vault::KeyStoreError> {
        self.inner.all_data_keys().await
    }
    async fn replace_data_key(
        &self,
        k: &plugboard_vault::WrappedDataKey,
        r: u32,
    ) -> Result<bool, plugboard_vault::KeyStoreError> {
        self.inner.replace_data_key(k, r).await
    }
}

#[tokio::test]
async fn two_first_starts_racing_on_one_database_do_not_both_win() {
    let winner_dir = tempfile::tempdir().unwrap();
    let loser_dir = tempfile::tempdir().unwrap();
    let keys = RacingKeyStore {
        inner: MemoryKeyStore::default(),
        first_read: std::sync::atomic::AtomicBool::new(false),
    };
    Vault::open(data_dir_source(&winner_dir), &keys)
        .await
        .unwrap();
    // the loser read the (still empty) check table before the winner wrote it
    keys.first_read
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let e = Vault::open(data_dir_source(&loser_dir), &keys)
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::WrongRootKey { version: 1 }), "{e}");
    assert!(
        !loser_dir.path().join("root.key").exists(),
        "the losing key file is removed"
    );
}

#[tokio::test]
async fn orphaned_root_key_versions_are_skipped_by_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let vault = Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    let (tenant, conn) = ids();
    let aad = Aad::new(tenant, conn, "credential");
    let sealed = vault.seal(&keys, &aad, b"x").await.unwrap();
    // another process registered version 2 and died before writing its key
    keys.add_root_key_check(&plugboard_vault::RootKeyCheck {
        version: 2,
        check_value: vec![0; 32],
    })
    .await
    .unwrap();
    let r = vault.rotate_root(&keys, &mut no_progress()).await.unwrap();
    assert_eq!(r.root_version, 3, "the orphaned version 2 is skipped");
    let fresh = Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    assert_eq!(fresh.root_versions(), vec![1, 3]);
    assert_eq!(
        fresh.unseal(&keys, &aad, &sealed).await.unwrap().expose(),
        b"x"
    );
}

#[tokio::test]
async fn rotations_from_two_instances_sharing_a_key_file_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let keys = std::sync::Arc::new(MemoryKeyStore::default());
    let first = Vault::open(data_dir_source(&dir), &*keys).await.unwrap();
    let (tenant, conn) = ids();
    let aad = Aad::new(tenant, conn, "credential");
    let sealed = first.seal(&*keys, &aad, b"x").await.unwrap();
    let second = Vault::open(data_dir_source(&dir), &*keys).await.unwrap();
    let (mut p1, mut p2) = (no_progress(), no_progress());
    let (a, b) = tokio::join!(
        first.rotate_root(&*keys, &mut p1),
        second.rotate_root(&*keys, &mut p2)
    );
    // whatever the interleaving, every outcome is a success or a clean race error
    for r in [&a, &b] {
        if let Err(e) = r {
            assert!(matches!(e, VaultError::RotationRace { .. }), "{e}");
        }
    }
    assert!(a.is_ok() || b.is_ok());
    let fresh = Vault::open(data_dir_source(&dir), &*keys).await.unwrap();
    assert_eq!(
        fresh.unseal(&*keys, &aad, &sealed).await.unwrap().expose(),
        b"x"
    );
}

/// A key store where another process registers every new root key version
/// (from 2 on) a moment before we do.
struct OutpacedKeyStore(MemoryKeyStore);

#[async_trait::async_trait]
impl KeyStore for OutpacedKeyStore {
    async fn root_key_checks(
        &self,
    ) -> Result<Vec<plugboard_vault::RootKeyCheck>, plugboard_vault::KeyStoreError> {
        self.0.root_key_checks().await
    }
    async fn add_root_key_check(
        &self,
        c: &plugboard_vault::RootKeyCheck,
    ) -> Result<(), plugboard_vault::KeyStoreError> {
        if c.version >= 2 {
            let theirs = plugboard_vault::RootKeyCheck {
                version: c.version,
                check_value: vec![0xee; 32],
            };
            self.0.add_root_key_check(&theirs).await?;
        }
        self.0.add_root_key_check(c).await
    }
    async fn latest_data_key(
        &self,
        t: Uuid,
    ) -> Result<Option<plugboard_vault::WrappedDataKey>, plugboard_vault::KeyStoreError> {
        self.0.latest_data_key(t).await
    }
    async fn data_key(
        &self,
        t: Uuid,
        v: u32,
    ) -> Result<Option<plugboard_vault::WrappedDataKey>, plugboard_vault::KeyStoreError> {
        self.0.data_key(t, v).await
    }
    async fn insert_data_key(
        &self,
        k: &plugboard_vault::WrappedDataKey,
    ) -> Result<bool, plugboard_vault::KeyStoreError> {
        self.0.insert_data_key(k).await
    }
    async fn all_data_keys(
        &self,
    ) -> Result<Vec<plugboard_vault::WrappedDataKey>, plugboard_vault::KeyStoreError> {
        self.0.all_data_keys().await
    }
    async fn replace_data_key(
        &self,
        k: &plugboard_vault::WrappedDataKey,
        r: u32,
    ) -> Result<bool, plugboard_vault::KeyStoreError> {
        self.0.replace_data_key(k, r).await
    }
}

#[tokio::test]
async fn a_rotation_that_loses_the_race_for_a_version_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = OutpacedKeyStore(MemoryKeyStore::default());
    let vault = Vault::open(data_dir_source(&dir), &keys).await.unwrap();
    let (tenant, conn) = ids();
    let aad = Aad::new(tenant, conn, "credential");
    let sealed = vault.seal(&keys, &aad, b"x").await.unwrap();
    let before = std::fs::read(dir.path().join("root.key")).unwrap();
    let e = vault
        .rotate_root(&keys, &mut no_progress())
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::RotationRace { version: 2 }), "{e}");
    assert!(e.to_string().contains("rerun"), "{e}");
    assert_eq!(
        std::fs::read(dir.path().join("root.key")).unwrap(),
        before,
        "key file untouched"
    );
    assert!(
        keys.all_data_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.root_version == 1)
    );
    assert_eq!(
        vault.unseal(&keys, &aad, &sealed).await.unwrap().expose(),
        b"x"
    );
}
