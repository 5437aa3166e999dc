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
use std::collections::BTreeSet;
use std::fs;

use crate::pack::oci;
use crate::pack::registry::pull::{self, Platform, Pulled};
use crate::pack::registry::{self, mirrors, Client, Reference, Unreachable};
use cache::Cache;
use pins::Pins;

pub struct Options<'a> {
    pub pins: &'a Utf8Path,
    pub cache: &'a Utf8Path,
    /// `uname -m` spelling.
    pub arch: &'a str,
    /// Use the cache alone.
    pub offline: bool,
    /// Where to lay out the gathered files (nothing is laid out without it).
    pub out: Option<&'a Utf8Path>,
}

/// What a fetch gathered.
pub struct Gathered {
    pub k3s_binary: Utf8PathBuf,
    pub k3s_images: (String, Utf8PathBuf),
    pub images: Vec<Pulled>,
}

/// Gathers every pinned item for ARCH into the cache (or finds it there).
pub fn fetch(opts: &Options) -> Result<Gathered> {
    let pins = Pins::load(opts.pins)?;
    let platform = Platform::for_arch(opts.arch)?;
    let cache = Cache::new(opts.cache);
    let mut problems = Vec::new();
    let mut client = if opts.offline { None } else { Some(Client::from_env(registry::agent())?) };
    let agent = registry::agent();
    let mut unreachable: BTreeSet<String> = BTreeSet::new();

    let mut k3s_files = Vec::new();
    match &pins.k3s {
        None => problems.push(format!("k3s is not pinned yet: '{}' has no \"k3s\" section (version, and the binary and air-gap images per arch)", opts.pins)),
        Some(k3s) => {
            for role in ["k3s-binary", "k3s-images"] {
                let found: Vec<_> = k3s.artifacts.iter().filter(|a| a.role == role && a.arch == opts.arch).collect();
                let [a] = found[..] else {
                    problems.push(format!("k3s {}: '{}' must pin exactly one {role} for {} (it has {})", k3s.version, opts.pins, opts.arch, found.len()));
                    continue;
                };
                let label = format!("k3s {} {} ({})", k3s.version, a.name, a.arch);
                let Some(hex) = a.sha256.as_deref().filter(|h| is_hex64(h)) else {
                    let from = a.checksums.as_deref().unwrap_or("the release's sha256sum file");
                    problems.push(format!("{label}: not pinned yet (sha256 is null); run 'make pin' where github.com is reachable, or copy its line from {from} into \"sha256\""));
                    continue;
                };
                match gather_file(&cache, &agent, &a.url, hex, &label, opts.offline, &mut unreachable) {
                    Ok(path) => k3s_files.push((a.name.clone(), path)),
                    Err(e) => problems.push(format!("{e:#}")),
                }
            }
        }
    }

    let mut images = Vec::new();
    for image in &pins.images {
        let label = format!("image {} {}", image.label(), image.reference);
        let reference = match Reference::parse(&image.reference) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{label}: {e:#}"));
                continue;
            }
        };
        let Some(digest) = image.digest.as_deref().filter(|d| registry::reference::check_digest(d).is_ok()) else {
            problems.push(format!("{label}: not pinned yet (digest is null); run 'make pin' where its registry is reachable"));
            continue;
        };
        let host = client.as_ref().map(|c| mirrors::host_of_url(&c.endpoint(&reference)).to_string());
        if let Some(h) = host.as_ref().filter(|h| unreachable.contains(*h)) {
            problems.push(format!("{label}@{digest}: not tried, {h} is unreachable (see above)"));
            continue;
        }
        match pull::pull(client.as_mut(), &cache, &reference, digest, &platform) {
            Ok(p) => images.push(p),
            Err(e) => {
                if let (Some(h), true) = (host, e.chain().any(|c| c.is::<Unreachable>())) {
                    unreachable.insert(h);
                }
                problems.push(format!("{label}@{digest}: {e:#}"));
            }
        }
    }

    if !problems.is_empty() {
        let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
        let how = if opts.offline {
            "help: '--offline' (make OFFLINE=1) uses the cache alone: run 'make' where the internet is reachable and copy its cache here"
        } else {
            "help: where the internet is reachable, run 'make' (or 'floppies-build fetch --pins airgap/pins.json --cache DIR') and copy the cache here"
        };
        bail!(
            "could not gather the production artifacts ({} problem{}):{list}\n\
             {how}, or pre-stage each file at '{}/sha256/<its sha256 hex>' (it is verified before use); then run 'make OFFLINE=1'",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            opts.cache
        );
    }
    let mut k3s_files = k3s_files.into_iter();
    let (Some((_, k3s_binary)), Some(k3s_images)) = (k3s_files.next(), k3s_files.next()) else { bail!("bug: k3s files missing without a problem") };
    let gathered = Gathered { k3s_binary, k3s_images, images };
    if let Some(out) = opts.out {
        lay_out(&gathered, &cache, out)?;
    }
    Ok(gathered)
}

/// A plain file (a k3s release asset) by URL, into the cache.
fn gather_file(cache: &Cache, agent: &ureq::Agent, url: &str, hex: &str, label: &str, offline: bool, unreachable: &mut BTreeSet<String>) -> Result<Utf8PathBuf> {
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
            sums_by_url.insert(url.clone(), read_small(&agent, url));
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
