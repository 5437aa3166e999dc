//! The `floppies` binary from the outside: help and exit codes, and the
//! commands that are safe on any host when pointed at a scratch FLOPPIES_ROOT.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_floppies");

/// A scratch root, removed on drop.
struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Root {
        let p = std::env::temp_dir().join(format!("floppies-cli-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Root(p)
    }

    fn put(&self, rel: &str, text: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN).args(args).env("FLOPPIES_ROOT", &self.0).env_remove("FLOPPIES_BUNDLE").output().unwrap()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn every_command_has_help_and_the_exit_codes_are_documented() {
    let root = Root::new("help");
    let top = root.run(&["--help"]);
    assert!(top.status.success());
    let help = text(&top);
    for cmd in ["install", "uninstall", "status", "diagnose", "preflight", "version", "debug", "join", "node"] {
        assert!(help.contains(cmd), "--help lacks {cmd}");
        let sub = root.run(&[cmd, "--help"]);
        assert!(sub.status.success(), "{cmd} --help failed");
    }
    for (code, _, meaning) in floppies_format::error::EXIT_CODES {
        assert!(help.contains(&format!("  {code}  {meaning}")), "--help lacks exit code {code}");
    }
    assert!(!help.contains("not built yet"), "exit code 5 is retired");
    for flag in ["--dry-run", "--json", "--yes", "--quiet"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    assert_eq!(root.run(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn node_and_join_refuse_bad_input_with_their_exit_codes_and_never_the_token() {
    let root = Root::new("join");
    for sub in ["add", "list", "remove"] {
        assert!(root.run(&["node", sub, "--help"]).status.success(), "node {sub} --help failed");
    }
    // A truncated join file: refused as preflight refuses (4), before the installer file is even needed.
    let token = format!("K10{}::server:very-secret", "a".repeat(64));
    root.put("cut.json", &format!("{{\"kind\": \"floppies-join\", \"format\": 1, \"token\": \"{token}\""));
    let o = root.run(&["join", root.0.join("cut.json").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("truncated"), "{}", text(&o));
    assert!(!text(&o).contains("very-secret"), "the token was printed: {}", text(&o));
    // A server's join file holds the server token, which does not expire: --ttl is refused.
    let o = root.run(&["node", "add", "--role", "server", "--ttl", "1h", "--out", "x.json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--ttl is for agents"), "{}", text(&o));
    let o = root.run(&["node", "add", "--role", "server", "--out", "x.json", "--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("runs on a server"), "{}", text(&o));
    // node add on a machine without floppies says where it runs.
    let o = root.run(&["node", "add", "--out", "x.json", "--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("runs on a server"), "{}", text(&o));
}

#[test]
fn install_without_the_installer_file_says_how_to_run_it() {
    let root = Root::new("nobundle");
    let o = root.run(&["install", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("help: run 'sudo sh floppies-installer.run install'"), "{}", text(&o));
}

#[test]
fn status_on_a_host_without_floppies_is_unhealthy_and_says_so() {
    let root = Root::new("status");
    let o = root.run(&["status", "--json"]);
    assert_eq!(o.status.code(), Some(7));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", text(&o)));
    assert_eq!(v["installed"], false);
}

#[test]
fn uninstall_dry_run_lists_the_undo_steps_in_reverse() {
    let root = Root::new("undo-plan");
    let o = root.run(&["uninstall", "--keep-data", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    let numbered: Vec<&str> = t.lines().map(str::trim_start).filter(|l| l.split_once(". ").is_some_and(|(n, _)| n.parse::<u32>().is_ok())).collect();
    assert!(numbered.first().is_some_and(|l| l.starts_with("1. floppies-on-path")), "the PATH link is undone first: {t}");
    assert!(numbered.get(1).is_some_and(|l| l.starts_with("2. embedded-etcd")), "then the move to etcd node add may have made: {t}");
    assert!(numbered.last().is_some_and(|l| l.starts_with(&format!("{}. preflight", numbered.len()))), "preflight last: {t}");
    assert!(t.contains("keeping data"));
    assert!(!root.0.join("var").exists(), "a dry run writes nothing");
}

#[test]
fn diagnose_list_collects_nothing() {
    let root = Root::new("diag-list");
    let out = root.0.join("out");
    fs::create_dir_all(&out).unwrap();
    let o = root.run(&["diagnose", "--list", "--output", out.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(text(&o).contains("host/iptables-save.txt"));
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
}

const CANARY: &str = "Canary7Qx2PlmZr0";

/// Unpacks a diagnose bundle into (path, text) pairs.
fn unpack(bundle: &Path) -> Vec<(String, String)> {
    let f = fs::File::open(bundle).unwrap();
    let mut ar = tar::Archive::new(zstd::stream::read::Decoder::new(f).unwrap());
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            (path, s)
        })
        .collect()
}

#[test]
fn diagnose_bundle_leaks_no_canary_secret() {
    let root = Root::new("canary");
    root.put("var/lib/floppies/credentials/minio-root.env", &format!("MINIO_ROOT_USER=admin-{CANARY}User\nMINIO_ROOT_PASSWORD={CANARY}Pw\n"));
    root.put(
        "etc/rancher/k3s/k3s.yaml",
        &format!("apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: default\n  user:\n    client-certificate-data: {CANARY}Cert\n    client-key-data: {CANARY}Key\n    token: {CANARY}Tok\n"),
    );
    root.put(
        "var/lib/rancher/k3s/server/manifests/floppies.yaml",
        &format!("---\n{{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"stringData\": {{\"rootUser\": \"floppies-admin\", \"rootPassword\": \"{CANARY}Pw\"}}}}\n---\napiVersion: v1\nkind: Secret\ndata:\n  tls.key: {CANARY}Yaml\n"),
    );
    // The reader's secret, known from its file, appears in plain text in a log.
    root.put("var/lib/floppies/credentials/s3www-reader.env", &format!("S3WWW_ACCESS_KEY=s3www-abc\nS3WWW_SECRET_KEY={CANARY}Rd\n"));
    root.put("var/log/floppies/install-0.log", &format!("note: a pod printed {CANARY}Rd in its log\n"));
    root.put("var/lib/rancher/k3s/server/token", &format!("K10{}::server:{CANARY}Tk3s\n", "ab".repeat(32)));
    // An environment file that ended up in an install log.
    root.put(
        "var/log/floppies/install-1.log",
        &format!("$ env\nAWS_SECRET_ACCESS_KEY={CANARY}Aws\nS3_URL=https://admin:{CANARY}Url@minio:9000\nPATH=/usr/bin\n"),
    );
    root.put("var/lib/floppies/state.json", "{\"schema\":1,\"version\":\"1.0\",\"profile\":\"test\",\"complete\":true,\"steps\":[]}");
    let out = root.0.join("out");
    fs::create_dir_all(&out).unwrap();
    let o = root.run(&["diagnose", "--json", "--output", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bundle = PathBuf::from(v["path"].as_str().unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&bundle).unwrap().permissions().mode() & 0o777, 0o600);
    let files = unpack(&bundle);
    let find =
        |suffix: &str| files.iter().find(|(p, _)| p.ends_with(suffix)).map(|(_, t)| t.clone()).unwrap_or_else(|| panic!("{suffix} missing from the bundle"));
    // The planted files are in the bundle (so this test can fail) ...
    assert!(find("host/k3s-kubeconfig.yaml").contains("server: https://127.0.0.1:6443"));
    assert!(find("host/k3s-manifest-floppies.yaml").contains("Secret"));
    assert!(find("host/install-logs.txt").contains("PATH=/usr/bin"));
    // ... and not one canary survives, anywhere.
    for (path, content) in &files {
        assert!(!content.contains(CANARY), "canary leaked in {path}:\n{content}");
    }
    let index = find("index.json");
    let idx: serde_json::Value = serde_json::from_str(&index).unwrap();
    let redacted: u64 = idx["entries"].as_array().unwrap().iter().map(|e| e["redactions"].as_u64().unwrap_or(0)).sum();
    assert!(redacted >= 8, "redactions are counted per file (got {redacted})");
    assert!(find("summary.txt").contains("Likely problems"));
}

/// The bundle's name for each of the next SECONDS seconds: it is predictable,
/// which is what a local user planting links relies on.
fn bundle_names(seconds: u64) -> Vec<String> {
    let host = fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "host".into());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    (now..now + seconds)
        .map(|t| {
            let out = Command::new("date").args(["-u", "-d", &format!("@{t}"), "+%Y%m%dT%H%M%SZ"]).output().unwrap();
            format!("floppies-diagnose-{host}-{}.tar.zst", String::from_utf8_lossy(&out.stdout).trim())
        })
        .collect()
}

#[test]
fn diagnose_never_writes_through_a_planted_symlink() {
    let root = Root::new("diag-symlink");
    let out = root.0.join("out");
    fs::create_dir_all(&out).unwrap();
    let victim = root.0.join("victim");
    fs::write(&victim, "precious").unwrap();
    for name in bundle_names(60) {
        std::os::unix::fs::symlink(&victim, out.join(name)).unwrap();
    }
    let o = root.run(&["diagnose", "--output", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious", "diagnose wrote through the link: {}", text(&o));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already exists"), "{}", text(&o));
}

#[test]
fn diagnose_refuses_an_output_dir_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let root = Root::new("diag-opendir");
    let out = root.0.join("out");
    fs::create_dir_all(&out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
    let o = root.run(&["diagnose", "--output", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("another user can write to it"), "{}", text(&o));
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0, "nothing written");
    // Sticky, like /tmp: accepted.
    fs::set_permissions(&out, fs::Permissions::from_mode(0o1777)).unwrap();
    let o = root.run(&["diagnose", "--output", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
}
