//! A small OCI distribution client (build time only): fetches manifests and
//! blobs over the registry HTTP API (`/v2/<name>/manifests|blobs/<ref>`),
//! answering 401 challenges with an anonymous or credentialed Bearer token,
//! or Basic. Nothing it returns is trusted: callers verify every byte against
//! a digest (see `pull`).

pub mod auth;
pub mod mirrors;
pub mod pull;
pub mod reference;

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

use auth::{Challenge, Credentials, Scheme};
use mirrors::Mirrors;
pub use reference::Reference;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Manifests are small; a larger answer is not one.
pub const MANIFEST_LIMIT: u64 = 4 << 20;

/// The connect timeout: a build without network fails in seconds, not minutes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP agent every build-time download uses: short connect timeout, no
/// retries, statuses returned rather than raised, `Authorization` never
/// forwarded on a redirect (registries redirect blobs to storage hosts).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .user_agent(concat!("floppies-build/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Talks to registries (or their mirrors) on behalf of one build.
pub struct Client {
    agent: ureq::Agent,
    mirrors: Mirrors,
    credentials: Credentials,
    /// `Authorization` values that worked, by (endpoint, repository).
    authorizations: BTreeMap<(String, String), String>,
}

impl Client {
    pub fn new(agent: ureq::Agent, mirrors: Mirrors, credentials: Credentials) -> Client {
        Client { agent, mirrors, credentials, authorizations: BTreeMap::new() }
    }

    /// From FLOPPIES_REGISTRY_MIRRORS, FLOPPIES_REGISTRY_AUTH(_FILE).
    pub fn from_env(agent: ureq::Agent) -> Result<Client> {
        Ok(Client::new(agent, Mirrors::from_env()?, Credentials::from_env()?))
    }

    pub fn endpoint(&self, image: &Reference) -> String {
        self.mirrors.endpoint(&image.registry)
    }

    /// GET a manifest by tag or digest; returns its bytes and media type.
    pub fn manifest(&mut self, image: &Reference, tag_or_digest: &str) -> Result<(Vec<u8>, String)> {
        let accept = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");
        let mut resp = self.get(image, &format!("manifests/{tag_or_digest}"), &[("Accept", &accept)])?;
        let media_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = resp.body_mut().with_config().limit(MANIFEST_LIMIT).read_to_vec();
        let body = body.with_context(|| format!("could not read the manifest {}@{tag_or_digest}", image.name()))?;
        Ok((body, media_type))
    }

    /// GET a blob, from byte `from` on when resuming; the response is 200 or 206.
    pub fn blob(&mut self, image: &Reference, digest: &str, from: u64) -> Result<Response<Body>> {
        let range = format!("bytes={from}-");
        let headers: &[(&str, &str)] = if from > 0 { &[("Range", &range)] } else { &[] };
        self.get(image, &format!("blobs/{digest}"), headers)
    }

    /// GET /v2/<repository>/<path>, authenticating once on a 401.
    fn get(&mut self, image: &Reference, path: &str, headers: &[(&str, &str)]) -> Result<Response<Body>> {
        let endpoint = self.endpoint(image);
        let url = format!("{endpoint}/v2/{}/{path}", image.repository);
        let key = (endpoint.clone(), image.repository.clone());
        let mut tried_auth = false;
        loop {
            let mut req = self.agent.get(&url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(a) = self.authorizations.get(&key) {
                req = req.header("Authorization", a);
            }
            let resp = req.call().map_err(|e| unreachable_error(&url, e))?;
            match resp.status().as_u16() {
                200 | 206 => return Ok(resp),
                401 if !tried_auth => {
                    tried_auth = true;
                    let authorization = self.authorize(image, &endpoint, &resp)?;
                    self.authorizations.insert(key.clone(), authorization);
                }
                401 | 403 => {
                    let login = if self.login_for(image, &endpoint).is_some() { "the credentials given were refused" } else { "no credentials were given" };
                    bail!(
                        "{} refused access to {} ({}: {login})\n\
                         help: set {}=\"{}=USER:PASSWORD\" or {}=PATH-TO-docker-config.json",
                        endpoint,
                        image.name(),
                        resp.status(),
                        auth::AUTH_ENV,
                        mirrors::host_of_url(&endpoint),
                        auth::AUTH_FILE_ENV
                    );
                }
                404 => bail!("{endpoint} has no {path} for {} (404 Not Found)", image.name()),
                _ => bail!("{url}: the registry answered {}", resp.status()),
            }
        }
    }

    fn login_for(&self, image: &Reference, endpoint: &str) -> Option<&auth::Login> {
        self.credentials.find(&[mirrors::host_of_url(endpoint), &image.registry])
    }

    /// The `Authorization` value a 401's challenge asks for.
    fn authorize(&self, image: &Reference, endpoint: &str, resp: &Response<Body>) -> Result<String> {
        let header = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| Challenge::parse(v).is_ok())
            .with_context(|| format!("{endpoint} answered 401 without a challenge floppies-build understands (Bearer or Basic)"))?;
        let challenge = Challenge::parse(header)?;
        let login = self.login_for(image, endpoint);
        match challenge.scheme {
            Scheme::Basic => {
                let Some(login) = login else {
                    bail!(
                        "{endpoint} requires a login for {} (Basic authentication)\n\
                         help: set {}=\"{}=USER:PASSWORD\" or {}=PATH-TO-docker-config.json",
                        image.name(),
                        auth::AUTH_ENV,
                        mirrors::host_of_url(endpoint),
                        auth::AUTH_FILE_ENV
                    );
                };
                Ok(login.basic())
            }
            Scheme::Bearer => self.token(&challenge, image, login),
        }
    }

