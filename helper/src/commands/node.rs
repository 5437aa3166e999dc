//! `floppies node add|list|remove`: the machines of the cluster, from a server.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::confirm::require_root;
use super::Ctx;
use crate::cli::{NodeAddArgs, NodeAddUfw, NodeCommand};
use crate::joinfile::{parse_token, BundleId, Credentials, JoinFile, NodeRole, FORMAT, K3S_PORT, KIND};
use crate::journal::Journal;
use crate::kube;
use crate::layout::Layout;
use crate::runner;
use crate::steps::peers;
use floppies_format::error::{ExitCode, Failure};

/// The label join puts on a node: the bundle version it was joined with.
pub const BUNDLE_LABEL: &str = "floppies.io/bundle-version";

pub fn run(ctx: &Ctx, cmd: &NodeCommand) -> Result<()> {
    match cmd {
        NodeCommand::Add(args) => add(ctx, args),
        NodeCommand::List => list(ctx),
        NodeCommand::Remove { name } => remove(ctx, name),
    }
}

/// This machine's node name: k3s names a node by its hostname, lowercased.
pub fn own_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_lowercase()
}

/// The installation on this host, which must be a server (installed, or joined as a server), not an agent.
fn server_journal(layout: &Layout, command: &str) -> Result<Journal> {
    let Some(journal) = Journal::load(&layout.state_file())? else {
        bail!(Failure::new(ExitCode::Failed, format!("floppies is not installed on this machine; '{command}' runs on a server of the cluster"))
            .help("run it on the machine you installed first ('sudo sh floppies-installer.run install' makes one)"));
    };
    if crate::steps::join::joined_role(&journal) == Some(NodeRole::Agent) {
        bail!(Failure::new(ExitCode::Failed, format!("this machine is an agent of a cluster; '{command}' runs on a server"))
            .help("run it on the machine you installed first"));
    }
    Ok(journal)
}

/// The default lifetime of an agent's join file.
const DEFAULT_TTL: u64 = 24 * 3600;

