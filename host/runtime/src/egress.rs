//! Where a connector may send HTTP: [`ApiHosts`] (the names its manifest
//! declares), URL resolution against the base URL, and [`AddressPolicy`]
//! (which IP addresses may be reached at all), applied once to IP literals
//! in URLs and again to every address DNS returns ([`PolicyResolver`]), so
//! a declared name that resolves to 127.0.0.1 still fails.
//!
//! Owns: the allow-list and address rules, as plain logic tested here with
//! no wasmtime and no network. Must never: send a request, or relax a rule
//! by default: loopback and private ranges open only when the operator sets
//! [`AddressPolicy::allow_loopback`] / [`AddressPolicy::allow_private`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use plugboard_manifest::{fill_template, host_matches};
use url::Url;

/// Why a URL or address was refused. The message is shown to the guest as
/// a WIT `http-error`, so it names the host but never a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The destination is not declared, or resolves to a refused address.
    #[error("{0}")]
    NotAllowed(String),
    /// The URL is malformed or uses a form the host refuses.
    #[error("{0}")]
    Invalid(String),
}

/// The hosts one connection may call: the manifest's `api-hosts`, with
/// `{field}` entries replaced by the host of that config field's URL, plus
/// the host of an operator's base-URL override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiHosts {
    patterns: Vec<String>,
}

impl ApiHosts {
    /// Resolve the declared patterns against the connection's config.
    ///
    /// # Errors
    /// [`EgressError::Invalid`] when a `{field}` entry names a config value
    /// that is missing or is not a URL with a host.
    pub fn resolve(
        declared: &[String],
        config: &BTreeMap<String, String>,
        base_url_override: Option<&str>,
    ) -> Result<Self, EgressError> {
        let mut patterns = Vec::new();
        for entry in declared {
            if entry.contains('{') {
                let filled = fill_template(entry, config)
                    .map_err(|e| EgressError::Invalid(format!("api-hosts entry {e}")))?;
                patterns.push(host_of(&filled).ok_or_else(|| {
                    EgressError::Invalid(format!(
                        "api-hosts entry `{entry}` became `{filled}`, which has no host"
                    ))
                })?);
            } else {
                patterns.push(entry.to_ascii_lowercase());
            }
        }
        if let Some(url) = base_url_override {
            patterns.push(host_of(url).ok_or_else(|| {
                EgressError::Invalid(format!("base URL override `{url}` has no host"))
            })?);
        }
        Ok(ApiHosts { patterns })
    }

    /// Whether `host` (as in a URL: `api.zoom.us`, `127.0.0.1`, `[::1]`) is declared.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.patterns
            .iter()
            .any(|p| host_matches(p.trim_start_matches('[').trim_end_matches(']'), host))
    }

    /// The resolved patterns, for messages.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// The host of an absolute URL, or of a bare `host[:port]`.
fn host_of(text: &str) -> Option<String> {
    let url = Url::parse(text)
        .or_else(|_| Url::parse(&format!("https://{text}")))
        .ok()?;
    url.host_str().map(|h| h.to_ascii_lowercase())
}