    /// Asks the challenge's realm for a pull token (anonymous without a login).
    fn token(&self, challenge: &Challenge, image: &Reference, login: Option<&auth::Login>) -> Result<String> {
        let realm = &challenge.params["realm"];
        mirrors::check_url(realm).with_context(|| format!("the token service of {}", image.name()))?;
        let scope = challenge.params.get("scope").cloned().unwrap_or_else(|| format!("repository:{}:pull", image.repository));
        let mut req = self.agent.get(realm).query("scope", &scope);
        if let Some(service) = challenge.params.get("service") {
            req = req.query("service", service);
        }
        if let Some(login) = login {
            req = req.header("Authorization", &login.basic());
        }
        let mut resp = req.call().map_err(|e| unreachable_error(realm, e))?;
        if resp.status() != 200 {
            bail!("the token service {realm} refused a pull token for {} ({})", image.name(), resp.status());
        }
        let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().with_context(|| format!("could not read the token from {realm}"))?;
        let v: serde_json::Value = serde_json::from_slice(&body).with_context(|| format!("{realm} did not answer JSON"))?;
        let token = v["token"].as_str().or(v["access_token"].as_str()).with_context(|| format!("{realm} answered no token"))?;
        Ok(format!("Bearer {token}"))
    }
}

/// A transport failure, phrased so that the caller can name what was not fetched.
pub fn unreachable_error(url: &str, e: ureq::Error) -> anyhow::Error {
    anyhow::Error::new(Unreachable { url: url.to_string(), cause: e.to_string() })
}

/// Could not connect at all (DNS, refused, timeout, TLS): nothing to retry now.
#[derive(Debug)]
pub struct Unreachable {
    pub url: String,
    pub cause: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not reach {}: {}", self.url, self.cause)
    }
}

impl std::error::Error for Unreachable {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A registry that wants a Bearer token from its own /token realm, as
    /// Docker Hub and quay.io do; answers each connection once.
    fn token_registry() -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let realm = format!("{base}/token");
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for stream in listener.incoming().take(3) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    request.push_str(&line);
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                let authorized = request.lines().any(|l| l.eq_ignore_ascii_case("authorization: Bearer T0KEN"));
                let (status, headers, body) = if path.starts_with("/token?") {
                    ("200 OK", String::new(), r#"{"token":"T0KEN"}"#.to_string())
                } else if authorized {
                    ("200 OK", format!("Content-Type: {OCI_MANIFEST}\r\n"), "{}".to_string())
                } else {
                    let challenge = format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake\",scope=\"repository:library/x:pull\"\r\n");
                    ("401 Unauthorized", challenge, String::new())
                };
                seen.push(format!("{path} {}", if authorized { "with token" } else { "anonymous" }));
                write!(stream, "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
            }
            seen
        });
        (base, handle)
    }

    #[test]
    fn anonymous_bearer_token_flow() {
        let (base, server) = token_registry();
        let mirrors = Mirrors::parse(&format!("docker.io={base}")).unwrap();
        let mut client = Client::new(agent(), mirrors, Credentials::default());
        let (body, media_type) = client.manifest(&Reference::parse("x:1").unwrap(), "1").unwrap();
        assert_eq!((body.as_slice(), media_type.as_str()), (&b"{}"[..], OCI_MANIFEST));
        let seen = server.join().unwrap();
        assert_eq!(seen[0], "/v2/library/x/manifests/1 anonymous");
        assert!(seen[1].starts_with("/token?scope=repository%3Alibrary%2Fx%3Apull&service=fake"), "{seen:?}");
        assert_eq!(seen[2], "/v2/library/x/manifests/1 with token");
    }
}
