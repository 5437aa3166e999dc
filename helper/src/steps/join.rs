//! The steps of `join FILE`: install's, for a machine that joins a cluster
//! as an agent. Preflight adds the join checks; unpack, the default route,
//! the host baseline and the summary are install's own; the firewall opens
//! what an agent receives from the servers, only from their addresses; stage
//! places the images (pods may run on any machine) and a config that points
//! k3s at the server, with the token in a file; the service runs `k3s agent`;
//! the wait asks the cluster, through the node's own kubeconfig, for this
//! node to be Ready. The undos are install's: what a joined machine leaves is
//! a subset of what a server leaves.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::fs;
use std::time::{Duration, Instant};

use super::{baseline, k3s_service, network, on_path, peers, stage, unpack, InstallCx, Step, UfwMode, UninstallCx};
use crate::files::{private_dir, write_private};
use crate::host::ufw;
use crate::joinfile::{server_host_port, JoinFile, NodeRole};
use crate::journal::Journal;
use crate::layout::{Layout, K3S_UNIT};
use crate::preflight;
use crate::runner;
use floppies_format::error::{ExitCode, Failure};

/// The token k3s reads (`token-file:`), root only, removed with /etc/rancher/k3s.
pub const TOKEN_FILE: &str = "/etc/rancher/k3s/join-token";
/// The kubelet's kubeconfig on an agent: it may read its own Node.
pub const KUBELET_KUBECONFIG: &str = "/var/lib/rancher/k3s/agent/kubelet.kubeconfig";
/// The label naming the bundle version a node joined with (node list shows it).
pub const BUNDLE_LABEL: &str = "floppies.io/bundle-version";
/// The journal entry only a joined machine has.
const FIREWALL_STEP: &str = "join-firewall";

/// The join steps, in order. FILE is None for uninstall, which needs only the undos.
pub fn join_steps(file: Option<&JoinFile>, ufw: UfwMode) -> Vec<Box<dyn Step>> {
    let file = file.cloned();
    vec![
        Box::new(JoinPreflight(file.clone())),
        Box::new(unpack::Unpack),
        Box::new(network::Network),
        Box::new(JoinFirewall { file: file.clone(), ufw }),
        Box::new(JoinStage(file.clone())),
        Box::new(baseline::HostBaseline),
        Box::new(JoinService(role_of(&file))),
        Box::new(JoinWait(role_of(&file))),
        Box::new(on_path::OnPath),
    ]
}

/// True when the journal is a joined machine's.
pub fn is_joined(journal: &Journal) -> bool {
    journal.entry(FIREWALL_STEP).is_some() || journal.entry("join-stage").is_some()
}

/// The role a joined machine joined as (None: not joined; a journal from
/// before servers could join has no role, and was an agent).
pub fn joined_role(journal: &Journal) -> Option<NodeRole> {
    if !is_joined(journal) {
        return None;
    }
    let role = [FIREWALL_STEP, "join-stage"].iter().find_map(|s| journal.entry(s).and_then(|e| e.record["role"].as_str().map(String::from)));
    Some(if role.as_deref() == Some("server") { NodeRole::Server } else { NodeRole::Agent })
}

/// The servers a joined machine was pointed at, from its journal.
pub fn joined_servers(journal: &Journal) -> Vec<String> {
    journal
        .entry("join-stage")
        .and_then(|e| e.record["servers"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// The role a join file asks for (uninstall, with no file, needs only the undos, the same for both).
fn role_of(file: &Option<JoinFile>) -> NodeRole {
    file.as_ref().map(|f| f.role).unwrap_or(NodeRole::Agent)
}

fn need<'a>(file: &'a Option<JoinFile>, step: &str) -> Result<&'a JoinFile> {
    file.as_ref().with_context(|| format!("bug: the {step} step of join ran without a join file"))
}

/// This host's node name, as k3s derives it: the hostname, lowercased.
pub fn node_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_lowercase()
}

/// Step 1: every install check, then the join checks; all reported together.
pub struct JoinPreflight(Option<JoinFile>);

