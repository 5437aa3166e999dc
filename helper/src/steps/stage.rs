//! Step 5: everything k3s reads at start, where it reads it: the image
//! archives in its images directory (moved there from the release, so no
//! image is stored twice), the chart in its static charts directory, a
//! manifest with the namespace, secrets and the HelmChart that makes k3s's
//! own helm-controller deploy the app, and /etc/rancher/k3s/config.yaml.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde_json::{json, Value};
use std::fs;

use super::credentials;
use super::values::{MINIO_SECRET, READER_SECRET, TLS_SECRET};
use super::{InstallCx, Step, UninstallCx};
use crate::files::{copy_atomic, private_dir, write_private};
use crate::layout::{APP_NAMESPACE, K3S_LEFTOVER_DIRS};
use floppies_format::manifest::{Manifest, Role};

pub struct StageK3s;

/// k3s's config: kubeconfig readable by root only, Secrets encrypted at rest.
pub(super) const K3S_CONFIG: &str = "\
# Written by floppies-installer; removed by 'floppies uninstall'.
write-kubeconfig-mode: \"0600\"
secrets-encryption: true
";

pub const MANIFEST_FILE: &str = "floppies.yaml";
pub const CHART_FILE: &str = "floppies.tgz";
/// The node password k3s's agent writes (/etc/rancher/node/password).
const K3S_NODE_DIRS: &[&str] = &["/etc/rancher/node"];
/// Parents of k3s's directories, removed on uninstall if empty.
const K3S_PARENT_DIRS: &[&str] = &["/etc/rancher", "/var/lib/rancher"];

impl Step for StageK3s {
    fn name(&self) -> &'static str {
        "stage-k3s"
    }

    fn summary(&self) -> &'static str {
        "place the images, the chart, the HelmChart and secrets manifest, and k3s's config"
    }

    fn undo_summary(&self) -> &'static str {
        "remove /etc/rancher/k3s, k3s's data dir, /var/lib/kubelet, /var/lib/cni, /run/k3s, /run/flannel"
    }

    fn done(&self, cx: &InstallCx) -> Result<bool> {
        let Some(m) = &cx.manifest else { return Ok(true) };
        let images_ok = images_in_place(cx.layout, m);
        let expected = manifests_text(cx)?;
        let current = fs::read_to_string(cx.layout.k3s_manifests_dir().join(MANIFEST_FILE)).unwrap_or_default();
        Ok(images_ok
            && cx.layout.k3s_static_charts_dir().join(CHART_FILE).is_file()
            && current == expected
            && fs::read_to_string(cx.layout.k3s_config_file()).is_ok_and(|c| c == K3S_CONFIG))
    }

    fn apply(&self, cx: &mut InstallCx) -> Result<Value> {
        let Some(m) = cx.manifest.clone() else { bail!("bug: stage-k3s without a manifest") };
        let layout = cx.layout;
        let images = place_images(layout, &m)?;
        let chart_dst = place_chart(layout, &m)?;
        let manifests = layout.k3s_manifests_dir();
        fs::create_dir_all(&manifests).with_context(|| format!("could not create '{manifests}'"))?;
        write_private(&manifests.join(MANIFEST_FILE), &manifests_text(cx)?)?;
        let config = layout.k3s_config_file();
        private_dir(config.parent().expect("bug: config has a parent"), 0o755)?;
        write_private(&config, K3S_CONFIG)?;
        Ok(json!({ "images": images, "chart": chart_dst, "config": config }))
    }

    fn undo(&self, cx: &UninstallCx, _record: &Value) -> Result<()> {
        for dir in K3S_LEFTOVER_DIRS.iter().chain(K3S_NODE_DIRS) {
            let dir = cx.layout.host(dir);
            if fs::symlink_metadata(&dir).is_ok() {
                fs::remove_dir_all(&dir).with_context(|| format!("could not remove '{dir}'"))?;
            }
        }
        // The parents k3s made, only when nothing else of anyone's is inside.
        for dir in K3S_PARENT_DIRS {
            let _ = fs::remove_dir(cx.layout.host(dir));
        }
        Ok(())
    }
}

/// Moves the chart from the release into k3s's static charts directory, which
/// every server's supervisor serves to helm-controller's Job (join of a server uses it too).
pub(super) fn place_chart(layout: &crate::layout::Layout, m: &Manifest) -> Result<camino::Utf8PathBuf> {
    let chart = m.artifacts.iter().find(|a| a.role == Role::Chart).context("the bundle's manifest lists no chart")?;
    let dst = layout.k3s_static_charts_dir().join(CHART_FILE);
    move_into(&layout.release_dir(&m.bundle.version).join(&chart.path), &dst, chart.size)?;
    Ok(dst)
}

