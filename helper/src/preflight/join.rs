//! The checks `join FILE` adds to install's: the file is for this build, each
//! server answers within seconds and presents the CA the token names (fetched
//! as a k3s agent does: /cacerts without verifying, hashed, then fetched again
//! verifying the server with it; docs/upstream.md rows 24-25), and this
//! host's clock is near the server's. The token is never sent: the CA check
//! needs none. The helper has no TLS stack, so curl does the fetching,
//! through the runner.

use sha2::{Digest, Sha256};
use std::time::Duration;

use super::Check;
use crate::joinfile::{server_host_port, JoinFile};
use crate::runner;

/// How long a server may take to answer, connection and reply.
const ANSWER_SECONDS: u64 = 5;
/// The largest clock difference accepted: certificates k3s issues at join
/// start being valid at the server's time, and etcd leases are in seconds.
pub const MAX_SKEW_SECONDS: i64 = 30;

/// Where the CA fetched from a server is put for curl's second, verified fetch.
const CA_SCRATCH_BASE: &str = "/run";

/// What one fetch of /cacerts gave.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The `Date` header, as seconds since the epoch.
    pub date: Option<i64>,
    pub body: Vec<u8>,
}

/// Every join check, in the order they are reported.
pub fn checks(file: &JoinFile, version: &str, build: &str) -> Vec<Check> {
    let mut checks = vec![same_build(file, version, build), expiry(file, now())];
    let curl = match crate::layout::system_binary("curl") {
        Ok(p) => p,
        Err(_) => {
            checks.push(Check::fail(
                "join-curl",
                "curl is missing: join fetches the server's CA with it",
                "install curl from the distribution (Ubuntu: 'sudo apt install curl', from your local mirror or media)",
            ));
            return checks;
        }
    };
    for server in &file.servers {
        checks.extend(server_checks(curl.as_str(), server, file.ca_hash()));
    }
    checks
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

/// The cluster deletes a bootstrap token when it expires, and a k3s agent
/// with a deleted token retries forever: say so before anything changes.
fn expiry(file: &JoinFile, now: i64) -> Check {
    match file.expires() {
        None => Check::pass("join-expiry", "the join file's token does not expire"),
        Some(at) if at <= now => Check::fail(
            "join-expiry",
            format!("the join file expired at {} (UTC); the cluster no longer takes its token", crate::joinfile::utc(at.max(0) as u64)),
            "make a new join file on a server ('sudo floppies node add --out FILE', '--ttl' for longer than a day) and use that",
        ),
        Some(at) => Check::pass("join-expiry", format!("the join file works until {} (UTC)", crate::joinfile::utc(at.max(0) as u64))),
    }
}

fn same_build(file: &JoinFile, version: &str, build: &str) -> Check {
    if file.bundle.build == build {
        return Check::pass("join-build", format!("the join file is for this build (floppies {version}, build {})", short(build)));
    }
    Check::fail(
        "join-build",
        format!(
            "the join file is for floppies {} build {} (what the cluster runs); this file is floppies {version} build {}",
            file.bundle.version,
            short(&file.bundle.build),
            short(build)
        ),
        "run join with the same .run file the cluster was installed from (or upgrade the cluster first, then make a new join file)",
    )
}

/// The checks against one server: answers, presents the token's CA, is signed by it, has a near clock.
fn server_checks(curl: &str, server: &str, want_hash: &str) -> Vec<Check> {
    let url = format!("{}/cacerts", server.trim_end_matches('/'));
    let insecure = match fetch(curl, &url, None) {
        Ok(a) if a.status == 200 => a,
        Ok(a) => {
            return vec![Check::fail(
                "join-server",
                format!("server {server} answered /cacerts with HTTP {} (not a k3s server of floppies?)", a.status),
                "check the address in the join file: it must be the first server's",
            )]
        }
        Err(e) => {
            let port = server_host_port(server).map(|(_, p)| p).unwrap_or(crate::joinfile::K3S_PORT);
            return vec![Check::fail(
                "join-server",
                format!("server {server} did not answer within {ANSWER_SECONDS} s: {e}"),
                format!(
                    "check that the server is up ('sudo floppies status' there), that this machine reaches it, and that port {port}/tcp is open between them"
                ),
            )];
        }
    };
    let got = hex::encode(Sha256::digest(&insecure.body));
    let mut checks = Vec::new();
    if got != want_hash {
        checks.push(Check::fail(
            "join-ca",
            format!(
                "server {server} presents a CA with hash {} but the join file's token names CA hash {}: the file is from another cluster, or the address is another machine's",
                short(&got),
                short(want_hash)
            ),
            "make a new join file on a server of the cluster this machine should join ('sudo floppies node add ...')",
        ));
        return checks;
    }
    checks.push(Check::pass("join-ca", format!("server {server} presents the cluster's CA (hash {})", short(&got))));
    checks.push(verified(curl, &url, server, &insecure.body));
    checks.push(clock(server, insecure.date, now()));
    checks
}

/// The second fetch, trusting only the CA just fetched, as k3s's getCACerts does.
fn verified(curl: &str, url: &str, server: &str, ca: &[u8]) -> Check {
    // /run is root's own (a tmpfs); a fresh directory there, never one that
    // exists, so no path another user planted is written through.
    let dir = crate::files::fresh_private_dir(camino::Utf8Path::new(CA_SCRATCH_BASE), "floppies-join-ca");
    let result = dir.as_ref().map_err(|e| anyhow::anyhow!("{e:#}")).and_then(|dir| {
        let path = dir.join("cacerts.pem");
        crate::files::write_atomic(&path, ca, 0o600)?;
        fetch(curl, url, Some(path.as_str()))
    });
    if let Ok(dir) = &dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
        Ok(a) if a.status == 200 => Check::pass("join-tls", format!("server {server}'s certificate is signed by that CA")),
        Ok(a) => Check::fail(
            "join-tls",
            format!("server {server} answered HTTP {} when verified against its CA", a.status),
            "run 'sudo floppies diagnose' on the server and send the bundle",
        ),
        Err(e) => Check::fail(
            "join-tls",
            format!("server {server}'s certificate is not signed by the CA it serves, or does not name {server}: {e}"),
            "use the address the server's certificate names (the one 'node add' printed), or run 'sudo floppies diagnose' on the server",
        ),
    }
}