impl Step for JoinPreflight {
    fn name(&self) -> &'static str {
        "preflight"
    }
    fn summary(&self) -> &'static str {
        "install's checks, then: the join file's build, each server answers and presents the token's CA, the clocks agree"
    }
    fn undo_summary(&self) -> &'static str {
        "nothing to undo"
    }
    fn changes_host(&self) -> bool {
        false
    }
    fn done(&self, _cx: &InstallCx) -> Result<bool> {
        Ok(false)
    }
    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let file = need(&self.0, "preflight")?;
        let report = join_report(cx, file);
        cx.out.say(report.render().trim_end());
        let failed = report.failed();
        if !failed.is_empty() {
            let list: Vec<String> = failed.iter().map(|c| format!("{}: {}", c.id, c.message)).collect();
            let remedies: Vec<String> = failed.iter().filter_map(|c| c.remedy.clone()).collect();
            bail!(Failure::new(ExitCode::Preflight, format!("preflight failed, nothing was changed: {}", list.join("; "))).help(remedies.join("; ")));
        }
        Ok(serde_json::to_value(&report.facts)?)
    }
    fn undo(&self, _cx: &UninstallCx, _record: &Value) -> Result<()> {
        Ok(())
    }
}

/// Install's checks, the ufw line saying what join adds, then the join checks.
pub fn join_report(cx: &InstallCx, file: &JoinFile) -> preflight::Report {
    let installed = cx.journal.entry("k3s-service").is_some();
    let role = match file.role {
        NodeRole::Agent => preflight::network::Role::Agent,
        NodeRole::Server => preflight::network::Role::EtcdServer,
    };
    let mut report = preflight::run_as(cx.layout, cx.manifest.as_ref(), installed, role);
    for c in report.checks.iter_mut().filter(|c| c.id == "ufw" && c.result == preflight::Verdict::Fixable) {
        c.message = match file.role {
            NodeRole::Agent => {
                "ufw is active: join adds rules for the pod and service networks, and 10250/tcp and 8472/udp from this machine's network (and servers outside it), tagged 'floppies'".into()
            }
            NodeRole::Server => "ufw is active: join adds 6443/tcp from anyone, the pod and service networks, and 2379-2380/tcp, 10250/tcp, 8472/udp from this machine's network (and servers outside it), tagged 'floppies'".into(),
        };
    }
    let (version, build) = cx.bundle.map(|b| (b.header.version.clone(), b.header.payload_sha256.clone())).unwrap_or_default();
    report.checks.extend(preflight::join::checks(file, &version, &build));
    report
}

/// The ufw rules an agent needs: the pod and service networks, and the
/// kubelet (10250/tcp) and flannel VXLAN (8472/udp) from every machine of the
/// cluster, which are SOURCES (peers::sources).
pub fn agent_rules(sources: &[String]) -> Vec<Vec<String>> {
    let mut rules = ufw::owned(network::UFW_POD_RULES);
    rules.extend(peers::rules(sources, false));
    rules
}

/// The ufw rules a server needs: the API from anyone (agents and
/// administrators), as install opens it, then an agent's, with etcd's client
/// and peer ports from SOURCES too.
pub fn server_rules(sources: &[String]) -> Vec<Vec<String>> {
    let mut rules = ufw::owned(&[&["allow", "6443/tcp"]]);
    rules.extend(ufw::owned(network::UFW_POD_RULES));
    rules.extend(peers::rules(sources, true));
    rules
}

/// The rules of the join file's role, admitting the network this machine
/// reaches the first server on (and any server outside it).
fn role_rules(file: &JoinFile) -> Vec<Vec<String>> {
    let network = file.servers.first().and_then(|s| server_host_port(s).ok()).and_then(|(host, _)| source_address(&host)).and_then(|a| peers::own_network(&a));
    let sources = peers::sources(network.as_deref(), &file.servers);
    match file.role {
        NodeRole::Agent => agent_rules(&sources),
        NodeRole::Server => server_rules(&sources),
    }
}

/// Step 4: where ufw is active and kept, the rules the role needs, tagged and recorded.
pub struct JoinFirewall {
    file: Option<JoinFile>,
    ufw: UfwMode,
}

