use super::*;
use crate::{assemble, oci, spec};
use floppies_format::archive::{self, Expected};
use floppies_format::hashing::sha256_of;
use floppies_format::header::HelperForm;

#[test]
fn the_file_name_says_both_versions() {
    assert_eq!(file_name("0.2.0", "0.1.0"), "floppies-installer-0.2.0-from-0.1.0.run");
}

/// A scratch tree with the inputs of two releases and a way to build each.
struct Releases {
    dir: Utf8PathBuf,
}

impl Releases {
    fn new(name: &str) -> Releases {
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-update-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("in/chart/templates")).unwrap();
        fs::write(dir.join("in/k3s"), "#!/bin/sh\necho stand-in k3s\n").unwrap();
        fs::write(dir.join("in/chart/Chart.yaml"), "apiVersion: v2\nname: floppies\nversion: 0.1.0\n").unwrap();
        fs::write(dir.join("in/chart/templates/a.yaml"), "kind: ConfigMap\n").unwrap();
        oci::standin(&[("docker.io/rancher/mirrored-pause:stand-in".into(), 1)], &dir.join("in/k3s-images.tar")).unwrap();
        Releases { dir }
    }

    /// Builds VERSION's .run with app images stamped STAMP and CONTENT as its one content file.
    fn build(&self, version: &str, stamp: &str, content: &str) -> Utf8PathBuf {
        self.build_with_helper(version, stamp, content, 1)
    }

    /// The same, with the stand-in helper of HELPER_KIND (two kinds differ in bytes).
    fn build_with_helper(&self, version: &str, stamp: &str, content: &str, helper_kind: u8) -> Utf8PathBuf {
        let d = self.dir.join(version);
        fs::create_dir_all(d.join("content")).unwrap();
        fs::write(d.join("content/index.html"), content).unwrap();
        let images = [("docker.io/minio/minio:stand-in".to_string(), 1), ("docker.io/y4m4/s3www:stand-in".to_string(), 1)];
        oci::standin_stamped(&images, Some(stamp), &d.join("app-images.tar")).unwrap();
        let set: spec::ArtifactSet = serde_json::from_value(serde_json::json!({
            "name": "floppies", "profile": "test", "k3s_version": "stand-in",
            "artifacts": [
                {"path": "k3s/k3s", "role": "k3s-binary", "from": self.dir.join("in/k3s"), "source": "stand-in: test", "executable": true},
                {"path": "images/k3s-airgap-images.tar", "role": "k3s-images", "from": self.dir.join("in/k3s-images.tar"), "source": "stand-in"},
                {"path": "images/app-images.tar", "role": "app-images", "from": d.join("app-images.tar"), "source": "stand-in"},
                {"path": "charts/floppies.tgz", "role": "chart", "from": self.dir.join("in/chart"), "source": "test", "package": "tgz"},
                {"path": "content", "role": "content", "from": d.join("content"), "source": "test"}
            ]
        }))
        .unwrap();
        let payload = d.join("payload.tar.zst");
        spec::pack(&set, &self.dir, version, "x86_64", 3, &payload).unwrap();
        let run = d.join("floppies-installer-test.run");
        let helper = self.dir.join("helper");
        fs::write(&helper, floppies_format::elf::minimal_elf(helper_kind)).unwrap();
        let parts = assemble::Parts {
            stub_template: &stub(),
            helper: &helper,
            helper_part: assemble::HelperPart::Raw,
            payload: &payload,
            version,
            profile: "test",
            arch: "x86_64",
            base_version: "",
        };
        assemble::assemble(&parts, &run).unwrap();
        run
    }

    /// The update file from BASE to NEW (its payload is scratch/payload.tar.zst).
    fn update(&self, base: &Utf8Path, new: &Utf8Path) -> Result<Written> {
        write(base, new, &stub(), &self.dir.join("scratch"), 3, &self.dir.join("updates"), floppies_format::header::INSTALLED_HELPER)
    }
}

