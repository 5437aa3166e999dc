//! The production build's inputs: every upstream artifact pinned in
//! airgap/pins.json, gathered into the content-addressed cache and verified
//! before use, then laid out for build/bundle's prod artifact set:
//!
//!   OUT/k3s                          the k3s binary for ARCH
//!   OUT/k3s-airgap-images.tar.zst    k3s's own air-gap image archive
//!   OUT/app-images.tar               the app images, one OCI archive
//!
//! Every problem (unpinned items, unreachable hosts, digest mismatches,
//! items missing offline) is collected and reported together.

pub mod cache;
pub mod pins;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use crate::oci;
use crate::provenance::{self, ArtifactPin, ImagePin, Provenance};
use crate::registry::mirrors::Mirrors;
use crate::registry::pull::{self, Platform, Pulled};
use crate::registry::{self, mirrors, Client, Reference, Unreachable};
use cache::{Cache, Memo};
use floppies_format::manifest::Role;
use pins::{K3sArtifact, PinnedImage, Pins};

pub struct Options<'a> {
    pub pins: &'a Utf8Path,
    pub cache: &'a Utf8Path,
    /// `uname -m` spelling.
    pub arch: &'a str,
    /// Use the cache alone.
    pub offline: bool,
    /// Refuse any item whose sha256 or digest is null (releases: STRICT_PINS=1).
    pub strict: bool,
    /// Where to lay out the gathered files (nothing is laid out without it).
    pub out: Option<&'a Utf8Path>,
}

/// What a fetch gathered.
pub struct Gathered {
    pub k3s_binary: Utf8PathBuf,
    pub k3s_images: (String, Utf8PathBuf),
    pub images: Vec<Pulled>,
    pub provenance: Provenance,
}

/// One build's network state: hosts that did not answer (not tried again)
/// and checksum files already read.
struct Session<'a> {
    opts: &'a Options<'a>,
    agent: ureq::Agent,
    client: Option<Client>,
    mirrors: Mirrors,
    memo: Memo,
    unreachable: BTreeSet<String>,
    sums: BTreeMap<String, Result<String, String>>,
    /// `pinned in airgap/pins.json`
    pinned_in: String,
}