fn add(ctx: &Ctx, args: &NodeAddArgs) -> Result<()> {
    let server_role = args.role == NodeRole::Server;
    if server_role && args.ttl.is_some() {
        bail!(Failure::new(ExitCode::Failed, "--ttl is for agents: a server joins with the cluster's server token, which does not expire")
            .help("leave out --ttl, and delete the join file once the server has joined"));
    }
    let journal = server_journal(ctx.layout, "node add")?;
    let ttl = args.ttl.unwrap_or(DEFAULT_TTL);
    let address = match args.address {
        Some(a) => a.to_string(),
        None => default_address()?,
    };
    let server = server_url(&address);
    if !ctx.global.dry_run {
        require_root("node add")?;
    }
    let on_etcd = runs_etcd(ctx.layout, &journal);
    let to_etcd = server_role && !on_etcd;
    let servers = cluster_servers(ctx.layout, &server);
    let firewall = peer_firewall(args, &address, &servers, server_role || on_etcd);
    let mut plan = json!({
        "out": args.out, "role": args.role.name(), "servers": servers,
        "bundle": { "version": journal.version, "build": journal.build },
        "embedded_etcd": if to_etcd { "move this server to embedded etcd first (restarts k3s)" } else if server_role { "already on embedded etcd" } else { "not needed" },
        "firewall": firewall.describe(),
    });
    let firewall_text = if firewall.active { format!("ufw: {}\n", firewall.describe().join("\n     ")) } else { String::new() };
    if ctx.global.dry_run {
        ctx.out.data(&json!({ "plan": plan, "changed": false }), || {
            let etcd = if to_etcd {
                format!("First move this server to embedded etcd: write {} (cluster-init: true) and restart k3s (the app pauses until it is back).\n", crate::steps::etcd::dropin_path(ctx.layout))
            } else {
                String::new()
            };
            format!(
                "{etcd}{firewall_text}Would write the join file {} (mode 0600): role {}, servers {}, floppies {} build {}; the token is never shown.\nNothing was changed (--dry-run).",
                args.out,
                args.role.name(),
                servers.join(", "),
                journal.version,
                short(&journal.build)
            )
        });
        return Ok(());
    }
    // Before k3s makes a token for it (the file itself is created new, below).
    if std::fs::symlink_metadata(&args.out).is_ok() {
        bail!(Failure::new(ExitCode::Failed, format!("'{}' exists; a join file is never written over another file", args.out))
            .help("choose another '--out FILE', or delete that one first"));
    }
    if journal.build.is_empty() {
        bail!(Failure::new(ExitCode::Failed, "the installation does not record its build (installed by an older floppies)")
            .help("install this bundle again ('sudo sh floppies-installer.run install'), then run node add"));
    }
    if to_etcd {
        etcd_ports_free()?;
    }
    let mut steps: Vec<Box<dyn crate::steps::Step>> = Vec::new();
    if firewall.applies() {
        steps.push(Box::new(firewall));
    }
    if to_etcd {
        steps.push(Box::new(crate::steps::etcd::EmbeddedEtcd));
    }
    if !steps.is_empty() {
        run_steps(ctx, journal.clone(), args.wait_timeout, &steps)?;
    }
    if to_etcd {
        plan["embedded_etcd"] = json!("moved this server to embedded etcd");
    }
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (token, expires_at) =
        if server_role { (server_token(ctx.layout)?, None) } else { (bootstrap_token(ctx.layout, ttl, &args.out)?, Some((secs + ttl).to_string())) };
    let file = JoinFile {
        kind: KIND.into(),
        format: FORMAT,
        role: args.role,
        servers: servers.clone(),
        token,
        bundle: BundleId { version: journal.version.clone(), build: journal.build.clone() },
        created_by: own_node_name(),
        created_at: secs.to_string(),
        expires_at,
    };
    write_join_file(&args.out, &file.to_text())?;
    ctx.out.data(&json!({ "written": plan, "changed": true }), || {
        let (what, lifetime, reach) = if server_role {
            (
                "it holds the cluster's server token, which joins servers, never expires and unlocks the cluster's bootstrap data: treat it like the cluster's master key",
                "It does not expire: delete it as soon as the new server has joined.".to_string(),
                "The new machine must reach every server on 6443/tcp and 2379-2380/tcp, and every machine on 10250/tcp and 8472/udp; they must reach it on the same.",
            )
        } else {
            (
                "it holds a token that joins machines as agents: treat it like a password",
                format!("It works until {} (UTC), {} from now; after that, make a new one.", crate::joinfile::utc(secs + ttl), human_duration(ttl)),
                "The new machine must reach the servers on 6443/tcp, and every machine on 10250/tcp and 8472/udp; they must reach it on those two.",
            )
        };
        format!(
            "{firewall_text}Wrote the join file {out} (readable by root only; {what}).
{lifetime}
Next:
  1. Copy floppies-installer.run (floppies {version}, this very build) and {out} to the new machine.
  2. On the new machine:  sudo sh floppies-installer.run join {out}
  3. Delete {out} here, there, and from whatever carried it.
{reach}",
            out = args.out,
            version = journal.version,
        )
    });
    Ok(())
}

fn server_url(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => format!("https://[{address}]:{K3S_PORT}"),
        _ => format!("https://{address}:{K3S_PORT}"),
    }
}

/// True when this server runs embedded etcd: moved there by node add, or joined as a server.
fn runs_etcd(layout: &Layout, journal: &Journal) -> bool {
    crate::steps::etcd::on_etcd(layout) || crate::steps::join::joined_role(journal) == Some(NodeRole::Server)
}

/// This server's URL first, then every other server's, as the cluster lists
/// them (the new machine checks each, and opens its firewall to each).
fn cluster_servers(layout: &Layout, own: &str) -> Vec<String> {
    let mut servers = vec![own.to_string()];
    if let Ok(list) = kube::get_json(layout, &["nodes", "--request-timeout=10s"]) {
        for url in server_addresses(&list, &own_node_name()).iter().map(|a| server_url(a)) {
            if !servers.contains(&url) {
                servers.push(url);
            }
        }
    }
    servers
}

