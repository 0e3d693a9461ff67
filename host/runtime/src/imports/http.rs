//! `plugboard:connector/http`: the guest's only way out. Resolves the URL
//! ([`crate::egress`]), counts requests, injects the connection's
//! credential, refreshes once on a 401, caps the response body and strips
//! credential-bearing response headers.
//!
//! Owns: building and sending the real request (reqwest + rustls, no
//! redirects followed, no proxy from the environment, DNS through
//! [`PolicyResolver`]). Must never: let a guest-set `Authorization` or
//! token header through, return a credential to the guest, or reach a
//! host the manifest did not declare.

mod client_cache;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plugboard_manifest::{Manifest, TokenPlacement, fill_template};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use url::Url;
use zeroize::Zeroizing;

use self::client_cache::{ClientCache, Fingerprint};

use crate::egress::{
    AddressPolicy, ApiHosts, DnsRefused, EgressError, PolicyResolver, resolve_url,
};
use crate::imports::{CallState, HostState};
use crate::limits::CallLimits;
use crate::services::{CallContext, Credential, CredentialError};
use crate::wit::latest::plugboard::connector::http::{Host, HttpError, Method, Request, Response};

/// Request headers a guest may not set: the host owns credentials and the
/// connection framing.
const HOST_OWNED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
];

/// Response headers never shown to a guest: they carry credentials or
/// session state the host owns. (`www-authenticate` is kept: it explains a
/// 401 and holds no secret.)
const STRIPPED_RESPONSE_HEADERS: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "authorization",
    "proxy-authorization",
    "proxy-authenticate",
];

/// The clients of client-certificate connections, shared by every call of
/// a runtime (see [`client_cache`]).
pub(crate) type MtlsClients = ClientCache<Arc<reqwest::Client>>;

/// How many client-certificate clients a runtime keeps. Each holds its TLS
/// configuration and a small pool of idle connections; past this many
/// distinct certificates the least recently used client is rebuilt on its
/// next request.
pub(crate) const MAX_MTLS_CLIENTS: usize = 64;

/// How long a client-certificate client is kept unused. Past it the
/// client, with the private key in its TLS configuration, is dropped at
/// the next client-certificate request of any connection; its own
/// connection's next request builds a new one (a new handshake).
pub(crate) const MTLS_CLIENT_IDLE: Duration = Duration::from_secs(5 * 60);

impl Host for HostState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let call = self.call("http.send")?;
        Ok(send(call, request).await)
    }
}

/// Build the shared client (or, with a TLS client identity, the client of
/// one client certificate, kept in [`MtlsClients`]). `extra_roots` are
/// trusted besides the system's.
pub(crate) fn build_client(
    policy: AddressPolicy,
    limits: &CallLimits,
    extra_roots: &[reqwest::Certificate],
    identity: Option<reqwest::Identity>,
) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        // A redirect is returned to the guest, which may follow it with a
        // new `send` that is checked like any other.
        .redirect(reqwest::redirect::Policy::none())
        // HTTP(S)_PROXY in the host environment must not route around
        // the address policy.
        .no_proxy()
        .dns_resolver(PolicyResolver::new(policy))
        .timeout(limits.http_timeout)
        .connect_timeout(limits.http_timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("plugboard/", env!("CARGO_PKG_VERSION")));
    if !extra_roots.is_empty() {
        builder = builder.tls_certs_merge(extra_roots.iter().cloned());
    }
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder.build()
}

