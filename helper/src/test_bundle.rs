//! Test fixture: a small real .run built by the build tool (stand-in k3s,
//! stand-in images stamped with the version, a chart, one content file),
//! shared by the step tests and the update-file tests.

use camino::{Utf8Path, Utf8PathBuf};
use floppies_build::{assemble, oci, spec};
use std::fs;

/// Builds the full .run of VERSION (app images stamped with it, CONTENT as its one file).
pub fn build(dir: &Utf8Path, version: &str, content: &str) -> Utf8PathBuf {
    let inputs = dir.join(version);
    fs::create_dir_all(inputs.join("chart/floppies/templates")).unwrap();
    fs::create_dir_all(inputs.join("content")).unwrap();
    fs::write(inputs.join("k3s"), "#!/bin/sh\necho stand-in\n").unwrap();
    fs::write(inputs.join("chart/floppies/Chart.yaml"), "apiVersion: v2\nname: floppies\nversion: 0.1.0\n").unwrap();
    fs::write(inputs.join("chart/floppies/templates/x.yaml"), "{}\n").unwrap();
    fs::write(inputs.join("content/index.html"), content).unwrap();
    oci::standin(&[("docker.io/rancher/mirrored-pause:stand-in".into(), 1)], &inputs.join("k3s-images.tar")).unwrap();
    let app = [("docker.io/minio/minio:stand-in".to_string(), 1), ("docker.io/y4m4/s3www:stand-in".to_string(), 1)];
    oci::standin_stamped(&app, Some(version), &inputs.join("app-images.tar")).unwrap();
    let set_json = serde_json::json!({
        "name": "floppies", "profile": "test", "k3s_version": "stand-in",
        "artifacts": [
            {"path": "k3s/k3s", "role": "k3s-binary", "from": "k3s", "source": "stand-in: test", "executable": true},
            {"path": "images/k3s-airgap-images.tar", "role": "k3s-images", "from": "k3s-images.tar", "source": "stand-in: test"},
            {"path": "images/app-images.tar", "role": "app-images", "from": "app-images.tar", "source": "stand-in: test"},
            {"path": "charts/floppies.tgz", "role": "chart", "from": "chart/floppies", "source": "test", "package": "tgz"},
            {"path": "content", "role": "content", "from": "content", "source": "test"}
        ]
    });
    fs::write(inputs.join("set.json"), set_json.to_string()).unwrap();
    let set = spec::ArtifactSet::load(&inputs.join("set.json")).unwrap();
    let payload = inputs.join("payload.tar.zst");
    spec::pack(&set, &inputs, version, std::env::consts::ARCH, 3, &payload).unwrap();
    let run = inputs.join("full.run");
    assemble_run(&payload, version, &run);
    run
}

const STUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../stub.sh");

/// The update file from BASE to NEW (full files built by `build`), written into DIR.
pub fn update_run(base: &Utf8Path, new: &Utf8Path, dir: &Utf8Path) -> Utf8PathBuf {
    let w =
        floppies_build::update::write(base, new, Utf8Path::new(STUB), &dir.join("update-scratch"), 3, dir, floppies_format::header::INSTALLED_HELPER).unwrap();
    w.path
}

fn assemble_run(payload: &Utf8Path, version: &str, run: &Utf8Path) {
    // Only the payload matters here: any ELF file stands in for the helper.
    let helper = run.with_file_name("helper");
    fs::write(&helper, floppies_format::elf::minimal_elf(1)).unwrap();
    let parts = assemble::Parts {
        stub_template: Utf8Path::new(STUB),
        helper: &helper,
        helper_part: assemble::HelperPart::Raw,
        base_version: "",
        payload,
        version,
        profile: "test",
        arch: std::env::consts::ARCH,
    };
    assemble::assemble(&parts, run).unwrap();
}