/// The InternalIP of every server node but OWN.
pub fn server_addresses(list: &Value, own: &str) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["metadata"]["name"].as_str() != Some(own))
        .filter(|n| n["metadata"]["labels"].get("node-role.kubernetes.io/control-plane").is_some())
        .filter_map(|n| n["status"]["addresses"].as_array()?.iter().find(|a| a["type"] == "InternalIP")?["address"].as_str().map(String::from))
        .collect()
}

/// The ufw rules this server needs for the machines of its cluster: from the
/// network of ADDRESS (else of the default route's interface) and each other
/// server outside it; with ETCD, etcd's ports too.
fn peer_firewall(args: &NodeAddArgs, address: &str, servers: &[String], etcd: bool) -> peers::PeerFirewall {
    let network = peers::own_network(address).or_else(|| default_address().ok().and_then(|a| peers::own_network(&a)));
    let others = servers.get(1..).unwrap_or_default();
    let rules = peers::rules(&peers::sources(network.as_deref(), others), etcd);
    peers::PeerFirewall { rules, keep: args.ufw == NodeAddUfw::Keep, active: peers::ufw_active() }
}

/// Embedded etcd's ports are free here (checked before anything changes).
fn etcd_ports_free() -> Result<()> {
    let taken = crate::preflight::network::etcd_ports_in_use();
    if !taken.is_empty() {
        bail!(Failure::new(ExitCode::Preflight, format!("embedded etcd needs ports another program holds: {}; nothing was changed", taken.join(", ")))
            .help("stop that program (find it with 'sudo ss -ltnp'), then run node add again"));
    }
    Ok(())
}

/// Runs node add's STEPS (its ufw rules, the move to embedded etcd) as journalled steps, under the install lock.
fn run_steps(ctx: &Ctx, journal: Journal, wait_timeout: u64, steps: &[Box<dyn crate::steps::Step>]) -> Result<()> {
    let _lock = crate::lock::acquire(&ctx.layout.lock_file())?;
    runner::log_to(&ctx.layout.log_file("node-add"))?;
    let opts = crate::steps::InstallOptions { ufw: crate::steps::UfwMode::Leave, wait_timeout, tls: None };
    let mut cx = crate::steps::InstallCx { out: ctx.out, layout: ctx.layout, bundle: None, manifest: None, opts, journal };
    crate::steps::run_install(&mut cx, steps)?;
    Ok(())
}

/// The cluster's server token as k3s wrote it (`K10<CA hash>::server:<secret>`), checked, never logged.
fn server_token(layout: &Layout) -> Result<String> {
    let path = layout.k3s_server_token();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::new(ExitCode::Failed, format!("could not read k3s's server token '{path}': {e}")).help("run 'sudo floppies diagnose' and send the bundle")
    })?;
    let token = text.trim().to_string();
    match parse_token(&token) {
        Ok(t) if matches!(t.credentials, Credentials::Password { .. }) => Ok(token),
        Ok(_) => bail!(Failure::new(ExitCode::Failed, format!("'{path}' holds a bootstrap token, not the server token"))
            .help("run 'sudo floppies diagnose' and send the bundle")),
        Err(e) => bail!(Failure::new(ExitCode::Failed, format!("'{path}' is not a token in k3s's secure form: {e}"))
            .help("run 'sudo floppies diagnose' and send the bundle")),
    }
}

/// Writes the join file as a new file, mode 0600, in a directory no other
/// user can write (it holds a token): never over an existing file or link.
fn write_join_file(out: &camino::Utf8Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = match out.parent() {
        Some(d) if !d.as_str().is_empty() => d,
        _ => camino::Utf8Path::new("."),
    };
    let name = out.file_name().with_context(|| format!("'{out}' names no file"))?;
    let mut file =
        crate::files::create_new_in(dir, name, 0o600, "the join file", "choose a directory only root can write, e.g. '--out /root/join-agent.json'")?;
    if let Err(e) = file.write_all(text.as_bytes()).and_then(|_| file.sync_all()) {
        let _ = std::fs::remove_file(out);
        return Err(anyhow::Error::new(e).context(format!("could not write '{out}'")));
    }
    Ok(())
}