/// Gathers every item for ARCH into the cache (or finds it there). A null
/// sha256 or digest is resolved now, from the release's checksum file or the
/// registry's tag, unless `strict`; either way the bytes are verified.
pub fn fetch(opts: &Options) -> Result<Gathered> {
    let pins = Pins::load(opts.pins)?;
    let platform = Platform::for_arch(opts.arch)?;
    let cache = Cache::new(opts.cache);
    let mut s = Session {
        opts,
        agent: registry::agent(),
        client: if opts.offline { None } else { Some(Client::from_env(registry::agent())?) },
        mirrors: Mirrors::from_env()?,
        memo: Memo::open(opts.cache)?,
        unreachable: BTreeSet::new(),
        sums: BTreeMap::new(),
        pinned_in: format!("pinned in {}", pins_label(opts.pins)),
    };
    let mut problems = Vec::new();
    let mut provenance = Provenance::default();

    let mut k3s_files = Vec::new();
    match &pins.k3s {
        None => problems.push(format!("k3s is not pinned yet: '{}' has no \"k3s\" section (version, and the binary and air-gap images per arch)", opts.pins)),
        Some(k3s) => {
            for role in [Role::K3sBinary, Role::K3sImages] {
                let found: Vec<_> = k3s.artifacts.iter().filter(|a| a.role == role && a.arch == opts.arch).collect();
                let [a] = found[..] else {
                    problems.push(format!(
                        "k3s {}: '{}' must pin exactly one {} for {} (it has {})",
                        k3s.version,
                        opts.pins,
                        role.name(),
                        opts.arch,
                        found.len()
                    ));
                    continue;
                };
                let label = format!("k3s {} {} ({})", k3s.version, a.name, a.arch);
                match s.gather_k3s(&cache, a, &label) {
                    Ok((path, hex, pinned)) => {
                        k3s_files.push((a.name.clone(), path));
                        provenance.artifacts.push(ArtifactPin { role, sha256: hex, pinned });
                    }
                    Err(e) => problems.push(format!("{e:#}")),
                }
            }
        }
    }

    let mut images = Vec::new();
    for image in &pins.images {
        let label = format!("image {} {}", image.label(), image.reference);
        match s.gather_image(&cache, image, &platform, &label) {
            Ok((pulled, pinned)) => {
                provenance.images.push(ImagePin { reference: image.reference.clone(), digest: pulled.digest.clone(), pinned });
                images.push(pulled);
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }

    if !problems.is_empty() {
        let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
        let hosts =
            if s.unreachable.is_empty() { String::new() } else { format!("\nunreachable: {}", s.unreachable.iter().cloned().collect::<Vec<_>>().join(", ")) };
        let how = if opts.offline {
            "help: '--offline' (make OFFLINE=1) uses the cache alone: run 'make' where the internet is reachable and copy its cache here"
        } else {
            "help: where the internet is reachable, run 'make' (or 'floppies-build fetch --pins airgap/pins.json --cache DIR') and copy the cache here"
        };
        bail!(
            "could not gather the production artifacts ({} problem{}):{list}{hosts}\n\
             {how}, or pre-stage each file at '{}/sha256/<its sha256 hex>' (it is verified before use); then run 'make OFFLINE=1'",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            opts.cache
        );
    }
    s.memo.save()?;
    let mut k3s_files = k3s_files.into_iter();
    let (Some((_, k3s_binary)), Some(k3s_images)) = (k3s_files.next(), k3s_files.next()) else { bail!("bug: k3s files missing without a problem") };
    let gathered = Gathered { k3s_binary, k3s_images, images, provenance };
    if let Some(out) = opts.out {
        lay_out(&gathered, &cache, out)?;
    }
    Ok(gathered)
}

impl Session<'_> {
    /// The sha256 a k3s asset is pinned or resolved at, then the file itself.
    fn gather_k3s(&mut self, cache: &Cache, a: &K3sArtifact, label: &str) -> Result<(Utf8PathBuf, String, String)> {
        let url = mirrors::release_url(&a.url)?;
        let (hex, mut pinned) = match a.sha256.as_deref() {
            Some(h) if is_hex64(h) => (h.to_string(), self.pinned_in.clone()),
            Some(h) => bail!("{label}: its sha256 '{h}' in '{}' is not 64 lowercase hex digits", self.opts.pins),
            None if self.opts.strict => bail!("{label}: not pinned (sha256 is null), and a strict build (STRICT_PINS=1) takes only pinned items; run 'make pin', review and commit airgap/pins.json"),
            None => self.resolve_sum(a, label)?,
        };
        if url != a.url {
            pinned.push_str(&format!("; fetched from {url}"));
        }
        let path = gather_file(cache, &self.agent, &url, &hex, label, self.opts.offline, &mut self.unreachable)?;
        Ok((path, hex, pinned))
    }

    /// Reads the sum of A from its release's checksum file (once per file),
    /// or offline from what an earlier build resolved.
    fn resolve_sum(&mut self, a: &K3sArtifact, label: &str) -> Result<(String, String)> {
        let Some(checksums) = &a.checksums else {
            bail!("{label}: not pinned (sha256 is null) and no \"checksums\" URL to resolve it from");
        };
        let key = format!("{checksums}#{}", a.name);
        if self.opts.offline {
            return self.memo.recall(&key).with_context(|| format!("{label}: not pinned (sha256 is null), and offline nothing can resolve it: run 'make' once where {} is reachable (the cache remembers what it resolved), or pin it with 'make pin'", mirrors::host_of_url(checksums)));
        }
        let url = mirrors::release_url(checksums)?;
        let host = mirrors::host_of_url(&url).to_string();
        if self.unreachable.contains(&host) {
            bail!("{label}: not pinned (sha256 is null) and not resolved: {host} is unreachable (see above)");
        }
        if !self.sums.contains_key(&url) {
            let read = read_small(&self.agent, &url).map_err(|e| {
                if e.chain().any(|c| c.is::<Unreachable>()) {
                    self.unreachable.insert(host.clone());
                }
                format!("{e:#}")
            });
            self.sums.insert(url.clone(), read);
        }
        let sums =
            self.sums[&url].as_ref().map_err(|e| anyhow::anyhow!("{label}: not pinned (sha256 is null), and its checksum file could not be read: {e}"))?;
        let hex = pins::sum_for(sums, &a.name).with_context(|| format!("{label}: not pinned (sha256 is null), and {url} lists no '{}'", a.name))?;
        let pinned = format!("resolved at build time from {url}");
        eprintln!("resolved at build time: {label} -> sha256:{hex} (from {url})");
        self.memo.remember(&key, &hex, &pinned);
        Ok((hex, pinned))
    }

    /// Pulls IMAGE at its pinned digest, or at the digest its tag names now.
    fn gather_image(&mut self, cache: &Cache, image: &PinnedImage, platform: &Platform, label: &str) -> Result<(Pulled, String)> {
        let reference = Reference::parse(&image.reference).with_context(|| label.to_string())?;
        // The same online and offline, so a build from the cache gives the same manifest.
        let endpoint = self.mirrors.endpoint(&reference.registry);
        let host = self.client.is_some().then(|| mirrors::host_of_url(&endpoint).to_string());
        let (digest, mut pinned) = match image.digest.as_deref() {
            Some(d) if registry::reference::check_digest(d).is_ok() => (d.to_string(), self.pinned_in.clone()),
            Some(d) => bail!("{label}: its digest '{d}' in '{}' is not sha256:<64 hex digits>", self.opts.pins),
            None if self.opts.strict => bail!("{label}: not pinned (digest is null), and a strict build (STRICT_PINS=1) takes only pinned items; run 'make pin', review and commit airgap/pins.json"),
            None if reference.tag.is_none() => bail!("{label}: not pinned (digest is null) and it has no tag to resolve"),
            None => match self.client.as_mut() {
                Some(_) if host.as_ref().is_some_and(|h| self.unreachable.contains(h)) => {
                    bail!("{label}: not pinned (digest is null) and not resolved: {} is unreachable (see above)", host.unwrap_or_default())
                }
                Some(client) => {
                    let digest = pull::resolve(client, &reference).map_err(|e| self.note_unreachable(e, host.as_deref())).with_context(|| format!("{label}: not pinned (digest is null), and its tag could not be resolved"))?;
                    let pinned = format!("resolved at build time from {endpoint}/v2/{}/manifests/{}", reference.repository, reference.tag.as_deref().unwrap_or_default());
                    eprintln!("resolved at build time: {} -> {digest}", image.reference);
                    self.memo.remember(&image.reference, &digest, &pinned);
                    (digest, pinned)
                }
                _ => self.memo.recall(&image.reference).with_context(|| format!("{label}: not pinned (digest is null), and offline nothing can resolve it: run 'make' once where {} is reachable (the cache remembers what it resolved), or pin it with 'make pin'", reference.registry))?,
            },
        };
        if let Some(h) = host.as_ref().filter(|h| self.unreachable.contains(*h)) {
            bail!("{label}@{digest}: not tried, {h} is unreachable (see above)");
        }
        if endpoint != Mirrors::default().endpoint(&reference.registry) {
            pinned.push_str(&format!("; fetched from {endpoint}"));
        }
        let pulled = pull::pull(self.client.as_mut(), cache, &reference, &digest, platform)
            .map_err(|e| self.note_unreachable(e, host.as_deref()))
            .with_context(|| format!("{label}@{digest}"))?;
        Ok((pulled, pinned))
    }

    fn note_unreachable(&mut self, e: anyhow::Error, host: Option<&str>) -> anyhow::Error {
        if let (Some(h), true) = (host, e.chain().any(|c| c.is::<Unreachable>())) {
            self.unreachable.insert(h.to_string());
        }
        e
    }
}

/// `airgap/pins.json` for the repository's pins file, else the file's name:
/// the manifest must not carry the build machine's paths.
fn pins_label(pins: &Utf8Path) -> String {
    let name = pins.file_name().unwrap_or("pins.json");
    match pins.parent().and_then(|p| p.file_name()) {
        Some("airgap") => format!("airgap/{name}"),
        _ => name.to_string(),
    }
}

/// A plain file (a k3s release asset) by URL, into the cache.
fn gather_file(
    cache: &Cache,
    agent: &ureq::Agent,
    url: &str,
    hex: &str,
    label: &str,
    offline: bool,
    unreachable: &mut BTreeSet<String>,
) -> Result<Utf8PathBuf> {
    if let Some(path) = cache.lookup(hex)? {
        return Ok(path);
    }
    let stage = format!("pre-stage it: download {url}, check its sha256 is {hex}, and place it at '{}'", cache.path(hex));
    if offline {
        bail!("{label}: not in the cache (offline); {stage}");
    }
    mirrors::check_url(url).with_context(|| label.to_string())?;
    let host = mirrors::host_of_url(url).to_string();
    if unreachable.contains(&host) {
        bail!("{label}: not tried, {host} is unreachable (see above); {stage}");
    }
    eprintln!("fetch: {label} from {url}");
    cache.download(hex, None, label, |from| cache::get_file(agent, url, from)).map_err(|e| {
        if e.chain().any(|c| c.is::<Unreachable>()) {
            unreachable.insert(host);
        }
        anyhow::anyhow!("{label}: {e:#}; {stage}")
    })
}

/// Writes the gathered files under OUT for build/bundle's prod artifact set.
fn lay_out(g: &Gathered, cache: &Cache, out: &Utf8Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("could not create '{out}'"))?;
    copy(&g.k3s_binary, &out.join("k3s"), 0o755)?;
    let (name, path) = &g.k3s_images;
    let ext = name.find(".tar").map_or(".tar", |i| &name[i..]);
    copy(path, &out.join(format!("k3s-airgap-images{ext}")), 0o644)?;
    let archive = out.join("app-images.tar");
    oci::write_archive(&g.images, cache, &archive)?;
    g.provenance.write(&out.join(provenance::FILE_NAME))?;
    eprintln!("fetch: wrote {out}/k3s, {out}/k3s-airgap-images{ext} and {archive} ({} images)", g.images.len());
    Ok(())
}

