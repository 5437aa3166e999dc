//! The steps that only touch files, run for real against a throwaway
//! root (a `Layout` over a scratch dir): apply, done, re-apply, and undo with
//! and without keep-data.
//! (systemd, k3s and the network are exercised in the VM harness.)

use super::*;
use camino::{Utf8Path, Utf8PathBuf};
use floppies_format::bundle::Bundle;
use std::fs;
use std::os::unix::fs::PermissionsExt;

struct Scratch(Utf8PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A small real bundle: stand-in k3s, stand-in images, a chart, content.
fn build_bundle(dir: &Utf8Path) -> Utf8PathBuf {
    crate::test_bundle::build(dir, "9.9.9-test", "hello\n")
}

fn mode(path: &Utf8Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn file_steps_apply_resume_and_undo_under_a_scratch_root() {
    let base = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-steps-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&base).unwrap();
    let _guard = Scratch(base.clone());
    let root = base.join("root");
    fs::create_dir_all(&root).unwrap();
    let layout = Layout::at(root.clone());

    let run = build_bundle(&base);
    let bundle = Bundle::open(&run).unwrap();
    let manifest = bundle.manifest().unwrap();
    let out = Reporter::new(false, true);
    let opts = InstallOptions::for_test();
    let mut cx = InstallCx { out: &out, layout: &layout, bundle: Some(&bundle), manifest: Some(manifest), opts, journal: Journal::new("9.9.9-test", "test") };
    // Undo sees only what uninstall is asked for, and the journal as install left it.
    let undo_cx = |journal: &Journal, keep_data| UninstallCx {
        out: &out,
        layout: &layout,
        bundle: None,
        manifest: None,
        opts: UninstallOptions { keep_data },
        journal: journal.clone(),
    };
    cx.journal.record("preflight", serde_json::json!({"image_variant": "cpuv1", "app_uid": 64803}));
    let file_steps: Vec<Box<dyn Step>> = vec![Box::new(unpack::Unpack), Box::new(credentials::Credentials), Box::new(stage::StageK3s)];

    for step in &file_steps {
        assert!(!step.done(&cx).unwrap(), "{} done before apply", step.name());
        let record = step.apply(&mut cx).unwrap();
        cx.journal.record(step.name(), record);
        assert!(step.done(&cx).unwrap(), "{} not done after apply", step.name());
    }
    cx.save_journal().unwrap();

    // unpack: the release, and `current` pointing at it.
    let opt = root.join("opt/floppies");
    assert!(opt.join("releases/9.9.9-test/manifest.json").is_file());
    assert_eq!(fs::read_link(opt.join("current")).unwrap().to_str(), Some("releases/9.9.9-test"));
    // credentials: private, and reused.
    let env = root.join("var/lib/floppies/credentials/minio-root.env");
    assert_eq!(mode(&env), 0o600);
    assert_eq!(mode(&root.join("var/lib/floppies/credentials")), 0o700);
    assert_eq!(mode(&root.join("var/lib/floppies/credentials/tls/server.key")), 0o600);
    let password = fs::read_to_string(&env).unwrap();
    // MinIO's data belongs to the id preflight chose, not a login user's 1000.
    let owner = |p: &Utf8Path| std::os::unix::fs::MetadataExt::uid(&fs::metadata(p).unwrap());
    let minio_data = root.join("var/lib/floppies/data/minio");
    assert_eq!(owner(&minio_data), 64803);
    // Data an older install gave to 1000 moves to the chosen id, all of it.
    fs::write(minio_data.join("object"), "x").unwrap();
    std::os::unix::fs::chown(&minio_data, Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::chown(minio_data.join("object"), Some(1000), Some(1000)).unwrap();
    assert!(!credentials::Credentials.done(&cx).unwrap());
    credentials::Credentials.apply(&mut cx).unwrap();
    assert_eq!((owner(&minio_data), owner(&minio_data.join("object"))), (64803, 64803));
    credentials::Credentials.apply(&mut cx).unwrap();
    assert_eq!(fs::read_to_string(&env).unwrap(), password, "credentials are made once");
    // stage: images moved (not copied) where k3s reads them; chart, manifest, config.
    let k3s = root.join("var/lib/rancher/k3s");
    assert!(k3s.join("agent/images/floppies-app-images.tar").is_file());
    assert!(!opt.join("releases/9.9.9-test/images/app-images.tar").exists(), "no image stored twice");
    // k3s imports the images directory in name order (os.ReadDir) and may
    // let the kubelet start while the last archive still imports: the app's
    // archive comes first.
    let mut staged: Vec<String> = fs::read_dir(k3s.join("agent/images")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    staged.sort();
    assert_eq!(staged, ["floppies-app-images.tar", "floppies-k3s-airgap-images.tar"], "the app archive first in name order");
    assert!(k3s.join("server/static/charts/floppies.tgz").is_file());
    let manifests = fs::read_to_string(k3s.join("server/manifests/floppies.yaml")).unwrap();
    assert!(manifests.contains("\"kind\": \"HelmChart\""));
    assert!(manifests.contains("pod-security.kubernetes.io/enforce"));
    assert!(manifests.contains("cpuv1"), "the variant preflight chose reaches the chart values");
    assert_eq!(mode(&k3s.join("server/manifests/floppies.yaml")), 0o600);
    assert_eq!(mode(&root.join("etc/rancher/k3s/config.yaml")), 0o600);
    // A re-run after a kill: stage finds the images already moved.
    stage::StageK3s.apply(&mut cx).unwrap();
    assert!(stage::StageK3s.done(&cx).unwrap());
    // The journal on disk says what was done.
    let j = Journal::load(&root.join("var/lib/floppies/state.json")).unwrap().unwrap();
    assert_eq!(j.steps.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["preflight", "unpack", "credentials", "stage-k3s"]);

    // Undo, keeping data: k3s's and our software gone, data and credentials kept.
    fs::write(root.join("var/lib/floppies/data/customer.txt"), "precious").unwrap();
    let ucx = undo_cx(&cx.journal, true);
    for step in file_steps.iter().rev() {
        step.undo(&ucx, &ucx.record(step.name())).unwrap();
    }
    assert!(!opt.exists() && !k3s.exists() && !root.join("etc/rancher/k3s").exists());
    assert_eq!(fs::read_to_string(root.join("var/lib/floppies/data/customer.txt")).unwrap(), "precious");
    assert_eq!(fs::read_to_string(&env).unwrap(), password);
    // Undo twice is fine; without keep-data the data goes too, but not the
    // journal: the undos after this one may fail and must still find it.
    let ucx = undo_cx(&cx.journal, false);
    for step in file_steps.iter().rev() {
        step.undo(&ucx, &Value::Null).unwrap();
    }
    let left: Vec<_> = fs::read_dir(root.join("var/lib/floppies")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["state.json"], "only the journal is left after the data undo");
    // Once every undo succeeded, the journal goes too.
    super::forget_installation(&layout, false).unwrap();
    assert!(!root.join("var/lib/floppies").exists());

    // An undo that fails after the data undo (as the network undo runs
    // after it): the journal stays, still naming what is left to undo, with
    // and without --keep-data.
    for keep_data in [true, false] {
        cx.journal = Journal::new("9.9.9-test", "test");
        cx.journal.record("preflight", serde_json::json!({"app_uid": 64803}));
        credentials::Credentials.apply(&mut cx).unwrap();
        cx.journal.record("credentials", Value::Null);
        cx.journal.record("failing", serde_json::json!({"ufw_added": [["allow", "6443/tcp"]]}));
        cx.save_journal().unwrap();
        let steps: Vec<Box<dyn Step>> = vec![Box::new(FailingUndo), Box::new(credentials::Credentials)];
        let failures = super::uninstall(&mut undo_cx(&cx.journal, keep_data), &steps).unwrap();
        assert_eq!(failures.len(), 1, "{failures:?}");
        let j = Journal::load(&root.join("var/lib/floppies/state.json")).unwrap().expect("the journal survives a failed undo");
        assert_eq!(j.entry("failing").unwrap().record["ufw_added"][0][1], "6443/tcp", "keep_data={keep_data}");
        assert!(j.entry("credentials").is_none(), "what was undone is forgotten");
        fs::remove_dir_all(root.join("var/lib/floppies")).unwrap();
    }
}

/// A step whose undo fails; it comes before credentials, so its undo runs after the data undo.
struct FailingUndo;

impl Step for FailingUndo {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn summary(&self) -> &'static str {
        "a step for tests"
    }
    fn undo_summary(&self) -> &'static str {
        "fail"
    }
    fn done(&self, _cx: &InstallCx) -> Result<bool> {
        Ok(true)
    }
    fn apply(&self, _cx: &mut InstallCx) -> Result<Value> {
        Ok(Value::Null)
    }
    fn undo(&self, _cx: &UninstallCx, _record: &Value) -> Result<()> {
        anyhow::bail!("the firewall said no")
    }
}

/// Install reads the payload once: the manifest first, then the extraction,
/// which verifies the hash before it commits. A payload damaged anywhere is
/// still named as damaged (exit 3), and nothing is left in the target.
#[test]
fn a_damaged_payload_is_named_damaged_and_commits_nothing() {
    use floppies_format::error::{classify, ExitCode};
    let base = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-damage-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&base).unwrap();
    let _guard = Scratch(base.clone());
    let run = build_bundle(&base);
    let good = Bundle::open(&run).unwrap();
    let (offset, size) = (good.header.payload_offset(), good.header.payload_size);
    let damaged = |at: u64, name: &str| {
        let mut bytes = fs::read(&run).unwrap();
        bytes[at as usize] ^= 0x55;
        let path = base.join(name);
        fs::write(&path, bytes).unwrap();
        Bundle::open(&path).unwrap()
    };
    // Near the end: the manifest reads, the extraction refuses and leaves no release.
    let late = damaged(offset + size - 3, "late.run");
    late.manifest().expect("the manifest comes first and is intact");
    let target = base.join("release");
    let err = late.extract(&target).unwrap_err();
    assert_eq!(classify(&err).0, ExitCode::BadBundle, "{err:#}");
    assert!(!target.exists(), "nothing is committed");
    let left: Vec<_> = fs::read_dir(&base).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.contains("staging")).collect();
    assert!(left.is_empty(), "no staging dir is left: {left:?}");
    // At the start: the manifest cannot be read, and that is named damage, not a decoder error.
    let early = damaged(offset + 16, "early.run");
    let err = early.manifest().unwrap_err();
    assert_eq!(classify(&err).0, ExitCode::BadBundle, "{err:#}");
    assert!(format!("{err:#}").contains("the payload is damaged"), "{err:#}");
    // The intact file still extracts.
    assert!(good.extract(&target).unwrap() > 0);
}

#[test]
fn uninstall_undoes_what_node_add_added_before_what_install_or_join_did() {
    let names = |steps: Vec<Box<dyn Step>>| steps.iter().map(|s| s.name()).collect::<Vec<_>>();
    let server = names(server_undo_steps());
    let at = |list: &[&str], name: &str| list.iter().position(|n| *n == name).unwrap_or_else(|| panic!("{name} missing from {list:?}"));
    // Undo runs backwards: node add's steps come after install's waits, before the PATH link.
    assert!(at(&server, "smoke-check") < at(&server, peers::STEP), "{server:?}");
    assert!(at(&server, peers::STEP) < at(&server, etcd::STEP), "the rules were added before the move to etcd: {server:?}");
    assert_eq!(server.last(), Some(&"floppies-on-path"), "{server:?}");
    let joined = names(join_undo_steps());
    assert!(at(&joined, "wait-ready") < at(&joined, peers::STEP), "{joined:?}");
    assert!(!joined.contains(&etcd::STEP), "a joined server joined etcd; it has no drop-in of its own: {joined:?}");
}