/// A new k3s bootstrap token for the join file: it joins agents only (never
/// a server) and the cluster deletes it after TTL seconds (docs/upstream.md
/// row 41). Its secret is never logged.
fn bootstrap_token(layout: &Layout, ttl: u64, out: &camino::Utf8Path) -> Result<String> {
    let k3s = layout.current_k3s();
    let kubeconfig = layout.kubeconfig();
    let ttl_arg = format!("{ttl}s");
    let description = format!("floppies join file {} from {}", out.file_name().unwrap_or("join"), own_node_name());
    let printed =
        runner::run_secret_output(k3s.as_str(), &["token", "create", "--kubeconfig", kubeconfig.as_str(), "--ttl", &ttl_arg, "--description", &description])
            .context("k3s could not create a join token")?;
    let token = printed.lines().map(str::trim).find(|l| l.starts_with("K10")).unwrap_or("").to_string();
    match parse_token(&token) {
        Ok(t) if matches!(t.credentials, Credentials::Bootstrap { .. }) => Ok(token),
        Ok(_) => bail!(Failure::new(ExitCode::Failed, "k3s printed a token that is not a bootstrap token (agents only, expiring)")
            .help("run 'sudo floppies diagnose' and send the bundle")),
        Err(e) => bail!(Failure::new(ExitCode::Failed, format!("k3s printed no join token in its secure form: {e}"))
            .help("run 'sudo floppies diagnose' and send the bundle")),
    }
}

/// 86400 -> "24h", 5400 -> "1h30m".
fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut text = String::new();
    if h > 0 {
        text.push_str(&format!("{h}h"));
    }
    if m > 0 {
        text.push_str(&format!("{m}m"));
    }
    if s > 0 || text.is_empty() {
        text.push_str(&format!("{s}s"));
    }
    text
}

/// The address of the interface the IPv4 default route leaves by, unless it
/// is the dummy route install made (no other machine can reach that one).
fn default_address() -> Result<String> {
    let out = runner::capture("ip", &["-4", "-o", "route", "show", "default"])?;
    let dev = out.stdout.lines().filter_map(|l| l.split_whitespace().skip_while(|w| *w != "dev").nth(1)).find(|d| *d != crate::steps::DUMMY_LINK);
    let addr = match dev {
        Some(dev) => runner::capture("ip", &["-4", "-o", "addr", "show", "dev", dev])?
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
            .map(|a| a.split('/').next().unwrap_or(a).to_string())
            .next(),
        None => None,
    };
    addr.ok_or_else(|| {
        Failure::new(ExitCode::Failed, "this server has no default route of its own to take its address from (only the dummy one install added, if any)")
            .help("name the address the new machine reaches this server at: 'sudo floppies node add --address IP --out FILE'")
            .into()
    })
}

/// One machine as `node list` shows it.
#[derive(Debug, PartialEq, serde::Serialize)]
pub struct NodeRow {
    pub name: String,
    pub role: &'static str,
    pub ready: bool,
    pub schedulable: bool,
    pub k3s: String,
    pub bundle: String,
}

/// The rows of `kubectl get nodes -o json`; this machine's bundle version from its journal.
pub fn rows(list: &Value, own_name: &str, own_version: &str) -> Vec<NodeRow> {
    let items = list["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|n| {
            let name = n["metadata"]["name"].as_str().unwrap_or("").to_string();
            let labels = &n["metadata"]["labels"];
            let server = labels.get("node-role.kubernetes.io/control-plane").is_some() || labels.get("node-role.kubernetes.io/master").is_some();
            let bundle =
                labels[BUNDLE_LABEL].as_str().map(str::to_string).unwrap_or_else(|| if name == own_name { own_version.to_string() } else { "unknown".into() });
            NodeRow {
                role: if server { "server" } else { "agent" },
                ready: kube::condition(n, "Ready"),
                schedulable: n["spec"]["unschedulable"].as_bool() != Some(true),
                k3s: n["status"]["nodeInfo"]["kubeletVersion"].as_str().unwrap_or("unknown").to_string(),
                bundle,
                name,
            }
        })
        .collect()
}