async fn send(call: &mut CallState, request: Request) -> Result<Response, HttpError> {
    let max_calls = call.shared.limits.max_http_calls;
    if call.http_calls >= max_calls {
        return Err(HttpError::TooManyRequests(max_calls));
    }
    call.http_calls += 1;

    let url = target_url(call, &request.url).map_err(egress_error)?;
    if let Some(ip) = literal_ip(&url) {
        call.shared
            .policy
            .check(ip)
            .map_err(|e| HttpError::DestinationNotAllowed(e.to_string()))?;
    }
    let placement = call
        .plan
        .token_placement
        .clone()
        .map_err(HttpError::InvalidRequest)?;
    let mut headers = guest_headers(&request.headers, placement.as_ref())?;
    let method = method(request.method);
    let body = request.body.map(Bytes::from);

    let credential = call.services.credential().await.map_err(credential_error)?;
    let mut response = execute(
        call,
        &method,
        &url,
        &mut headers,
        &body,
        &credential,
        placement.as_ref(),
    )
    .await?;
    let mut sent_with = credential;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED
        && !matches!(sent_with, Credential::None)
    {
        let fresh = call
            .services
            .refresh_credential(&sent_with)
            .await
            .map_err(credential_error)?;
        response = execute(
            call,
            &method,
            &url,
            &mut headers,
            &body,
            &fresh,
            placement.as_ref(),
        )
        .await?;
        sent_with = fresh;
    }
    read_response(
        response,
        call.shared.limits.max_http_response_bytes,
        &sent_with,
        placement.as_ref(),
    )
    .await
}

/// Where a call's requests may go: the base URL (operator override, else
/// the manifest's, with `{field}`s filled) and the declared hosts. Worked
/// out once per context (see [`crate::call_plan`]).
pub(crate) struct Destination {
    base: Url,
    hosts: ApiHosts,
}

impl Destination {
    #[cfg(test)]
    pub(crate) fn base_url(&self) -> &Url {
        &self.base
    }
}

pub(crate) fn destination(
    ctx: &CallContext,
    manifest: &Manifest,
) -> Result<Destination, EgressError> {
    let base = match &ctx.base_url_override {
        Some(url) => url.clone(),
        None => fill_template(&manifest.base_url, &ctx.config)
            .map_err(|e| EgressError::Invalid(format!("base-url {e}")))?,
    };
    let base = Url::parse(&base)
        .map_err(|e| EgressError::Invalid(format!("base URL `{base}` is malformed: {e}")))?;
    let hosts = ApiHosts::resolve(
        &manifest.api_hosts,
        &ctx.config,
        ctx.base_url_override.as_deref(),
    )?;
    Ok(Destination { base, hosts })
}

/// The guest's URL against the call's [`Destination`].
fn target_url(call: &CallState, requested: &str) -> Result<Url, EgressError> {
    match &call.plan.destination {
        Ok(d) => resolve_url(&d.base, requested, &d.hosts),
        Err(e) => Err(e.clone()),
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Where a token goes for this connection's auth kind: the declared
/// placement with `{field}`s filled from config (defaults applied), by the
/// manifest crate's one set of placeholder rules. Computed once per
/// context (see [`crate::call_plan`]), not per call.
pub(crate) fn resolve_token_placement(
    manifest: &Manifest,
    ctx: &CallContext,
) -> Result<Option<TokenPlacement>, String> {
    let Some(method) = manifest.auth_method(ctx.auth_kind) else {
        return Ok(None);
    };
    let config = manifest.config_with_defaults(&ctx.config);
    let resolved = method
        .resolve(&config)
        .map_err(|e| format!("token placement: {e}"))?;
    Ok(Some(resolved.token_placement()))
}

fn guest_headers(
    pairs: &[(String, String)],
    placement: Option<&TokenPlacement>,
) -> Result<HeaderMap, HttpError> {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("header name `{name}` is invalid")))?;
        if HOST_OWNED_REQUEST_HEADERS.contains(&name.as_str())
            || placement.is_some_and(|p| p.header.eq_ignore_ascii_case(name.as_str()))
        {
            continue;
        }
        let value = HeaderValue::from_str(value).map_err(|_| {
            HttpError::InvalidRequest(format!("header `{name}` has an invalid value"))
        })?;
        headers.append(name, value);
    }
    Ok(headers)
}