impl JoinFirewall {
    fn missing(&self) -> Result<Vec<Vec<String>>> {
        ufw::missing(&role_rules(need(&self.file, FIREWALL_STEP)?))
    }
    fn active(cx: &InstallCx) -> bool {
        serde_json::from_value::<preflight::Facts>(cx.record("preflight")).unwrap_or_default().ufw_active
    }
}

impl Step for JoinFirewall {
    fn name(&self) -> &'static str {
        FIREWALL_STEP
    }
    fn summary(&self) -> &'static str {
        "where ufw is on: allow what the role receives (kubelet, VXLAN; a server also etcd and the API) from the cluster's network"
    }
    fn undo_summary(&self) -> &'static str {
        "remove the ufw rules join added"
    }
    fn plan(&self, cx: &InstallCx) -> Vec<String> {
        match (&self.file, Self::active(cx), self.ufw) {
            (Some(f), true, UfwMode::Keep) => role_rules(f).iter().map(|r| format!("ufw {} comment '{}'", r.join(" "), network::UFW_TAG)).collect(),
            (_, true, UfwMode::Disable) => vec!["ufw is disabled by the network step (--ufw disable)".into()],
            (_, true, UfwMode::Leave) => vec!["leave ufw as it is (--ufw leave): the servers may not reach this machine".into()],
            _ => vec!["ufw is not active: nothing to change".into()],
        }
    }
    fn done(&self, cx: &InstallCx) -> Result<bool> {
        Ok(!(Self::active(cx) && self.ufw == UfwMode::Keep) || self.missing()?.is_empty())
    }
    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let earlier = cx.record(FIREWALL_STEP)["ufw_added"].clone();
        let added = if Self::active(cx) && self.ufw == UfwMode::Keep {
            ufw::add_missing(&role_rules(need(&self.file, FIREWALL_STEP)?), &earlier, network::UFW_TAG)?
        } else {
            earlier.as_array().cloned().unwrap_or_default()
        };
        let role = self.file.as_ref().map(|f| f.role.name());
        Ok(json!({ "ufw_added": added, "role": role }))
    }
    fn undo(&self, _cx: &UninstallCx, record: &Value) -> Result<()> {
        ufw::remove_added(&record["ufw_added"])
    }
}

/// k3s's config on a joining machine: the server, the token file, the
/// address the route to the server leaves from, the bundle label.
pub fn agent_config(server: &str, node_ip: Option<&str>, version: &str) -> String {
    let mut text = format!("# Written by floppies-installer (join); removed by 'floppies uninstall'.\nserver: \"{server}\"\ntoken-file: \"{TOKEN_FILE}\"\n");
    if let Some(ip) = node_ip {
        text.push_str(&format!("node-ip: \"{ip}\"\n"));
    }
    text.push_str(&format!("node-label:\n  - \"{BUNDLE_LABEL}={version}\"\n"));
    text
}

/// A joining server's config: install's (the cluster's settings, which every
/// server must share, secrets encryption among them), then the agent's lines.
pub fn server_config(server: &str, node_ip: Option<&str>, version: &str) -> String {
    let install = super::stage::K3S_CONFIG.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    agent_config(server, node_ip, version).replacen('\n', &format!("\n{install}\n"), 1)
}

/// The source address of the route to HOST (`ip route get`), if any.
fn source_address(host: &str) -> Option<String> {
    let out = runner::capture("ip", &["-o", "route", "get", host]).ok()?;
    out.stdout.split_whitespace().skip_while(|w| *w != "src").nth(1).map(str::to_string)
}

/// Step 5: the images, the token file and k3s's config; on a server also the
/// chart its supervisor serves (no app manifest: the first server's is in the cluster already).
pub struct JoinStage(Option<JoinFile>);

impl JoinStage {
    fn config_text(&self, cx: &InstallCx) -> Result<String> {
        let file = need(&self.0, "join-stage")?;
        let server = &file.servers[0];
        let (host, _) = server_host_port(server).map_err(anyhow::Error::msg)?;
        let version = cx.manifest.as_ref().map(|m| m.bundle.version.clone()).unwrap_or_default();
        let ip = source_address(&host);
        Ok(match file.role {
            NodeRole::Agent => agent_config(server, ip.as_deref(), &version),
            NodeRole::Server => server_config(server, ip.as_deref(), &version),
        })
    }
}