fn stub() -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../stub.sh")
}

impl Drop for Releases {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn origin(m: &Manifest, path: &str) -> Origin {
    m.artifacts.iter().find(|a| a.path == path).unwrap_or_else(|| panic!("no {path}")).origin.clone().unwrap()
}

#[test]
fn an_update_carries_what_changed_and_rebuilds_the_image_archive_byte_for_byte() {
    let r = Releases::new("carries");
    let base = r.build("0.0.1-test", "0.0.1", "<p>one</p>");
    let new = r.build("0.0.2-test", "0.0.2", "<p>two</p>");
    let w = r.update(&base, &new).unwrap();
    let (s, payload) = (&w.summary, r.dir.join("scratch/payload.tar.zst"));
    let m = &s.manifest;
    let base_sha = Bundle::open(&base).unwrap().header.payload_sha256;
    let full = Bundle::open(&new).unwrap().header.payload_sha256;
    assert_eq!(m.base, Some(BaseRelease { version: "0.0.1-test".into(), payload_sha256: base_sha, full_payload_sha256: full }));
    assert_eq!(m.bundle.version, "0.0.2-test");
    for unchanged in ["k3s/k3s", "images/k3s-airgap-images.tar", "charts/floppies.tgz"] {
        assert_eq!(origin(m, unchanged), Origin::Base { path: unchanged.into() }, "{unchanged}");
    }
    assert_eq!(origin(m, "content/index.html"), Origin::Carried);
    let Origin::Blobs { base_path, recipe, carried } = origin(m, "images/app-images.tar") else { panic!("app images not by blobs") };
    assert_eq!(base_path, "images/app-images.tar");

    // Unpack the update's payload and rebuild the archive as a host would.
    let (sha, size) = sha256_of(fs::File::open(&payload).unwrap()).unwrap();
    let out = r.dir.join("unpacked");
    archive::extract(fs::File::open(&payload).unwrap(), &Expected { sha256: sha, size }, &out).unwrap();
    let listed: Vec<String> = walk(&out);
    assert_eq!(listed, ["content/index.html", carried.as_str(), recipe.as_str(), "manifest.json"], "nothing unchanged is carried");
    let recipe: delta::Recipe = serde_json::from_slice(&fs::read(out.join(&recipe)).unwrap()).unwrap();
    let base_dir = r.dir.join("base-unpacked");
    Bundle::open(&base).unwrap().extract(&base_dir).unwrap();
    let base_archive = base_dir.join(&base_path);
    let indexed = delta::index(fs::File::open(&base_archive).unwrap()).unwrap();
    assert_eq!(indexed.sha256, recipe.base_sha256);
    let mut rebuilt = Vec::new();
    delta::reassemble(&recipe, fs::File::open(out.join(&carried)).unwrap(), &mut fs::File::open(&base_archive).unwrap(), &indexed.blobs, &mut rebuilt).unwrap();
    let new_dir = r.dir.join("new-unpacked");
    Bundle::open(&new).unwrap().extract(&new_dir).unwrap();
    assert_eq!(rebuilt, fs::read(new_dir.join("images/app-images.tar")).unwrap(), "the full bundle's bytes");
    assert!(recipe.from_base_size() > 0, "the shared stand-in layer comes from the base");
    assert!(s.carried_bytes < s.full_bytes);

    // The whole release, as replay (and install) rebuild it, is the full one.
    let update = w.path.clone();
    assert_eq!(update, r.dir.join("updates/floppies-installer-0.0.2-test-from-0.0.1-test.run"));
    let replayed = r.dir.join("replayed");
    replay(&update, &base_dir, &replayed).unwrap();
    let mut full = walk(&new_dir);
    full.retain(|p| p != "manifest.json");
    assert_eq!(walk(&replayed), full);
    for p in &full {
        assert_eq!(fs::read(replayed.join(p)).unwrap(), fs::read(new_dir.join(p)).unwrap(), "{p}");
    }
    // Against another base, it is refused, naming the file.
    let other = r.dir.join("other-base");
    fs::create_dir_all(other.join("images")).unwrap();
    for p in walk(&base_dir) {
        fs::create_dir_all(other.join(&p).parent().unwrap()).unwrap();
        fs::copy(base_dir.join(&p), other.join(&p)).unwrap();
    }
    fs::copy(new_dir.join("images/app-images.tar"), other.join("images/app-images.tar")).unwrap();
    let err = format!("{:#}", replay(&update, &other, &r.dir.join("replayed-2")).unwrap_err());
    assert!(err.contains("is not the base this update needs"), "{err}");
}

#[test]
fn an_update_is_refused_between_the_same_build_or_from_an_update() {
    let r = Releases::new("refused");
    let base = r.build("0.0.1-test", "0.0.1", "one");
    let err = pack(&base, &base, &r.dir.join("scratch"), 3, &r.dir.join("p.tar.zst")).err().unwrap().to_string();
    assert!(err.contains("the same build"), "{err}");
    let new = r.build("0.0.2-test", "0.0.2", "two");
    let update = r.update(&base, &new).unwrap().path;
    let err = pack(&update, &new, &r.dir.join("scratch"), 3, &r.dir.join("p.tar.zst")).err().unwrap().to_string();
    assert!(err.contains("is itself an update"), "{err}");
}

/// Regular files below DIR, relative and sorted.
fn walk(dir: &Utf8Path) -> Vec<String> {
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

/// The helper is carried only when it changed: the base's (same sha256) is
/// named by its host path and not carried; another is carried gzip'd and
/// unpacks to exactly the new file's helper part.
#[test]
fn the_helper_is_carried_only_when_it_changed_and_then_gzipd() {
    let r = Releases::new("helper");
    let base = r.build("0.0.1-test", "0.0.1", "one");
    let same = r.build("0.0.2-test", "0.0.2", "two");
    let w = r.update(&base, &same).unwrap();
    let h = Bundle::open(&w.path).unwrap().header;
    assert_eq!(h, w.header);
    assert_eq!((h.helper_form, h.helper_size, h.helper_from.as_str()), (HelperForm::Host, 0, floppies_format::header::INSTALLED_HELPER));
    assert_eq!(h.helper_sha256, Bundle::open(&base).unwrap().header.helper_sha256);
    assert_eq!(h.base_version, "0.0.1-test");
    assert_eq!(h.payload_offset(), h.stub_size, "no helper part");
    Bundle::open(&w.path).unwrap().manifest().unwrap();

    let changed = r.build_with_helper("0.0.3-test", "0.0.3", "three", 2);
    let new_helper = Bundle::open(&changed).unwrap().helper().unwrap();
    let w = r.update(&base, &changed).unwrap();
    let h = w.header;
    assert_eq!((h.helper_form, h.helper_run_size), (HelperForm::Gzip, new_helper.len() as u64));
    assert!(h.helper_size > 0 && h.helper_size.is_multiple_of(floppies_format::header::BLOCK));
    let file = fs::read(&w.path).unwrap();
    let part = &file[h.stub_size as usize..(h.stub_size + h.helper_size) as usize];
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(part), &mut unpacked).unwrap();
    assert_eq!(unpacked, new_helper, "the gzip'd part is the new helper, padded");
    assert_eq!(sha256_of(&unpacked[..]).unwrap().0, h.helper_sha256);
    // Deterministic: the same inputs give the same update file.
    let again = r.update(&base, &changed).unwrap();
    assert_eq!(fs::read(&again.path).unwrap(), file);
    let err = format!("{:#}", Bundle::open(&w.path).unwrap().helper().unwrap_err());
    assert!(err.contains("does not hold its helper as is"), "{err}");
}