async fn execute(
    call: &CallState,
    method: &reqwest::Method,
    url: &Url,
    headers: &mut HeaderMap,
    body: &Option<Bytes>,
    credential: &Credential,
    placement: Option<&TokenPlacement>,
) -> Result<reqwest::Response, HttpError> {
    let (client, auth) = client_and_header(call, credential, placement)?;
    let mut request_headers = headers.clone();
    if let Some((name, value)) = auth {
        request_headers.insert(name, value);
    }
    let mut builder = client
        .request(method.clone(), url.clone())
        .headers(request_headers);
    if let Some(body) = body {
        builder = builder.body(body.clone());
    }
    builder.send().await.map_err(|e| {
        let (error, cause) = request_failure(e);
        match (error, credential) {
            (HttpError::ConnectionFailed(m), Credential::ClientCertificate { .. }) => {
                HttpError::ConnectionFailed(match cause {
                    Cause::Other => m,
                    // A TLS alert from the server, when we presented a
                    // client certificate, is almost always the server
                    // refusing it.
                    Cause::TlsAlert => format!(
                        "the server refused the TLS handshake with this connection's client \
                         certificate ({CERTIFICATE_HINT}): {m}"
                    ),
                    // Under TLS 1.3 a server refuses a client certificate
                    // after the client's side of the handshake; the request
                    // can then lose the race and hyper only says the
                    // connection closed before use.
                    Cause::ClosedBeforeUse => format!(
                        "the server closed the connection right after the TLS handshake, which \
                         with a client certificate usually means it refused the certificate \
                         ({CERTIFICATE_HINT}): {m}"
                    ),
                })
            }
            (e, _) => e,
        }
    })
}

/// What to check when a server refuses a client certificate.
const CERTIFICATE_HINT: &str = "check that it is issued by a CA the server trusts, not expired, \
     and meant for client authentication; reconnect with the right one";

/// A header carrying the credential (marked sensitive).
type CredentialHeader = (HeaderName, HeaderValue);

/// The client to use and the credential header to add.
fn client_and_header(
    call: &CallState,
    credential: &Credential,
    placement: Option<&TokenPlacement>,
) -> Result<(Arc<reqwest::Client>, Option<CredentialHeader>), HttpError> {
    let shared = &call.shared;
    let header = |name: &str, value: Zeroizing<String>| {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            HttpError::InvalidRequest(format!("token header name `{name}` is invalid"))
        })?;
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            HttpError::CredentialUnavailable("the credential is not a valid header value".into())
        })?;
        value.set_sensitive(true);
        Ok::<_, HttpError>((name, value))
    };
    match credential {
        Credential::None => Ok((shared.client.clone(), None)),
        Credential::Bearer(token) => Ok((
            shared.client.clone(),
            Some(header(
                "authorization",
                Zeroizing::new(format!("Bearer {}", token.expose_secret())),
            )?),
        )),
        Credential::Pat {
            placement: own,
            secret,
        } => {
            let p = own
                .clone()
                .or_else(|| placement.cloned())
                .unwrap_or_default();
            Ok((
                shared.client.clone(),
                Some(header(
                    &p.header,
                    Zeroizing::new(format!("{}{}", p.prefix, secret.expose_secret())),
                )?),
            ))
        }
        Credential::ClientCertificate { cert_pem, key_pem } => {
            let key_pem = key_pem.expose_secret();
            let client = shared
                .mtls_clients
                .get_or_try_insert(Fingerprint::of(cert_pem, key_pem), || {
                    mtls_client(call, cert_pem, key_pem)
                })?;
            Ok((client, None))
        }
    }
}