impl Step for JoinStage {
    fn name(&self) -> &'static str {
        "join-stage"
    }
    fn summary(&self) -> &'static str {
        "place the images, the join token (a file, mode 0600), k3s's config, and on a server the chart"
    }
    fn undo_summary(&self) -> &'static str {
        "remove /etc/rancher/k3s, k3s's data dir, /var/lib/kubelet, /var/lib/cni, /run/k3s, /run/flannel"
    }
    fn done(&self, cx: &InstallCx) -> Result<bool> {
        let Some(m) = &cx.manifest else { return Ok(true) };
        let file = need(&self.0, "join-stage")?;
        let token_ok = fs::read_to_string(cx.layout.host(TOKEN_FILE)).is_ok_and(|t| t.trim() == file.token);
        let chart_ok = file.role == NodeRole::Agent || cx.layout.k3s_static_charts_dir().join(stage::CHART_FILE).is_file();
        Ok(stage::images_in_place(cx.layout, m)
            && chart_ok
            && token_ok
            && fs::read_to_string(cx.layout.k3s_config_file()).is_ok_and(|c| c == self.config_text(cx).unwrap_or_default()))
    }
    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let Some(m) = cx.manifest.clone() else { bail!("bug: join-stage without a manifest") };
        let file = need(&self.0, "join-stage")?;
        let images = stage::place_images(cx.layout, &m)?;
        let chart = if file.role == NodeRole::Server { Some(stage::place_chart(cx.layout, &m)?) } else { None };
        let config = cx.layout.k3s_config_file();
        private_dir(config.parent().expect("bug: config has a parent"), 0o755)?;
        write_private(&cx.layout.host(TOKEN_FILE), &format!("{}\n", file.token))?;
        write_private(&config, &self.config_text(cx)?)?;
        Ok(json!({ "images": images, "chart": chart, "config": config, "role": file.role.name(), "servers": file.servers, "node": node_name() }))
    }
    fn undo(&self, cx: &UninstallCx, record: &Value) -> Result<()> {
        stage::StageK3s.undo(cx, record)
    }
}

/// Step 7: the same unit as install's, running `k3s agent` (or `k3s server` for a server).
pub struct JoinService(NodeRole);

impl JoinService {
    fn unit_text(&self) -> String {
        match self.0 {
            NodeRole::Agent => agent_unit_text(),
            NodeRole::Server => k3s_service::unit_text(),
        }
    }
}

pub fn agent_unit_text() -> String {
    k3s_service::unit_text().replace("/k3s/k3s server --config", "/k3s/k3s agent --config")
}

impl Step for JoinService {
    fn name(&self) -> &'static str {
        "k3s-service"
    }
    fn summary(&self) -> &'static str {
        "install, enable and start the floppies-k3s systemd unit (k3s agent, or k3s server)"
    }
    fn undo_summary(&self) -> &'static str {
        "stop k3s; kill its containers; unmount; delete its interfaces, namespaces and iptables rules; remove the unit"
    }
    fn done(&self, cx: &InstallCx) -> Result<bool> {
        if fs::read_to_string(k3s_service::unit_path(cx.layout)).ok().as_deref() != Some(self.unit_text().as_str()) {
            return Ok(false);
        }
        let enabled = runner::capture("systemctl", &["is-enabled", "--quiet", K3S_UNIT])?.success();
        let active = runner::capture("systemctl", &["is-active", "--quiet", K3S_UNIT])?.success();
        Ok(enabled && active)
    }
    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let path = k3s_service::unit_path(cx.layout);
        crate::files::write_atomic(&path, self.unit_text().as_bytes(), 0o644)?;
        runner::run("systemctl", &["daemon-reload"])?;
        runner::run("systemctl", &["enable", K3S_UNIT])?;
        runner::run("systemctl", &["start", "--no-block", K3S_UNIT])?;
        Ok(json!({ "unit": path }))
    }
    fn undo(&self, cx: &UninstallCx, record: &Value) -> Result<()> {
        k3s_service::K3sService.undo(cx, record)
    }
}