fn copy(from: &Utf8Path, to: &Utf8Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = Utf8PathBuf::from(format!("{to}.tmp"));
    fs::copy(from, &tmp).with_context(|| format!("could not copy '{from}' to '{tmp}'"))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).with_context(|| format!("could not chmod '{tmp}'"))?;
    fs::rename(&tmp, to).with_context(|| format!("could not rename '{tmp}' to '{to}'"))
}

/// Resolves every image tag to a digest and every k3s asset to the sum its
/// release's checksum file lists, and writes them into PINS (`make pin`).
/// What it reads is trusted on first use: review the diff before committing.
pub fn pin(pins_path: &Utf8Path) -> Result<()> {
    let pins = Pins::load(pins_path)?;
    let mut text = fs::read_to_string(pins_path).with_context(|| format!("could not read '{pins_path}'"))?;
    let agent = registry::agent();
    let mut client = Client::from_env(agent.clone())?;
    let mut problems = Vec::new();
    let mut changed = 0;
    for image in &pins.images {
        let result = Reference::parse(&image.reference).and_then(|r| {
            if r.tag.is_none() {
                bail!("has no tag to resolve");
            }
            pull::resolve(&mut client, &r)
        });
        match result {
            Ok(d) if image.digest.as_deref() == Some(d.as_str()) => eprintln!("pin: {} unchanged ({d})", image.reference),
            Ok(d) => {
                text = pins::set_field(&text, "reference", &image.reference, "digest", &d)?;
                eprintln!("pin: {} -> {d} (was {})", image.reference, image.digest.as_deref().unwrap_or("null"));
                changed += 1;
            }
            Err(e) => problems.push(format!("image {}: {e:#}", image.reference)),
        }
    }
    let mut sums_by_url = std::collections::BTreeMap::new();
    for a in pins.k3s.iter().flat_map(|k| &k.artifacts) {
        let Some(url) = &a.checksums else {
            problems.push(format!("k3s {}: no \"checksums\" URL to read its sum from", a.url));
            continue;
        };
        if !sums_by_url.contains_key(url) {
            sums_by_url.insert(url.clone(), mirrors::release_url(url).and_then(|u| read_small(&agent, &u)));
        }
        let sum = match &sums_by_url[url] {
            Ok(sums) => pins::sum_for(sums, &a.name).with_context(|| format!("{url} lists no '{}'", a.name)),
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
        };
        match sum {
            Ok(s) if a.sha256.as_deref() == Some(s.as_str()) => eprintln!("pin: {} unchanged", a.url),
            Ok(s) => {
                text = pins::set_field(&text, "url", &a.url, "sha256", &s)?;
                eprintln!("pin: {} -> {s} (was {})", a.url, a.sha256.as_deref().unwrap_or("null"));
                changed += 1;
            }
            Err(e) => problems.push(format!("k3s {}: {e}", a.name)),
        }
    }
    if changed > 0 {
        let tmp = Utf8PathBuf::from(format!("{pins_path}.tmp"));
        fs::write(&tmp, &text).with_context(|| format!("could not write '{tmp}'"))?;
        fs::rename(&tmp, pins_path).with_context(|| format!("could not rename '{tmp}' to '{pins_path}'"))?;
        eprintln!("pin: wrote {changed} pins into {pins_path}; review the diff before committing");
    }
    if !problems.is_empty() {
        let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
        bail!("could not pin everything ({} problem{}):{list}", problems.len(), if problems.len() == 1 { "" } else { "s" });
    }
    Ok(())
}

/// A small text file (a checksum list) by URL.
fn read_small(agent: &ureq::Agent, url: &str) -> Result<String> {
    mirrors::check_url(url)?;
    let mut resp = cache::get_file(agent, url, 0)?;
    let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().with_context(|| format!("could not read {url}"))?;
    String::from_utf8(body).with_context(|| format!("{url} is not text"))
}

fn is_hex64(h: &str) -> bool {
    h.len() == 64 && h.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}