fn clock(server: &str, date: Option<i64>, now: i64) -> Check {
    match date {
        None => Check::warn("join-clock", format!("server {server} sent no Date header: the clocks could not be compared")),
        Some(d) if (now - d).abs() > MAX_SKEW_SECONDS => Check::fail(
            "join-clock",
            format!(
                "this machine's clock is {} s {} server {server}'s (at most {MAX_SKEW_SECONDS} s allowed)",
                (now - d).abs(),
                if now > d { "ahead of" } else { "behind" }
            ),
            "set both clocks right (timedatectl; an NTP server on your network), then run join again",
        ),
        Some(d) => Check::pass("join-clock", format!("this machine's clock is within {} s of server {server}'s", (now - d).abs())),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// GET URL with curl (without verifying, or trusting only CACERT), bounded.
fn fetch(curl: &str, url: &str, cacert: Option<&str>) -> anyhow::Result<Answer> {
    let connect = (ANSWER_SECONDS / 2).max(1).to_string();
    let max = ANSWER_SECONDS.to_string();
    let mut args = vec!["--silent", "--show-error", "--include", "--connect-timeout", connect.as_str(), "--max-time", max.as_str()];
    match cacert {
        Some(path) => args.extend(["--cacert", path]),
        None => args.push("--insecure"),
    }
    args.push(url);
    let (out, timed_out) = runner::capture_timeout(curl, &args, Duration::from_secs(ANSWER_SECONDS + 3))?;
    if timed_out {
        anyhow::bail!("no answer (timed out)");
    }
    if !out.success() {
        anyhow::bail!("{}", out.stderr.trim().trim_start_matches("curl: "));
    }
    parse_response(out.stdout.as_bytes()).ok_or_else(|| anyhow::anyhow!("its answer is not HTTP"))
}

/// Splits an HTTP/1.x response as `curl --include` prints it.
pub fn parse_response(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let date = lines.filter_map(|l| l.split_once(':')).find(|(k, _)| k.eq_ignore_ascii_case("date")).and_then(|(_, v)| http_date(v.trim()));
    Some(Answer { status, date, body: raw[end + 4..].to_vec() })
}

/// An IMF-fixdate (`Tue, 01 Dec 2026 17:19:22 GMT`) as seconds since the epoch.
pub fn http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146097 + doe - 719468) * 86400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::Verdict;

    #[test]
    fn http_dates_are_read_as_the_epoch_counts_them() {
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date("Tue, 01 Dec 2026 17:19:22 GMT"), Some(1796145562));
        assert_eq!(http_date("Tue, 29 Feb 2000 12:00:00 GMT"), Some(951825600));
        assert_eq!(http_date("yesterday"), None);
    }

    #[test]
    fn a_curl_include_response_gives_status_date_and_body() {
        let raw = b"HTTP/1.0 200 OK\r\nServer: x\r\nDate: Thu, 01 Jan 1970 00:01:00 GMT\r\nContent-Length: 3\r\n\r\nPEM";
        assert_eq!(parse_response(raw), Some(Answer { status: 200, date: Some(60), body: b"PEM".to_vec() }));
        assert_eq!(parse_response(b"garbage"), None);
    }

    #[test]
    fn the_clock_may_differ_by_at_most_the_stated_skew() {
        assert_eq!(clock("s", Some(1000), 1000 + MAX_SKEW_SECONDS).result, Verdict::Pass);
        let ahead = clock("s", Some(1000), 1000 + MAX_SKEW_SECONDS + 1);
        assert_eq!(ahead.result, Verdict::Fail);
        assert!(ahead.message.contains("ahead of"), "{}", ahead.message);
        assert!(clock("s", Some(1000), 900).message.contains("behind"));
        assert_eq!(clock("s", None, 1000).result, Verdict::Warn);
    }

    #[test]
    fn another_build_is_refused_naming_both() {
        let text = format!(
            r#"{{"kind":"floppies-join","format":1,"role":"agent","servers":["https://10.0.0.1:6443"],"token":"K10{h}::server:x","bundle":{{"version":"1.0","build":"{h}"}},"created_by":"s","created_at":"0"}}"#,
            h = "a".repeat(64)
        );
        let file = JoinFile::parse(&text).unwrap();
        let c = same_build(&file, "1.1", &"b".repeat(64));
        assert_eq!(c.result, Verdict::Fail);
        assert!(c.message.contains("aaaaaaaaaaaa") && c.message.contains("bbbbbbbbbbbb") && c.message.contains("1.1"), "{}", c.message);
        assert_eq!(same_build(&file, "1.0", &"a".repeat(64)).result, Verdict::Pass);
    }

    #[test]
    fn an_expired_join_file_is_refused_before_anything_changes() {
        let text = |expires: &str| {
            format!(
                r#"{{"kind":"floppies-join","format":1,"role":"agent","servers":["https://10.0.0.1:6443"],"token":"K10{h}::abcdef.0123456789abcdef","bundle":{{"version":"1.0","build":"{h}"}},"created_by":"s","created_at":"0"{expires}}}"#,
                h = "a".repeat(64)
            )
        };
        let file = JoinFile::parse(&text(r#","expires_at":"1764696400""#)).unwrap();
        let late = expiry(&file, 1764696400);
        assert_eq!(late.result, Verdict::Fail);
        assert!(late.message.contains("expired at 2025-12-02 17:26") && late.remedy.as_deref().is_some_and(|r| r.contains("node add")), "{late:?}");
        assert_eq!(expiry(&file, 1764696399).result, Verdict::Pass);
        let never = JoinFile::parse(&text("")).unwrap();
        assert_eq!(expiry(&never, i64::MAX).result, Verdict::Pass, "a file without expiry (the server token) is not refused for it");
    }

    #[test]
    fn a_server_that_does_not_answer_is_named_within_seconds() {
        // 127.0.0.1:9 (discard) refuses at once on a host without that service.
        let started = std::time::Instant::now();
        let checks = server_checks("curl", "https://127.0.0.1:9", &"a".repeat(64));
        assert!(started.elapsed() < Duration::from_secs(ANSWER_SECONDS + 4));
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].result, Verdict::Fail);
        assert!(checks[0].message.contains("did not answer"), "{}", checks[0].message);
    }
}