/// This node's Ready condition as the cluster has it, read with the kubelet's
/// kubeconfig on an agent, the admin one on a server.
pub fn own_node_ready(layout: &Layout, role: NodeRole) -> Result<bool> {
    let k3s = layout.current_k3s();
    let kubeconfig = match role {
        NodeRole::Agent => layout.host(KUBELET_KUBECONFIG),
        NodeRole::Server => layout.kubeconfig(),
    };
    let name = node_name();
    let out = runner::capture(k3s.as_str(), &["kubectl", "--kubeconfig", kubeconfig.as_str(), "get", "node", &name, "-o", "json"])?;
    if !out.success() {
        bail!("the cluster does not answer for node {name}: {}", out.stderr.trim());
    }
    let node: Value = serde_json::from_str(&out.stdout).with_context(|| format!("kubectl get node {name} printed no JSON"))?;
    Ok(crate::kube::condition(&node, "Ready"))
}

/// Ok once k3s's unit here is active (systemd has its READY) and the cluster
/// sees this node Ready, as `status` asks; else what is still missing. Either
/// may come first: k3s's agent notifies once its kubelet runs, and a node
/// can be Ready in the cluster's eyes a moment before.
fn joined_and_up(layout: &Layout, role: NodeRole) -> std::result::Result<(), String> {
    let service =
        runner::capture("systemctl", &["is-active", crate::layout::K3S_UNIT]).map(|o| o.stdout.trim().to_string()).unwrap_or_else(|_| "unknown".into());
    match own_node_ready(layout, role) {
        Ok(true) if service == "active" => Ok(()),
        Ok(true) => Err(format!("the node is Ready, the k3s service still {service}")),
        Ok(false) => Err("the node is registered but not Ready".to_string()),
        Err(e) => Err(floppies_format::error::render(&e)),
    }
}

/// Step 8: until k3s runs here and the cluster sees this node Ready, bounded by --wait-timeout.
pub struct JoinWait(NodeRole);