/// The table: kubectl's STATUS words (Ready, NotReady, SchedulingDisabled).
pub fn render(rows: &[NodeRow]) -> String {
    let status = |r: &NodeRow| format!("{}{}", if r.ready { "Ready" } else { "NotReady" }, if r.schedulable { "" } else { ",SchedulingDisabled" });
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<w$}  {:<6}  {:<27}  {:<20}  BUNDLE\n", "NAME", "ROLE", "STATUS", "K3S");
    for r in rows {
        out.push_str(&format!("{:<w$}  {:<6}  {:<27}  {:<20}  {}\n", r.name, r.role, status(r), r.k3s, r.bundle));
    }
    out.trim_end().to_string()
}

fn list(ctx: &Ctx) -> Result<()> {
    let journal = server_journal(ctx.layout, "node list")?;
    let nodes = kube::get_json(ctx.layout, &["nodes"]).context("could not list the cluster's nodes")?;
    let rows = rows(&nodes, &own_node_name(), &journal.version);
    ctx.out.data(&json!({ "nodes": rows }), || render(&rows));
    Ok(())
}

/// `k3s kubectl ARGS` with the admin kubeconfig; must succeed.
fn kubectl(layout: &Layout, args: &[&str]) -> Result<runner::Output> {
    let k3s = layout.current_k3s();
    let kubeconfig = layout.kubeconfig();
    let mut full = vec!["kubectl", "--kubeconfig", kubeconfig.as_str()];
    full.extend_from_slice(args);
    runner::run(k3s.as_str(), &full)
}

fn remove(ctx: &Ctx, name: &str) -> Result<()> {
    server_journal(ctx.layout, "node remove")?;
    if name == own_node_name() {
        bail!(Failure::new(ExitCode::Failed, format!("'{name}' is this machine, the server you are on"))
            .help("to take this server away, uninstall it ('sudo floppies uninstall'); it names the machines that would be left without it"));
    }
    let nodes = kube::get_json(ctx.layout, &["nodes"]).context("could not list the cluster's nodes")?;
    let known = rows(&nodes, "", "");
    let Some(node) = known.iter().find(|r| r.name == name) else {
        let names: Vec<&str> = known.iter().map(|r| r.name.as_str()).collect();
        bail!(Failure::new(ExitCode::Failed, format!("the cluster has no node '{name}' (it has: {})", names.join(", "))).help("see 'sudo floppies node list'"));
    };
    let servers = known.iter().filter(|r| r.role == "server").count();
    let mut plan = vec![
        format!("cordon {name}: no new pods there"),
        format!("drain {name}: move its pods away (at most 120 s; a machine that is gone cannot answer, and is deleted anyway)"),
        format!("delete node {name}: the cluster forgets it"),
    ];
    if node.role == "server" {
        plan.push(format!("k3s removes {name}'s etcd member when its node is deleted; {}", quorum_after(servers - 1)));
    }
    if ctx.global.dry_run {
        ctx.out.data(&json!({ "plan": plan, "changed": false }), || format!("Would:\n  {}\nNothing was changed (--dry-run).", plan.join("\n  ")));
        return Ok(());
    }
    require_root("node remove")?;
    runner::log_to(&ctx.layout.log_file("node-remove"))?;
    kubectl(ctx.layout, &["cordon", name])?;
    ctx.out.say(format!("{name}: cordoned; draining ..."));
    let drained = kubectl(ctx.layout, &["drain", name, "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=120s"]);
    if let Err(e) = &drained {
        ctx.out.warn(format!("{name} could not be drained ({}); deleting it anyway, its pods start elsewhere", floppies_format::error::render(e)));
    }
    kubectl(ctx.layout, &["delete", "node", name])?;
    let left = (node.role == "server").then(|| quorum_after(servers - 1));
    ctx.out.data(&json!({ "removed": name, "drained": drained.is_ok(), "servers_left": left.as_ref().map(|_| servers - 1), "changed": true }), || {
        let mut text = format!("{name} is no longer part of the cluster. If floppies is still installed there, run 'sudo floppies uninstall' on it.");
        if let Some(l) = &left {
            text.push_str(&format!("\nThe cluster's etcd {l}."));
        }
        text
    });
    Ok(())
}