/// Every image archive of the bundle in k3s's images directory (join uses it too).
pub(super) fn images_in_place(layout: &crate::layout::Layout, m: &Manifest) -> bool {
    image_artifacts(m).all(|a| layout.k3s_images_dir().join(file_name(&a.path)).is_file())
}

/// Moves the bundle's image archives from the release into k3s's images directory.
pub(super) fn place_images(layout: &crate::layout::Layout, m: &Manifest) -> Result<Vec<camino::Utf8PathBuf>> {
    let release = layout.release_dir(&m.bundle.version);
    let mut images = Vec::new();
    for a in image_artifacts(m) {
        let dst = layout.k3s_images_dir().join(file_name(&a.path));
        move_into(&release.join(&a.path), &dst, a.size)?;
        images.push(dst);
    }
    Ok(images)
}

fn image_artifacts(m: &Manifest) -> impl Iterator<Item = &floppies_format::manifest::Artifact> {
    m.artifacts.iter().filter(|a| matches!(a.role, Role::K3sImages | Role::AppImages))
}

/// `floppies-` + the artifact's file name, so our archives are recognisable.
pub fn file_name(path: &str) -> String {
    format!("floppies-{}", Utf8Path::new(path).file_name().unwrap_or(path))
}

/// Moves SRC to DST (rename, or copy then remove across filesystems). A DST of
/// the right size with no SRC means an earlier run already moved it.
fn move_into(src: &Utf8Path, dst: &Utf8Path, size: u64) -> Result<()> {
    let parent = dst.parent().expect("bug: destination has a parent");
    fs::create_dir_all(parent).with_context(|| format!("could not create '{parent}'"))?;
    if !src.exists() {
        if fs::metadata(dst).is_ok_and(|m| m.len() == size) {
            return Ok(());
        }
        bail!("'{src}' is missing from the unpacked release; run the install again to unpack it afresh");
    }
    if fs::rename(src, dst).is_ok() {
        return Ok(());
    }
    copy_atomic(src, dst, 0o600)?;
    fs::remove_file(src).with_context(|| format!("could not remove '{src}'"))
}

/// The manifest k3s applies: namespace (Pod Security restricted), the two
/// secrets, and the HelmChart. JSON documents, which YAML parsers read as YAML.
pub fn manifests_text(cx: &InstallCx) -> Result<String> {
    let (user, password) = credentials::read_minio_env(cx.layout)?;
    let tls = cx.layout.tls_dir();
    let read = |name: &str| fs::read_to_string(tls.join(name)).with_context(|| format!("could not read '{tls}/{name}'"));
    let ns = APP_NAMESPACE;
    let namespace = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": ns, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "app.kubernetes.io/managed-by": "floppies-installer",
        }},
    });
    let minio = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": MINIO_SECRET, "namespace": ns },
        "stringData": { "rootUser": user, "rootPassword": password },
    });
    let (key, secret) = credentials::read_reader_env(cx.layout)?;
    let reader = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": READER_SECRET, "namespace": ns },
        "stringData": { "accessKey": key, "secretKey": secret },
    });
    let mut tls_data = json!({ "tls.crt": read("server.crt")?, "tls.key": read("server.key")? });
    if tls.join("ca.crt").is_file() {
        tls_data["ca.crt"] = json!(read("ca.crt")?);
    }
    let tls_secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": { "name": TLS_SECRET, "namespace": ns },
        "stringData": tls_data,
    });
    let values = super::values::helm_values(cx)?;
    let chart = json!({
        "apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
        "metadata": { "name": "floppies", "namespace": "kube-system" },
        "spec": {
            "chart": format!("https://%{{KUBERNETES_API}}%/static/charts/{CHART_FILE}"),
            "targetNamespace": ns,
            "createNamespace": false,
            "valuesContent": serde_json::to_string_pretty(&values)?,
        },
    });
    let docs: Vec<String> =
        [namespace, minio, reader, tls_secret, chart].iter().map(|d| serde_json::to_string_pretty(d).expect("bug: manifest not serialisable")).collect();
    Ok(format!("# Written by floppies-installer; removed by 'floppies uninstall'.\n---\n{}\n", docs.join("\n---\n")))
}