impl Step for JoinWait {
    fn name(&self) -> &'static str {
        "wait-ready"
    }
    fn summary(&self) -> &'static str {
        "wait until k3s runs here and the cluster sees this machine Ready"
    }
    fn undo_summary(&self) -> &'static str {
        "nothing to undo"
    }
    fn changes_host(&self) -> bool {
        false
    }
    fn done(&self, cx: &InstallCx) -> Result<bool> {
        Ok(joined_and_up(cx.layout, self.0).is_ok())
    }
    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let started = Instant::now();
        let limit = Duration::from_secs(cx.opts.wait_timeout);
        loop {
            let last = match joined_and_up(cx.layout, self.0) {
                Ok(()) => return Ok(json!({ "node": node_name(), "ready_after_s": started.elapsed().as_secs() })),
                Err(why) => why,
            };
            if started.elapsed() >= limit {
                bail!(Failure::new(ExitCode::Failed, format!("this machine was not Ready in the cluster within {} s: {last}", limit.as_secs()))
                    .help("see 'journalctl -u floppies-k3s' here and 'sudo floppies node list' on the server; run join again to go on waiting, or 'sudo floppies uninstall' to undo"));
            }
            cx.out.tick(format!("waiting for node {} to be Ready ({last})", node_name()));
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    fn undo(&self, _cx: &UninstallCx, _record: &Value) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_opens_kubelet_and_vxlan_to_the_cluster_only() {
        let rules = agent_rules(&["10.0.0.0/24".into(), "fd00::1".into()]);
        let text: Vec<String> = rules.iter().map(|r| r.join(" ")).collect();
        assert_eq!(
            text,
            [
                "allow from 10.42.0.0/16 to any",
                "allow from 10.43.0.0/16 to any",
                "allow from 10.0.0.0/24 to any port 10250 proto tcp",
                "allow from 10.0.0.0/24 to any port 8472 proto udp",
                "allow from fd00::1 to any port 10250 proto tcp",
                "allow from fd00::1 to any port 8472 proto udp",
            ]
        );
        assert!(!text.iter().any(|r| r.contains("6443")), "an agent serves no API");
    }

    #[test]
    fn the_agent_config_names_the_server_a_token_file_and_never_the_token() {
        let text = agent_config("https://10.0.0.1:6443", Some("10.0.0.2"), "1.2.3");
        assert!(text.contains("server: \"https://10.0.0.1:6443\"\n"), "{text}");
        assert!(text.contains(&format!("token-file: \"{TOKEN_FILE}\"\n")), "{text}");
        assert!(text.contains("node-ip: \"10.0.0.2\"\n"), "{text}");
        assert!(text.contains("  - \"floppies.io/bundle-version=1.2.3\"\n"), "{text}");
        assert!(!text.contains("token:"), "the token is never in the config itself");
        assert!(!agent_config("https://10.0.0.1:6443", None, "1").contains("node-ip"));
    }

    #[test]
    fn a_server_opens_the_api_to_all_and_etcd_to_the_cluster_only() {
        let text: Vec<String> = server_rules(&["10.0.0.0/24".into(), "192.0.2.2".into()]).iter().map(|r| r.join(" ")).collect();
        assert_eq!(text[0], "allow 6443/tcp");
        for host in ["10.0.0.0/24", "192.0.2.2"] {
            for rule in ["port 10250 proto tcp", "port 8472 proto udp", "port 2379:2380 proto tcp"] {
                assert!(text.contains(&format!("allow from {host} to any {rule}")), "{host} {rule}: {text:?}");
            }
        }
        assert_eq!(text.len(), 9, "{text:?}");
        assert_eq!(text.iter().filter(|r| !r.starts_with("allow from ")).count(), 1, "only the API is open to anyone: {text:?}");
    }

    #[test]
    fn a_server_config_carries_installs_settings_and_the_join_lines() {
        let text = server_config("https://10.0.0.1:6443", Some("10.0.0.3"), "1.2.3");
        assert!(text.starts_with("# Written by floppies-installer (join)"), "{text}");
        for line in ["write-kubeconfig-mode: \"0600\"", "secrets-encryption: true", "server: \"https://10.0.0.1:6443\"", "node-ip: \"10.0.0.3\""] {
            assert!(text.lines().any(|l| l == line), "{line} missing: {text}");
        }
        assert!(!text.contains("cluster-init"), "a joining server joins; it does not start a cluster: {text}");
        assert!(!agent_config("https://10.0.0.1:6443", None, "1").contains("secrets-encryption"));
    }

    #[test]
    fn a_joined_servers_role_comes_from_its_journal() {
        let mut j = Journal::new("1", "test");
        j.record("join-firewall", json!({ "ufw_added": [], "role": "server" }));
        assert_eq!(joined_role(&j), Some(NodeRole::Server));
        j.record("join-stage", json!({ "role": "agent" }));
        assert_eq!(joined_role(&j), Some(NodeRole::Server), "the first step's record decides");
        let mut old = Journal::new("1", "test");
        old.record("join-stage", json!({ "servers": [] }));
        assert_eq!(joined_role(&old), Some(NodeRole::Agent), "a journal from before servers could join was an agent's");
        assert_eq!(joined_role(&Journal::new("1", "test")), None);
    }

    #[test]
    fn a_servers_unit_runs_k3s_server() {
        assert!(JoinService(NodeRole::Server).unit_text().contains("/k3s/k3s server --config"));
        assert!(JoinService(NodeRole::Agent).unit_text().contains("/k3s/k3s agent --config"));
    }

    #[test]
    fn the_agent_unit_runs_k3s_agent_with_our_config() {
        let text = agent_unit_text();
        assert!(text.contains("ExecStart=/opt/floppies/current/k3s/k3s agent --config /etc/rancher/k3s/config.yaml"), "{text}");
        assert!(!text.contains(" server "), "{text}");
    }

    #[test]
    fn only_a_joined_journal_counts_as_joined() {
        let mut j = Journal::new("1", "test");
        j.record("k3s-service", json!({}));
        assert!(!is_joined(&j));
        j.record("join-stage", json!({ "servers": ["https://10.0.0.1:6443"] }));
        assert!(is_joined(&j));
        assert_eq!(joined_servers(&j), ["https://10.0.0.1:6443"]);
    }
}
