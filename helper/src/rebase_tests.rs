//! An update file installed over a base laid out as install leaves it, under
//! a scratch root: the rebuilt release is the full file's, byte for byte,
//! and a wrong, missing, damaged or linked base is refused.

use super::*;
use crate::test_bundle::{build, update_run};
use floppies_format::bundle::Bundle;

struct Scratch(Utf8PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Regular files below DIR, relative and sorted.
fn files(dir: &Utf8Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = Utf8PathBuf::from_path_buf(e.unwrap().path()).unwrap();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The base's payload laid out as its install left it: the release dir, and
/// the image archives and chart moved into k3s's directories.
fn install_base(places: &Places, base: &Bundle) -> Journal {
    let m = base.manifest().unwrap();
    let release = places.releases.join(&m.bundle.version);
    base.extract(&release).unwrap();
    for a in &m.artifacts {
        let to = installed_location(places, &m.bundle.version, a.role, &a.path);
        if to != release.join(&a.path) {
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::rename(release.join(&a.path), &to).unwrap();
        }
    }
    Journal { build: base.header.payload_sha256.clone(), ..Journal::new(&m.bundle.version, "test") }
}

#[test]
fn an_update_rebuilds_the_full_release_from_the_base_and_refuses_any_other_host() {
    let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-rebase-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let _guard = Scratch(dir.clone());
    let base_run = build(&dir, "0.0.1-test", "<p>one</p>");
    let new_run = build(&dir, "0.0.2-test", "<p>two</p>");
    let update_run = update_run(&base_run, &new_run, &dir);
    let (base, new, upd) = (Bundle::open(&base_run).unwrap(), Bundle::open(&new_run).unwrap(), Bundle::open(&update_run).unwrap());
    let m = upd.manifest().unwrap();
    assert_eq!(identity(&upd.header, &m).payload_sha256, new.header.payload_sha256, "installs as the full file's build");

    let places = Places::of(&crate::layout::Layout::at(dir.join("root")));
    let refused = check(&places, &m, None).unwrap_err();
    let (code, help) = floppies_format::error::classify(&refused);
    assert_eq!(code, ExitCode::Preflight);
    assert!(format!("{refused:#}").contains("this host has no floppies installed"), "{refused:#}");
    assert!(help.unwrap_or_default().contains("full installer file of floppies 0.0.2-test"));
    let journal = install_base(&places, &base);
    assert_eq!(check(&places, &m, Some(&journal)).unwrap(), Fit::Base);
    let other_build = Journal { build: "01".repeat(32), ..journal.clone() };
    let err = format!("{:#}", check(&places, &m, Some(&other_build)).unwrap_err());
    assert!(err.contains("another build of floppies 0.0.1-test (build 010101010101)"), "{err}");
    let other_version = Journal { version: "0.0.0-test".into(), ..journal.clone() };
    assert!(format!("{:#}", check(&places, &m, Some(&other_version)).unwrap_err()).contains("this host has floppies 0.0.0-test"));
    let updated = Journal { version: "0.0.2-test".into(), build: new.header.payload_sha256.clone(), ..journal.clone() };
    assert_eq!(check(&places, &m, Some(&updated)).unwrap(), Fit::Installed);

    // A damaged base artifact (the chart, one byte longer), then one replaced by a link.
    check_base_artifacts(&places, &m).unwrap();
    let chart = installed_location(&places, "0.0.1-test", Role::Chart, "charts/floppies.tgz");
    let good = fs::read(&chart).unwrap();
    fs::write(&chart, [&good[..], b"x"].concat()).unwrap();
    let err = format!("{:#}", check_base_artifacts(&places, &m).unwrap_err());
    assert!(err.contains("missing or has damaged artifacts") && err.contains("floppies.tgz"), "{err}");
    let err = format!("{:#}", prepare(&places, &upd, &m).unwrap_err());
    assert!(err.contains("floppies.tgz"), "{err}");
    assert!(!staging_root(&places).exists(), "a refused prepare leaves no staging dir");
    fs::write(&chart, &good).unwrap();
    let images = installed_location(&places, "0.0.1-test", Role::AppImages, "images/app-images.tar");
    let aside = dir.join("aside.tar");
    fs::rename(&images, &aside).unwrap();
    std::os::unix::fs::symlink(&aside, &images).unwrap();
    let err = format!("{:#}", check_base_artifacts(&places, &m).unwrap_err());
    assert!(err.contains("not a link"), "{err}");
    fs::remove_file(&images).unwrap();
    fs::rename(&aside, &images).unwrap();

    // The rebuilt release is the full file's payload, byte for byte.
    let staged_dir = prepare(&places, &upd, &m).unwrap();
    let full = dir.join("full-unpacked");
    new.extract(&full).unwrap();
    assert_eq!(files(&staged_dir), files(&full));
    for f in files(&full) {
        assert_eq!(fs::read(staged_dir.join(&f)).unwrap(), fs::read(full.join(&f)).unwrap(), "{f}");
    }
    // With the base gone, the staged release still serves a resumed run.
    assert_eq!(check(&places, &m, None).unwrap(), Fit::Staged);
    let release = places.releases.join("0.0.2-test");
    place(&places, &staged_dir, &release).unwrap();
    assert_eq!(files(&release), files(&full));
    assert!(!staging_root(&places).exists());
    assert!(describe(&m).iter().any(|l| l.contains("images/app-images.tar") && l.contains("rebuilt from the installed 0.0.1-test")));
    // The fixture's helpers are alike, so the update runs the base's from the host.
    let line = describe_helper(&upd.header).expect("an update file's helper is described");
    assert!(line.contains("not in this file") && line.contains(floppies_format::header::INSTALLED_HELPER) && line.contains("0.0.1-test"), "{line}");
    assert_eq!(describe_helper(&new.header), None, "a full file's helper needs no word");
}
