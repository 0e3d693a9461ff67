//! Where a webhook may point: the same egress address rules as connector
//! HTTP (`plugboard_runtime::egress::AddressPolicy`, no second copy). A URL
//! is checked when the webhook is created (scheme, no credentials, every
//! address its host resolves to), and again at each delivery through a
//! resolving client that drops refused addresses after DNS (a name that
//! resolved to a public address at creation and to 10.0.0.5 now is refused:
//! DNS rebinding). IP-literal hosts skip DNS, so they are checked here.
//!
//! This module must never send a request itself.

use std::net::IpAddr;
use std::time::Duration;

use plugboard_runtime::AddressPolicy;
use plugboard_runtime::egress::PolicyResolver;
use url::{Host, Url};

use crate::TriggerError;

fn refused(url: &str, reason: impl Into<String>) -> TriggerError {
    TriggerError::RefusedDestination {
        url: redact(url),
        reason: reason.into(),
    }
}

/// The URL without userinfo, for messages (never echo a password).
fn redact(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

/// The checks that need no DNS: http(s), a host, no user or password.
fn parse(raw: &str) -> Result<Url, TriggerError> {
    let url = Url::parse(raw).map_err(|e| TriggerError::Invalid {
        what: "webhook url",
        reason: format!("not an absolute URL ({e}); give e.g. https://example.com/hooks/plugboard"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused(raw, "only http and https webhook URLs are allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused(
            raw,
            "credentials in the URL are not allowed; the receiver authenticates Plugboard by the signature header",
        ));
    }
    if url.host().is_none() {
        return Err(refused(raw, "the URL has no host"));
    }
    Ok(url)
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

fn check_ip(raw: &str, policy: &AddressPolicy, ip: IpAddr) -> Result<(), TriggerError> {
    policy.check(ip).map_err(|e| {
        refused(
            raw,
            format!(
                "{e}; webhooks may only reach public addresses unless the operator allows loopback or private egress"
            ),
        )
    })
}

/// Checks a webhook URL before it is stored: shape, then every address its
/// host resolves to now.
///
/// # Errors
/// [`TriggerError::Invalid`] (not a URL), [`TriggerError::RefusedDestination`]
/// (scheme, credentials, refused or unresolvable address).
pub async fn check_webhook_url(raw: &str, policy: &AddressPolicy) -> Result<Url, TriggerError> {
    let url = parse(raw)?;
    if let Some(ip) = literal_ip(&url) {
        check_ip(raw, policy, ip)?;
        return Ok(url);
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| refused(raw, format!("`{host}` does not resolve ({e})")))?
        .collect();
    if addrs.is_empty() {
        return Err(refused(raw, format!("`{host}` does not resolve")));
    }
    for a in addrs {
        check_ip(raw, policy, a.ip())?;
    }
    Ok(url)
}

/// Checks a stored URL right before a delivery: the literal-IP case here;
/// names are checked after resolution by [`delivery_client`]'s resolver.
pub(crate) fn check_before_send(raw: &str, policy: &AddressPolicy) -> Result<Url, TriggerError> {
    let url = parse(raw)?;
    if let Some(ip) = literal_ip(&url) {
        check_ip(raw, policy, ip)?;
    }
    Ok(url)
}

/// The HTTP client deliveries use: DNS through the policy, no redirects
/// (a 3xx could point anywhere), no proxy from the environment (it would
/// resolve names where the policy cannot see).
pub(crate) fn delivery_client(policy: AddressPolicy, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(PolicyResolver::new(policy))
        .build()
        .expect("reqwest client builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<Url, TriggerError>) -> String {
        r.expect_err("must be refused").to_string()
    }

    #[tokio::test]
    async fn metadata_private_and_loopback_literals_are_refused_by_default() {
        let p = AddressPolicy::default();
        let m = err(check_webhook_url("http://169.254.169.254/latest/meta-data", &p).await);
        assert!(m.contains("metadata"), "{m}");
        let m = err(check_webhook_url("http://10.1.2.3/hook", &p).await);
        assert!(m.contains("private"), "{m}");
        let m = err(check_webhook_url("http://100.64.0.1/hook", &p).await);
        assert!(m.contains("private"), "{m}");
        let m = err(check_webhook_url("http://[::1]:8080/hook", &p).await);
        assert!(m.contains("loopback"), "{m}");
        assert!(
            check_webhook_url("https://93.184.215.14/hook", &p)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_operator_settings_open_loopback_and_private_but_never_metadata() {
        let p = AddressPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        assert!(
            check_webhook_url("http://127.0.0.1:9/hook", &p)
                .await
                .is_ok()
        );
        assert!(
            check_webhook_url("http://192.168.1.10/hook", &p)
                .await
                .is_ok()
        );
        let m = err(check_webhook_url("http://169.254.169.254/", &p).await);
        assert!(m.contains("metadata"), "{m}");
    }

    #[tokio::test]
    async fn a_name_is_judged_by_the_addresses_it_resolves_to() {
        // `localhost` resolves (from /etc/hosts, no network) to loopback only.
        let m =
            err(check_webhook_url("http://localhost:8080/hook", &AddressPolicy::default()).await);
        assert!(m.contains("loopback"), "{m}");
        assert!(
            check_webhook_url(
                "http://localhost:8080/hook",
                &AddressPolicy::allow_loopback()
            )
            .await
            .is_ok()
        );
    }

    #[tokio::test]
    async fn schemes_credentials_and_garbage_are_refused_without_echoing_a_password() {
        let p = AddressPolicy::allow_loopback();
        let m = err(check_webhook_url("ftp://127.0.0.1/hook", &p).await);
        assert!(m.contains("http and https"), "{m}");
        let m = err(check_webhook_url("http://user:hunter2@127.0.0.1/hook", &p).await);
        assert!(m.contains("credentials"), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
        let m = err(check_webhook_url("not a url", &p).await);
        assert!(m.contains("absolute URL"), "{m}");
    }
}
