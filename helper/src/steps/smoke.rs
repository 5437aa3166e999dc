//! Step 9: the content, fetched over HTTP through the ingress on this host,
//! must hash to what the bundle carries. Where the bucket already held a file
//! (data kept from an earlier install, or changed by the customer since this
//! one served it), the seed job kept the bucket's copy, so that copy is what
//! must be served.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

use super::{InstallCx, Step, UninstallCx};
use crate::http;
use floppies_format::error::{ExitCode, Failure};
use floppies_format::hashing::sha256_of;
use floppies_format::manifest::Role;

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

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        Ok(check_all(cx).is_ok())
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            match check_all(cx) {
                Ok(served) => {
                    if !served.kept.is_empty() {
                        cx.out.say(format!(
                            "Kept the bucket's own copy of {} (the seed never overwrites): {}",
                            plural(served.kept.len(), "file"),
                            served.kept.join(", ")
                        ));
                    }
                    return Ok(json!({ "checked": served.checked, "kept": served.kept }));
                }
                Err(e) if Instant::now() >= deadline => {
                    bail!(Failure::new(ExitCode::Failed, format!("the application does not serve its content: {}", floppies_format::error::render(&e)))
                        .help("run 'sudo floppies diagnose' and send the file it writes to the vendor"))
                }
                Err(_) => std::thread::sleep(Duration::from_secs(2)),
            }
        }
    }

    fn undo(&self, _cx: &UninstallCx, _record: &Value) -> Result<()> {
        Ok(())
    }
}

/// What the ingress served.
struct Served {
    /// URLs fetched.
    checked: Vec<String>,
    /// Keys served with the bucket's own bytes rather than the bundle's.
    kept: Vec<String>,
}

/// True when the bucket may hold its own copy of a bundled file: MinIO's data
/// was kept from an earlier install (its credentials were not made by this
/// one), or this installation has served the content before.
fn bucket_may_differ(cx: &InstallCx) -> bool {
    cx.record("credentials")["created_password"] == json!(false) || !cx.record("smoke-check").is_null()
}

/// Judges one fetch: Ok(true) for the bundle's bytes, Ok(false) for the
/// bucket's own copy where that is allowed, else what is wrong.
fn judge(url: &str, status: u16, sha: &str, want: &str, may_differ: bool) -> Result<bool> {
    if status != 200 {
        bail!("GET {url} answered {status}");
    }
    if sha == want {
        return Ok(true);
    }
    if may_differ {
        return Ok(false);
    }
    bail!("GET {url} returned sha256 {sha}, the bundle's is {want}")
}

/// Fetches every content file.
fn check_all(cx: &InstallCx) -> Result<Served> {
    let mut served = Served { checked: vec![], kept: vec![] };
    let Some(m) = &cx.manifest else { return Ok(served) };
    let may_differ = bucket_may_differ(cx);
    for a in m.artifacts.iter().filter(|a| a.role == Role::Content) {
        let key = a.path.strip_prefix("content/").unwrap_or(&a.path);
        let path = url_path(key);
        let url = format!("http://{INGRESS}{path}");
        let r = http::get(INGRESS.parse().expect("literal address"), "localhost", &path, Duration::from_secs(10), MAX_BODY)?;
        let (sha, _) = sha256_of(&r.body[..])?;
        if !judge(&url, r.status, &sha, &a.sha256, may_differ)? {
            served.kept.push(key.to_string());
        }
        served.checked.push(url);
    }
    Ok(served)
}

/// The path that serves KEY: an `index.html` is fetched as its directory,
/// as s3www serves it there (Go's http.FileServer redirects a request for
/// `.../index.html` to `.../`).
fn url_path(key: &str) -> String {
    match key.strip_suffix("index.html") {
        Some(dir) if dir.is_empty() || dir.ends_with('/') => format!("/{dir}"),
        _ => format!("/{key}"),
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_html_is_fetched_as_its_directory() {
        assert_eq!(url_path("index.html"), "/");
        assert_eq!(url_path("docs/index.html"), "/docs/");
        assert_eq!(url_path("floppy.gif"), "/floppy.gif");
        assert_eq!(url_path("myindex.html"), "/myindex.html");
    }

    #[test]
    fn the_bundles_bytes_are_required_unless_the_bucket_may_hold_its_own() {
        assert!(judge("u", 200, "aa", "aa", false).unwrap());
        assert!(judge("u", 200, "aa", "aa", true).unwrap());
        assert!(!judge("u", 200, "bb", "aa", true).unwrap(), "kept data: the bucket's copy is served");
        let fresh = judge("u", 200, "bb", "aa", false).unwrap_err().to_string();
        assert!(fresh.contains("sha256 bb, the bundle's is aa"), "{fresh}");
        // Whatever the data, the file must be served.
        for may_differ in [false, true] {
            assert!(judge("http://x/f", 404, "aa", "aa", may_differ).unwrap_err().to_string().contains("answered 404"));
        }
    }

    #[test]
    fn kept_data_or_an_earlier_check_lets_the_bucket_differ() {
        let out = crate::report::Reporter::new(false, true);
        let opts = super::super::InstallOptions::for_test();
        let layout = crate::layout::Layout::system();
        let mut cx = InstallCx { out: &out, layout: &layout, bundle: None, manifest: None, opts, journal: crate::journal::Journal::new("1.0", "test") };
        assert!(!bucket_may_differ(&cx), "a fresh install serves exactly the bundle");
        cx.journal.record("credentials", json!({ "created_password": true }));
        assert!(!bucket_may_differ(&cx));
        cx.journal.record("credentials", json!({ "created_password": false }));
        assert!(bucket_may_differ(&cx), "data kept from an earlier install");
        cx.journal.record("credentials", json!({ "created_password": true }));
        cx.journal.record("smoke-check", json!({ "checked": [] }));
        assert!(bucket_may_differ(&cx), "served before: the customer may have changed it since");
    }
}
