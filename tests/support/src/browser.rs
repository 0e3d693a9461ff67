//! A tiny headless "browser" for authorization pages: follows redirects by
//! hand (so it can stop at Plugboard's callback), keeps cookies, submits
//! forms. Enough for oidc-provider's interaction pages and the fake Zoom's
//! consent page; not a general HTML client.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{Context, bail};
use url::Url;

/// One HTTP answer, with the redirect target resolved against the request URL.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub status: u16,
    pub location: Option<Url>,
    pub body: String,
}

/// Cookie-keeping, redirect-refusing HTTP client.
pub struct Browser {
    client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Browser {
            client,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    fn cookie_header(&self) -> Option<String> {
        let jar = self.cookies.lock().unwrap();
        if jar.is_empty() {
            return None;
        }
        Some(
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    async fn finish(&self, url: Url, response: reqwest::Response) -> anyhow::Result<Page> {
        // Paths are ignored on purpose: sending every cookie everywhere is
        // harmless for the two servers this talks to.
        {
            let mut jar = self.cookies.lock().unwrap();
            for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
                let text = value.to_str().unwrap_or_default();
                let pair = text.split(';').next().unwrap_or_default();
                if let Some((k, v)) = pair.split_once('=') {
                    if v.is_empty()
                        || text
                            .to_ascii_lowercase()
                            .contains("expires=thu, 01 jan 1970")
                    {
                        jar.remove(k.trim());
                    } else {
                        jar.insert(k.trim().to_string(), v.to_string());
                    }
                }
            }
        }
        let status = response.status().as_u16();
        let location = match response.headers().get(reqwest::header::LOCATION) {
            Some(l) => Some(
                url.join(l.to_str().context("non-ASCII Location header")?)
                    .context("bad Location header")?,
            ),
            None => None,
        };
        let body = response.text().await.unwrap_or_default();
        Ok(Page {
            url,
            status,
            location,
            body,
        })
    }

    pub async fn get(&self, url: &Url) -> anyhow::Result<Page> {
        let mut req = self.client.get(url.clone());
        if let Some(c) = self.cookie_header() {
            req = req.header(reqwest::header::COOKIE, c);
        }
        let response = req.send().await.with_context(|| format!("GET {url}"))?;
        self.finish(url.clone(), response).await
    }

    pub async fn post_form(&self, url: &Url, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let mut req = self.client.post(url.clone()).form(form);
        if let Some(c) = self.cookie_header() {
            req = req.header(reqwest::header::COOKIE, c);
        }
        let response = req.send().await.with_context(|| format!("POST {url}"))?;
        self.finish(url.clone(), response).await
    }

    /// Follow redirects from `page` until one points under `stop_prefix`
    /// (returned as `Err(url)`-free `Ok(Step::Callback)`) or a page that is
    /// not a redirect is reached.
    pub async fn follow(&self, mut page: Page, stop_prefix: &str) -> anyhow::Result<Step> {
        for _ in 0..20 {
            match page.location.clone() {
                Some(next) if next.as_str().starts_with(stop_prefix) => {
                    return Ok(Step::Callback(next));
                }
                Some(next) if (300..400).contains(&page.status) => {
                    page = self.get(&next).await?;
                }
                _ => return Ok(Step::Page(page)),
            }
        }
        bail!("more than 20 redirects from {}", page.url)
    }
}

/// Where a redirect chain ended.
#[derive(Debug, Clone)]
pub enum Step {
    /// A redirect to the callback; the URL carries `code`/`state`/`iss` or `error`.
    Callback(Url),
    /// A page to act on (login form, consent form, error page).
    Page(Page),
}

/// What the person does on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Allow,
    Deny,
}

/// Drive oidc-provider from `authorize_url` through login and consent to
/// the redirect under `redirect_uri`; returns that callback URL.
pub async fn authorize_with_oidc(
    authorize_url: &Url,
    redirect_uri: &str,
    login: &str,
    password: &str,
    consent: Consent,
) -> anyhow::Result<Url> {
    let browser = Browser::new();
    let first = browser.get(authorize_url).await?;
    let mut step = browser.follow(first, redirect_uri).await?;
    for _ in 0..4 {
        let page = match step {
            Step::Callback(url) => return Ok(url),
            Step::Page(page) => page,
        };
        if page.status != 200 {
            bail!(
                "authorization server answered {} at {}: {}",
                page.status,
                page.url,
                page.body
            );
        }
        let base = page.url.clone();
        let next = if page.body.contains("/login\"") {
            browser
                .post_form(
                    &base.join(&format!("{}/login", base.path()))?,
                    &[("login", login), ("password", password)],
                )
                .await?
        } else if page.body.contains("/confirm\"") {
            let action = match consent {
                Consent::Allow => "confirm",
                Consent::Deny => "abort",
            };
            browser
                .post_form(&base.join(&format!("{}/{action}", base.path()))?, &[])
                .await?
        } else {
            bail!("unexpected page at {}: {}", page.url, page.body)
        };
        step = browser.follow(next, redirect_uri).await?;
    }
    bail!("the authorization did not reach {redirect_uri}")
}

/// Drive the fake Zoom's authorize page (auto-approve or consent form) to
/// the redirect under `redirect_uri`.
pub async fn authorize_with_zoom(
    authorize_url: &Url,
    redirect_uri: &str,
    consent: Consent,
) -> anyhow::Result<Url> {
    let browser = Browser::new();
    let first = browser.get(authorize_url).await?;
    match browser.follow(first, redirect_uri).await? {
        Step::Callback(url) => Ok(url),
        Step::Page(page) if page.status == 200 && page.body.contains("name=\"decision\"") => {
            let decision = match consent {
                Consent::Allow => "allow",
                Consent::Deny => "deny",
            };
            let ticket =
                extract_hidden(&page.body, "ticket").context("no ticket on consent page")?;
            let posted = browser
                .post_form(
                    &page.url.join("/oauth/authorize/consent")?,
                    &[("ticket", &ticket), ("decision", decision)],
                )
                .await?;
            match browser.follow(posted, redirect_uri).await? {
                Step::Callback(url) => Ok(url),
                Step::Page(p) => bail!("zoom consent ended on {} {}: {}", p.status, p.url, p.body),
            }
        }
        Step::Page(p) => bail!("zoom authorize ended on {} {}: {}", p.status, p.url, p.body),
    }
}

fn extract_hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_string())
}
