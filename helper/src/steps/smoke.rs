//! Step 8: the content, fetched over HTTP through the ingress on this host,
//! must hash to what the bundle carries.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

use super::{Cx, Step};
use crate::error::{ExitCode, Failure};
use crate::hashing::sha256_of;
use crate::http;
use crate::manifest::Role;

pub struct SmokeCheck;

/// The ingress listens here (Traefik through k3s's service load balancer).
const INGRESS: &str = "127.0.0.1:80";
/// Routes can lag the pods' readiness by a few seconds.
const RETRY_FOR: Duration = Duration::from_secs(90);
const MAX_BODY: u64 = 1 << 30;

impl Step for SmokeCheck {
    fn name(&self) -> &'static str {
        "smoke-check"
    }

    fn summary(&self) -> &'static str {
        "fetch the content through the ingress and compare its sha256 with the bundle's"
    }

    fn undo_summary(&self) -> &'static str {
        "nothing to undo"
    }

    fn done(&self, cx: &Cx) -> Result<bool> {
        Ok(check_all(cx).is_ok())
    }

    fn apply(&self, cx: &mut Cx) -> Result<Value> {
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            match check_all(cx) {
                Ok(urls) => return Ok(json!({ "checked": urls })),
                Err(e) if Instant::now() >= deadline => {
                    bail!(Failure::new(ExitCode::Failed, format!("the application does not serve its content: {}", crate::error::render(&e)))
                        .help("run 'sudo floppies diagnose' and send the file it writes to the vendor"))
                }
                Err(_) => std::thread::sleep(Duration::from_secs(2)),
            }
        }
    }

    fn undo(&self, _cx: &Cx, _record: &Value) -> Result<()> {
        Ok(())
    }
}

/// Fetches every content file; returns the URLs checked.
fn check_all(cx: &Cx) -> Result<Vec<String>> {
    let Some(m) = &cx.manifest else { return Ok(vec![]) };
    let mut urls = Vec::new();
    for a in m.artifacts.iter().filter(|a| a.role == Role::Content) {
        let key = a.path.strip_prefix("content/").unwrap_or(&a.path);
        let path = format!("/{key}");
        let r = http::get(INGRESS.parse().expect("literal address"), "localhost", &path, Duration::from_secs(10), MAX_BODY)?;
        if r.status != 200 {
            bail!("GET http://{INGRESS}{path} answered {}", r.status);
        }
        let (sha, _) = sha256_of(&r.body[..])?;
        if sha != a.sha256 {
            bail!("GET http://{INGRESS}{path} returned sha256 {sha}, the bundle's is {}", a.sha256);
        }
        urls.push(format!("http://{INGRESS}{path}"));
    }
    Ok(urls)
}