/// A client presenting `cert_pem` and `key_pem`, with the same address
/// policy, limits and extra roots as the shared client.
fn mtls_client(
    call: &CallState,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<reqwest::Client>, HttpError> {
    let unusable = |e: reqwest::Error| {
        HttpError::CredentialUnavailable(format!("client certificate is unusable: {e}"))
    };
    let mut pem = Zeroizing::new(Vec::with_capacity(cert_pem.len() + key_pem.len() + 1));
    pem.extend_from_slice(cert_pem.as_bytes());
    pem.push(b'\n');
    pem.extend_from_slice(key_pem.as_bytes());
    let identity = reqwest::Identity::from_pem(&pem).map_err(unusable)?;
    let shared = &call.shared;
    build_client(
        shared.policy,
        &shared.limits,
        &shared.extra_roots,
        Some(identity),
    )
    .map(Arc::new)
    .map_err(unusable)
}

async fn read_response(
    mut response: reqwest::Response,
    max_bytes: u64,
    credential: &Credential,
    placement: Option<&TokenPlacement>,
) -> Result<Response, HttpError> {
    if response.content_length().is_some_and(|len| len > max_bytes) {
        return Err(HttpError::ResponseTooLarge(max_bytes));
    }
    let status = response.status().as_u16();
    let token = credential.token();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, value)| {
            !STRIPPED_RESPONSE_HEADERS.contains(&name.as_str())
                && !placement.is_some_and(|p| p.header.eq_ignore_ascii_case(name.as_str()))
                // A provider echoing the token back must not hand it to the guest.
                && !token.is_some_and(|t| {
                    !t.is_empty() && String::from_utf8_lossy(value.as_bytes()).contains(t)
                })
        })
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if body.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(HttpError::ResponseTooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn egress_error(error: EgressError) -> HttpError {
    match error {
        EgressError::NotAllowed(m) => HttpError::DestinationNotAllowed(m),
        EgressError::Invalid(m) => HttpError::InvalidRequest(m),
    }
}

fn credential_error(error: CredentialError) -> HttpError {
    HttpError::CredentialUnavailable(error.to_string())
}

/// What the causes of a failed request show, for the wording of a
/// client-certificate failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The TLS peer sent a fatal alert (rustls `AlertReceived`).
    TlsAlert,
    /// hyper dropped the request before sending it: the connection closed
    /// or was not ready (`hyper::Error::is_canceled`).
    ClosedBeforeUse,
    /// Anything else.
    Other,
}

fn request_error(error: reqwest::Error) -> HttpError {
    request_failure(error).0
}

/// The guest's error for a failed request, and what its causes show.
fn request_failure(error: reqwest::Error) -> (HttpError, Cause) {
    let mut cause = Cause::Other;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<DnsRefused>() {
            return (
                HttpError::DestinationNotAllowed(refused.to_string()),
                Cause::Other,
            );
        }
        if is_tls_alert(e) {
            cause = Cause::TlsAlert;
        } else if cause == Cause::Other
            && e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_canceled)
        {
            // hyper_util's own error is opaque (only `is_connect`), but the
            // hyper error under it says whether the request was cancelled
            // before it went out ("connection was not ready" / "connection
            // closed"). A TLS alert found anywhere in the chain wins.
            cause = Cause::ClosedBeforeUse;
        }
        source = e.source();
    }
    if error.is_timeout() {
        return (HttpError::Timeout, cause);
    }
    // reqwest's own text is only "error sending request"; the causes say
    // what went wrong (refused connection, TLS alert such as a rejected
    // client certificate). The URL is left out: its query may carry a
    // credential.
    let error = error.without_url();
    let mut message = error.to_string();
    let mut next = std::error::Error::source(&error);
    while let Some(e) = next {
        let text = e.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        next = e.source();
    }
    (HttpError::ConnectionFailed(message), cause)
}

/// Whether `error` is rustls's "received a fatal alert", or I/O errors
/// wrapping one. tokio-rustls hands rustls errors up inside an `io::Error`
/// (which the connector may wrap in another), and `io::Error::source()`
/// skips the wrapped error itself, so the wrapped ones are looked at here.
fn is_tls_alert(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(rustls::Error::AlertReceived(_)) = e.downcast_ref::<rustls::Error>() {
            return true;
        }
        next = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
    }
    false
}
