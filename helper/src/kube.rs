//! The few cluster queries the installer makes, through k3s's own kubectl.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::layout::{Layout, APP_NAMESPACE};
use crate::runner;

/// `k3s kubectl get ARGS -o json`, parsed.
pub fn get_json(layout: &Layout, args: &[&str]) -> Result<Value> {
    let k3s = layout.current_k3s();
    let kubeconfig = layout.kubeconfig();
    let mut full = vec!["kubectl", "--kubeconfig", kubeconfig.as_str(), "get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out = runner::capture(k3s.as_str(), &full)?;
    if !out.success() {
        bail!("kubectl get {} failed: {}", args.join(" "), out.stderr.trim());
    }
    serde_json::from_str(&out.stdout).with_context(|| format!("kubectl get {} printed no JSON", args.join(" ")))
}

/// True when the object's condition TYPE has status "True".
pub fn condition(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// Names of nodes that are not Ready, and how many nodes there are.
pub fn nodes_not_ready(list: &Value) -> (Vec<String>, usize) {
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let bad = items.iter().filter(|n| !condition(n, "Ready")).map(name).collect();
    (bad, items.len())
}

/// What in the app's namespace is not ready yet: deployments short of
/// replicas, jobs not succeeded. Empty means ready (given at least one deployment).
pub fn app_not_ready(list: &Value) -> Vec<String> {
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let mut bad = Vec::new();
    let mut deployments = 0;
    for item in &items {
        match item["kind"].as_str() {
            Some("Deployment") | Some("StatefulSet") => {
                deployments += 1;
                let want = item["spec"]["replicas"].as_u64().unwrap_or(1);
                let have = item["status"]["readyReplicas"].as_u64().unwrap_or(0);
                if have < want {
                    bad.push(format!("{} {} has {have}/{want} ready", item["kind"].as_str().unwrap_or(""), name(item)));
                }
            }
            Some("Job") if item["status"]["succeeded"].as_u64().unwrap_or(0) == 0 => {
                let failed = item["status"]["failed"].as_u64().unwrap_or(0);
                bad.push(format!("job {} has not succeeded ({failed} failed attempts)", name(item)));
            }
            _ => {}
        }
    }
    if deployments == 0 {
        bad.push(format!("no workloads in namespace '{}' yet (the chart is not deployed)", APP_NAMESPACE));
    }
    bad
}

fn name(obj: &Value) -> String {
    obj["metadata"]["name"].as_str().unwrap_or("?").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readiness_is_read_from_conditions_and_replicas() {
        let nodes = json!({"items": [{"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}]});
        assert_eq!(nodes_not_ready(&nodes), (vec!["n1".to_string()], 1));
        let app = json!({"items": [
            {"kind": "Deployment", "metadata": {"name": "minio"}, "spec": {"replicas": 1}, "status": {"readyReplicas": 1}},
            {"kind": "Deployment", "metadata": {"name": "s3www"}, "spec": {"replicas": 1}, "status": {}},
            {"kind": "Job", "metadata": {"name": "seed"}, "status": {"succeeded": 1}},
        ]});
        assert_eq!(app_not_ready(&app), vec!["Deployment s3www has 0/1 ready".to_string()]);
        assert_eq!(app_not_ready(&json!({"items": []})).len(), 1, "nothing deployed is not ready");
    }
}