/// What N servers on embedded etcd survive: etcd needs a majority of its members.
pub fn quorum_after(n: usize) -> String {
    match n {
        0 | 1 => format!("{n} server left: it survives no loss"),
        2 => "2 servers left: they survive no loss (etcd needs both); add a third".to_string(),
        n => format!("{n} servers left: they survive the loss of {}", (n - 1) / 2),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Value {
        serde_json::from_str(
            r#"{"items":[
            {"metadata":{"name":"server","labels":{"node-role.kubernetes.io/control-plane":"true"}},"spec":{},
             "status":{"conditions":[{"type":"Ready","status":"True"}],"nodeInfo":{"kubeletVersion":"v1.35.8+k3s1"}}},
            {"metadata":{"name":"agent","labels":{"floppies.io/bundle-version":"1.2.3"}},"spec":{"unschedulable":true},
             "status":{"conditions":[{"type":"Ready","status":"False"}],"nodeInfo":{"kubeletVersion":"v1.35.8+k3s1"}}},
            {"metadata":{"name":"other","labels":{}},"spec":{},"status":{}}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn rows_name_roles_readiness_and_bundles() {
        let r = rows(&nodes(), "server", "1.2.3");
        assert_eq!((r[0].role, r[0].ready, r[0].bundle.as_str()), ("server", true, "1.2.3"));
        assert_eq!((r[1].role, r[1].ready, r[1].schedulable, r[1].bundle.as_str()), ("agent", false, false, "1.2.3"));
        assert_eq!((r[2].ready, r[2].k3s.as_str(), r[2].bundle.as_str()), (false, "unknown", "unknown"));
    }

    #[test]
    fn the_table_uses_kubectls_status_words() {
        let text = render(&rows(&nodes(), "server", "1.2.3"));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{text}");
        assert!(lines[1].starts_with("server  server  Ready "), "{text}");
        assert!(lines[2].starts_with("agent   agent   NotReady,SchedulingDisabled"), "{text}");
    }

    #[test]
    fn server_addresses_are_the_other_control_plane_nodes() {
        let list: Value = serde_json::from_str(
            r#"{"items":[
            {"metadata":{"name":"one","labels":{"node-role.kubernetes.io/control-plane":"true"}},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"}]}},
            {"metadata":{"name":"two","labels":{"node-role.kubernetes.io/control-plane":"true"}},"status":{"addresses":[{"type":"Hostname","address":"two"},{"type":"InternalIP","address":"10.0.0.2"}]}},
            {"metadata":{"name":"agent","labels":{}},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.3"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(server_addresses(&list, "one"), ["10.0.0.2"]);
        assert_eq!(server_addresses(&list, "nobody"), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(server_url("fd00::1"), "https://[fd00::1]:6443");
    }

    #[test]
    fn quorum_is_a_majority() {
        assert!(quorum_after(1).contains("no loss"));
        assert!(quorum_after(2).contains("no loss"), "two servers survive nothing one would not");
        assert!(quorum_after(3).ends_with("the loss of 1"));
        assert!(quorum_after(4).ends_with("the loss of 1"));
        assert!(quorum_after(5).ends_with("the loss of 2"));
    }

    #[test]
    fn join_files_are_new_private_files_in_a_safe_directory() {
        use std::os::unix::fs::PermissionsExt;
        let d = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-node-add-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        write_join_file(&d.join("join.json"), "{}\n").unwrap();
        assert_eq!(std::fs::metadata(d.join("join.json")).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_join_file(&d.join("join.json"), "again").is_err(), "never over an existing file");
        std::os::unix::fs::symlink("/etc/passwd", d.join("planted.json")).unwrap();
        assert!(write_join_file(&d.join("planted.json"), "x").is_err(), "never through a link");
        let open = d.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = write_join_file(&open.join("join.json"), "x").unwrap_err();
        assert!(format!("{e:#}").contains("another user can write"), "{e:#}");
        assert!(!open.join("join.json").exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