/// Resolve what a guest asked for into the URL the host will call.
///
/// A relative URL (`/users/me`, `users/me?x=1`) is appended to the base
/// URL's path and must stay below it (`..` cannot climb out). An absolute
/// URL must be `http`/`https`, carry no `user:password@`, and name a
/// declared host. Fragments are dropped.
///
/// # Errors
/// [`EgressError::NotAllowed`] for an undeclared host, [`EgressError::Invalid`]
/// for anything malformed.
pub fn resolve_url(base: &Url, requested: &str, hosts: &ApiHosts) -> Result<Url, EgressError> {
    let requested = requested.trim();
    if requested.contains('\\') || requested.chars().any(|c| c.is_control()) {
        return Err(EgressError::Invalid(format!(
            "URL `{}` contains a backslash or control character",
            requested.escape_debug()
        )));
    }
    let mut url = match Url::parse(requested) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            if requested.starts_with("//") {
                return Err(EgressError::Invalid(format!(
                    "URL `{requested}` is protocol-relative; use a path or an absolute URL"
                )));
            }
            let (path, query) = match requested.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (requested, None),
            };
            let path = path.split('#').next().unwrap_or_default();
            let base_path = base.path().trim_end_matches('/');
            let mut joined = base.clone();
            joined.set_path(&format!("{base_path}/{}", path.trim_start_matches('/')));
            joined.set_query(query.map(|q| q.split('#').next().unwrap_or_default()));
            let prefix = if base_path.is_empty() { "/" } else { base_path };
            let below = joined.path() == prefix
                || joined
                    .path()
                    .starts_with(&format!("{}/", prefix.trim_end_matches('/')));
            if !below {
                return Err(EgressError::NotAllowed(format!(
                    "path `{requested}` leaves the base path `{prefix}`"
                )));
            }
            joined
        }
        Err(e) => {
            return Err(EgressError::Invalid(format!(
                "URL `{requested}` is malformed: {e}"
            )));
        }
    };
    url.set_fragment(None);
    check_absolute(&url, hosts)?;
    Ok(url)
}

fn check_absolute(url: &Url, hosts: &ApiHosts) -> Result<(), EgressError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EgressError::Invalid(format!(
            "URL scheme `{}` is not allowed; only http and https",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EgressError::Invalid(
            "URLs with user:password@ are refused; the host injects credentials".into(),
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| EgressError::Invalid(format!("URL `{url}` has no host")))?;
    if !hosts.allows(host) {
        return Err(EgressError::NotAllowed(format!(
            "host `{host}` is not in the connector's api-hosts ({})",
            hosts.patterns().join(", ")
        )));
    }
    Ok(())
}

/// Which IP addresses outbound requests may reach.
///
/// Always refused: cloud metadata addresses (169.254.169.254,
/// fd00:ec2::254, 100.100.100.200), link-local, unspecified, multicast,
/// broadcast and reserved ranges. Refused unless the operator opts in:
/// loopback ([`Self::allow_loopback`]) and private ranges, including CGNAT
/// and IPv6 unique-local ([`Self::allow_private`]). IPv4-mapped,
/// NAT64 and 6to4 IPv6 forms are judged by the IPv4 address they carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow 127.0.0.0/8 and ::1. Off by default; tests and local
    /// development turn it on.
    pub allow_loopback: bool,
    /// Allow 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7.
    /// Off by default.
    pub allow_private: bool,
}

/// An address the policy refused, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address {ip} is refused ({reason})")]
pub struct RefusedAddress {
    pub ip: IpAddr,
    pub reason: &'static str,
}

impl AddressPolicy {
    /// Refuses nothing the defaults refuse, but allows loopback: for tests.
    pub fn allow_loopback() -> Self {
        AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        }
    }

    /// Check one address.
    ///
    /// # Errors
    /// [`RefusedAddress`] naming the range.
    pub fn check(&self, ip: IpAddr) -> Result<(), RefusedAddress> {
        let refuse = |reason| Err(RefusedAddress { ip, reason });
        match classify(ip) {
            Class::Public => Ok(()),
            Class::Loopback if self.allow_loopback => Ok(()),
            Class::Private if self.allow_private => Ok(()),
            Class::Loopback => refuse("loopback"),
            Class::Private => refuse("private network"),
            Class::Metadata => refuse("cloud metadata service"),
            Class::LinkLocal => refuse("link-local"),
            Class::Unspecified => refuse("unspecified"),
            Class::Multicast => refuse("multicast or broadcast"),
            Class::Reserved => refuse("reserved"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    Private,
    Metadata,
    LinkLocal,
    Unspecified,
    Multicast,
    Reserved,
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, d] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Class::Metadata
    } else if a == 0 {
        Class::Unspecified
    } else if a == 127 {
        Class::Loopback
    } else if a == 10
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 168)
        || (a == 100 && (64..=127).contains(&b))
    {
        // RFC 1918, and CGNAT (RFC 6598).
        Class::Private
    } else if a == 169 && b == 254 {
        Class::LinkLocal
    } else if (224..=239).contains(&a) || ip == Ipv4Addr::BROADCAST {
        Class::Multicast
    } else if a >= 240 || (a == 192 && b == 0 && c == 0 && d < 8) {
        // 240/4 reserved; 192.0.0.0/29 IETF protocol assignments.
        Class::Reserved
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Class::Metadata
    } else if ip.is_unspecified() {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0 {
        Class::Private // unique-local fc00::/7, deprecated site-local fec0::/10
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Class::LinkLocal
    } else if (s[0] & 0xff00) == 0xff00 {
        Class::Multicast
    } else if s[0] == 0 {
        // ::/8 holds the unspecified, loopback, mapped and compatible forms;
        // anything else there is not a real destination.
        Class::Reserved
    } else {
        Class::Public
    }
}

