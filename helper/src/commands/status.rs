use anyhow::{bail, Result};
use serde_json::json;

use super::Ctx;
use crate::journal::Journal;
use crate::kube;
use crate::layout::{APP_NAMESPACE, K3S_UNIT};
use crate::runner;
use floppies_format::error::{ExitCode, Failure};

pub fn run(ctx: &Ctx) -> Result<()> {
    let Some(journal) = Journal::load(&ctx.layout.state_file())? else {
        ctx.out.data(&json!({ "installed": false, "healthy": false }), || "floppies is not installed on this host.".into());
        bail!(Failure::new(ExitCode::Unhealthy, "floppies is not installed").help("install it with 'sudo sh floppies-installer.run install'"));
    };
    let mut problems = Vec::new();
    if !journal.complete {
        problems.push("the last install did not finish".to_string());
    }
    let service = runner::capture("systemctl", &["is-active", K3S_UNIT]).map(|o| o.stdout.trim().to_string()).unwrap_or_else(|_| "unknown".into());
    if service != "active" {
        problems.push(format!("the k3s service is {service}"));
    }
    if crate::steps::join::joined_role(&journal) == Some(crate::joinfile::NodeRole::Agent) {
        return agent_status(ctx, &journal, problems, service);
    }
    let mut machines = Vec::new();
    let node = match kube::get_json(ctx.layout, &["nodes"]) {
        Ok(list) => {
            let (bad, total) = kube::nodes_not_ready(&list);
            machines = super::node::rows(&list, &super::node::own_node_name(), &journal.version);
            if total == 0 || !bad.is_empty() {
                problems.push(if total > 1 { format!("not Ready: {}", bad.join(", ")) } else { "the node is not Ready".into() });
                "NotReady"
            } else {
                "Ready"
            }
        }
        Err(_) => {
            problems.push("k3s does not answer".into());
            "unknown"
        }
    };
    let app: Vec<String> = match kube::get_json(ctx.layout, &["deployments,statefulsets,jobs", "-n", APP_NAMESPACE]) {
        Ok(list) => kube::app_not_ready(&list),
        Err(_) => vec!["unknown (k3s does not answer)".into()],
    };
    problems.extend(app.iter().cloned());
    let data_bytes = dir_size(&ctx.layout.app_data_dir());
    let value = json!({
        "installed": true,
        "version": journal.version,
        "profile": journal.profile,
        "complete": journal.complete,
        "steps": journal.steps.iter().map(|e| &e.name).collect::<Vec<_>>(),
        "service": service,
        "node": node,
        "nodes": machines,
        "app_ready": app.is_empty(),
        "url": "http://THIS-HOST/",
        "data_dir": ctx.layout.app_data_dir(),
        "data_bytes": data_bytes,
        "credentials_dir": ctx.layout.credentials_dir(),
        "healthy": problems.is_empty(),
        "problems": problems,
    });
    // One line per machine once there are several (node list has the table).
    let machines_text = if machines.len() > 1 {
        machines.iter().map(|m| format!("\n  machine:     {} ({}, {})", m.name, m.role, if m.ready { "Ready" } else { "NotReady" })).collect::<String>()
    } else {
        String::new()
    };
    ctx.out.data(&value, || {
        format!(
            "floppies {} ({} profile)\n  steps done:  {}\n  k3s:         {service}, node {node}{machines_text}\n  application: {}\n  URL:         http://THIS-HOST/\n  data:        {} ({} bytes)\n  credentials: {}\n{}",
            journal.version,
            journal.profile,
            journal.steps.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
            if app.is_empty() { "ready".to_string() } else { app.join("; ") },
            ctx.layout.app_data_dir(),
            data_bytes,
            ctx.layout.credentials_dir(),
            if problems.is_empty() { "healthy".to_string() } else { format!("NOT healthy: {}", problems.join("; ")) }
        )
    });
    if !problems.is_empty() {
        bail!(Failure::new(ExitCode::Unhealthy, format!("not healthy: {}", problems.join("; ")))
            .help("run 'sudo floppies diagnose' and send the file it writes to the vendor"));
    }
    Ok(())
}

/// On a joined agent: the service and this node as the cluster sees it (the app is the servers' to show).
fn agent_status(ctx: &Ctx, journal: &Journal, mut problems: Vec<String>, service: String) -> Result<()> {
    use crate::steps::join;
    let servers = join::joined_servers(journal);
    let node = match join::own_node_ready(ctx.layout, crate::joinfile::NodeRole::Agent) {
        Ok(true) => "Ready",
        Ok(false) => {
            problems.push("this node is not Ready in the cluster".into());
            "NotReady"
        }
        Err(_) => {
            problems.push(format!("the cluster at {} does not answer", servers.join(", ")));
            "unknown"
        }
    };
    let value = json!({
        "installed": true, "version": journal.version, "profile": journal.profile, "complete": journal.complete,
        "role": "agent", "servers": servers, "node_name": join::node_name(),
        "service": service, "node": node, "healthy": problems.is_empty(), "problems": problems,
    });
    ctx.out.data(&value, || {
        format!(
            "floppies {} ({} profile): agent {} of the cluster at {}\n  k3s:  {service}, node {node}\n  the application and the other machines: 'sudo floppies status' and 'node list' on a server\n{}",
            journal.version,
            journal.profile,
            join::node_name(),
            servers.join(", "),
            if problems.is_empty() { "healthy".to_string() } else { format!("NOT healthy: {}", problems.join("; ")) }
        )
    });
    if !problems.is_empty() {
        bail!(Failure::new(ExitCode::Unhealthy, format!("not healthy: {}", problems.join("; ")))
            .help("run 'sudo floppies diagnose' here and on a server, and send both files to the vendor"));
    }
    Ok(())
}

/// Bytes in regular files below DIR (0 if absent).
fn dir_size(dir: &camino::Utf8Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.as_std_path().to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}
