//! Shared set-up of the identity tests: an axum server with the identity
//! routes on a loopback port, over an SQLite store in a temporary
//! directory, called with reqwest like any client would.

#![allow(dead_code)]

use std::time::Duration;

use plugboard_identity::{IdentityState, all_scopes, check_app, register_external_app};
use plugboard_store::{OrganizationId, Store};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct Org {
    pub id: OrganizationId,
    pub client_id: String,
    pub secret: String,
}

pub struct Host {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub base: String,
    pub http: reqwest::Client,
}

pub async fn host_with_ttl(ttl: Duration) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path(), None).await.unwrap();
    let mut state = IdentityState::new(store.clone());
    state.token_ttl = ttl;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = plugboard_identity::router(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Host {
        _dir: dir,
        store,
        base,
        http: reqwest::Client::new(),
    }
}

pub async fn host() -> Host {
    host_with_ttl(Duration::from_secs(3600)).await
}

impl Host {
    pub async fn org(&self, name: &str) -> Org {
        let id = self.store.create_organization(name).await.unwrap().id;
        let app = check_app("automation", all_scopes()).unwrap();
        let (client_id, secret) = register_external_app(&self.store, id, &app).await.unwrap();
        Org {
            id,
            client_id,
            secret,
        }
    }

    pub async fn token_response(
        &self,
        org: &Org,
        secret: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", org.client_id.as_str()),
            ("client_secret", secret),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.http
            .post(format!("{}/identity/connect/token", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn token(&self, org: &Org, scope: Option<&str>) -> String {
        let r = self.token_response(org, &org.secret, scope).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        v["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// A host, organization "a" and an access token with every scope.
pub async fn signed_in() -> (Host, Org, String) {
    let h = host().await;
    let a = h.org("a").await;
    let t = h.token(&a, None).await;
    (h, a, t)
}

impl Host {
    /// A user of `org` named `name` (display name the same), made in the store.
    pub async fn user(&self, org: &Org, name: &str) -> plugboard_store::User {
        self.store
            .create_user(org.id, name, name, None)
            .await
            .unwrap()
    }

    /// [`Host::call`] with a JSON body.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::POST, path, Some(body)).await
    }

    /// [`Host::call`] with a JSON body.
    pub async fn put(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::PUT, path, Some(body)).await
    }

    /// Only the status of [`Host::call`].
    pub async fn status(&self, token: &str, method: Method, path: &str) -> StatusCode {
        self.call(token, method, path, None).await.0
    }
}