/// The IPv4 address inside IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
/// (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::) forms.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail); // deprecated IPv4-compatible
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// A DNS resolver for reqwest that drops every address the policy refuses,
/// and fails when none is left, so the check happens on the addresses the
/// connection will actually use.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: AddressPolicy,
}

impl PolicyResolver {
    pub fn new(policy: AddressPolicy) -> Self {
        PolicyResolver { policy }
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused.get_or_insert(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let reason = refused
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "no addresses".into());
                return Err(Box::new(DnsRefused { host, reason }) as Box<_>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Every address a name resolved to was refused by the [`AddressPolicy`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{host}` resolves only to refused addresses: {reason}")]
pub struct DnsRefused {
    pub host: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(declared: &[&str], config: &[(&str, &str)]) -> ApiHosts {
        let declared: Vec<String> = declared.iter().map(|s| s.to_string()).collect();
        let config = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ApiHosts::resolve(&declared, &config, None).unwrap()
    }

    fn zoom() -> (Url, ApiHosts) {
        (
            Url::parse("https://api.zoom.us/v2").unwrap(),
            hosts(&["api.zoom.us", "*.zoom.us"], &[]),
        )
    }

    #[test]
    fn relative_paths_resolve_below_the_base_path() {
        let (base, h) = zoom();
        assert_eq!(
            resolve_url(&base, "/users/me", &h).unwrap().as_str(),
            "https://api.zoom.us/v2/users/me"
        );
        assert_eq!(
            resolve_url(
                &base,
                "users/me/recordings?page_size=30&next_page_token=a",
                &h
            )
            .unwrap()
            .as_str(),
            "https://api.zoom.us/v2/users/me/recordings?page_size=30&next_page_token=a"
        );
    }

    #[test]
    fn dot_segments_cannot_climb_out_of_the_base_path() {
        let (base, h) = zoom();
        let err = resolve_url(&base, "/../admin", &h).unwrap_err();
        assert!(matches!(err, EgressError::NotAllowed(_)), "{err}");
        assert!(resolve_url(&base, "/users/../../v1/x", &h).is_err());
        assert!(resolve_url(&base, "/%2e%2e/admin", &h).is_err());
    }

    #[test]
    fn protocol_relative_and_backslash_urls_are_refused() {
        let (base, h) = zoom();
        assert!(resolve_url(&base, "//evil.example.com/x", &h).is_err());
        assert!(resolve_url(&base, "/x\\..\\y", &h).is_err());
        assert!(resolve_url(&base, "/x\ny", &h).is_err());
    }

    #[test]
    fn absolute_urls_must_name_a_declared_host() {
        let (base, h) = zoom();
        assert!(resolve_url(&base, "https://api.zoom.us/v1/other", &h).is_ok());
        assert!(resolve_url(&base, "https://files.zoom.us/rec/1", &h).is_ok());
        let err = resolve_url(&base, "https://evil.example.com/", &h).unwrap_err();
        assert!(err.to_string().contains("`evil.example.com`"), "{err}");
        assert!(resolve_url(&base, "https://zoom.us.evil.com/", &h).is_err());
        assert!(resolve_url(&base, "https://evilzoom.us/", &h).is_err());
    }

    #[test]
    fn only_http_and_https_are_allowed() {
        let (base, h) = zoom();
        for url in [
            "ftp://api.zoom.us/x",
            "file:///etc/passwd",
            "gopher://api.zoom.us/",
        ] {
            assert!(
                matches!(resolve_url(&base, url, &h), Err(EgressError::Invalid(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn userinfo_in_urls_is_refused() {
        let (base, h) = zoom();
        let err = resolve_url(&base, "https://user:pw@api.zoom.us/x", &h).unwrap_err();
        assert!(err.to_string().contains("user:password"), "{err}");
        assert!(resolve_url(&base, "https://api.zoom.us@evil.example.com/", &h).is_err());
    }

    #[test]
    fn fragments_are_dropped() {
        let (base, h) = zoom();
        assert_eq!(
            resolve_url(&base, "/users#frag", &h).unwrap().as_str(),
            "https://api.zoom.us/v2/users"
        );
    }

    #[test]
    fn placeholder_hosts_come_from_the_config_url() {
        let h = hosts(
            &["{base_url}"],
            &[("base_url", "http://127.0.0.1:8080/api")],
        );
        assert!(h.allows("127.0.0.1"));
        assert!(!h.allows("127.0.0.2"));
        let missing = ApiHosts::resolve(&["{base_url}".to_string()], &BTreeMap::new(), None);
        assert!(matches!(missing, Err(EgressError::Invalid(_))));
    }

    #[test]
    fn an_operator_base_url_override_is_allowed() {
        let h = ApiHosts::resolve(
            &["api.zoom.us".to_string()],
            &BTreeMap::new(),
            Some("http://localhost:9999/v2"),
        )
        .unwrap();
        assert!(h.allows("localhost") && h.allows("api.zoom.us"));
    }

    #[test]
    fn ipv6_literal_hosts_match_with_or_without_brackets() {
        let h = hosts(&["{u}"], &[("u", "http://[::1]:80/")]);
        assert!(h.allows("[::1]"));
        assert!(h.allows("::1"));
    }

    fn refused(policy: AddressPolicy, ip: &str) -> bool {
        policy.check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn default_policy_refuses_every_non_public_range() {
        let p = AddressPolicy::default();
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
        ] {
            assert!(refused(p, ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let p = AddressPolicy::default();
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(p, ip), "{ip} should pass");
        }
    }

    #[test]
    fn allowing_loopback_opens_loopback_only() {
        let p = AddressPolicy::allow_loopback();
        assert!(!refused(p, "127.0.0.1"));
        assert!(!refused(p, "::1"));
        assert!(!refused(p, "::ffff:127.0.0.1"));
        assert!(refused(p, "10.0.0.1"));
        assert!(refused(p, "169.254.169.254"));
    }

    #[test]
    fn metadata_addresses_stay_refused_whatever_the_operator_allows() {
        let p = AddressPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        assert!(!refused(p, "10.1.2.3"));
        assert!(!refused(p, "fd12::1"));
        for ip in [
            "169.254.169.254",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "100.100.100.200",
        ] {
            assert!(refused(p, ip), "{ip}");
        }
        let err = p.check("169.254.169.254".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("metadata"), "{err}");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_resolution() {
        use reqwest::dns::Resolve;
        let resolver = PolicyResolver::new(AddressPolicy::default());
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = match resolver.resolve(name).await {
            Ok(_) => panic!("localhost must not resolve under the default policy"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("refused"), "{err}");

        let open = PolicyResolver::new(AddressPolicy::allow_loopback());
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(open.resolve(name).await.is_ok());
    }
}
