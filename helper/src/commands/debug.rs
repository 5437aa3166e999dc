use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::{DebugCommand, IptablesBackend};
use crate::host::{cpu, iptables};
use floppies_format::bundle::Bundle;
use floppies_format::manifest::Manifest;

pub fn run(ctx: &Ctx, cmd: &DebugCommand) -> Result<()> {
    match cmd {
        DebugCommand::Manifest => manifest(ctx),
        DebugCommand::PayloadVerify => payload_verify(ctx),
        DebugCommand::PayloadList => payload_list(ctx),
        DebugCommand::PayloadExtract { dir } => payload_extract(ctx, dir),
        DebugCommand::CpuLevel { cpuinfo } => cpu_level(ctx, cpuinfo.as_deref()),
        DebugCommand::ElfLevel { files } => elf_level(ctx, files),
        DebugCommand::IptablesCleanup { from, backend } => iptables_cleanup(ctx, from.as_deref(), *backend),
    }
}

fn bundle(ctx: &Ctx, command: &str) -> Result<Bundle> {
    Bundle::from_arg(ctx.global.bundle.as_deref(), command)
}

fn manifest(ctx: &Ctx) -> Result<()> {
    let b = bundle(ctx, "--info")?;
    let m = b.manifest()?;
    let value = serde_json::json!({ "header": b.header, "manifest": m });
    ctx.out.data(&value, || render_manifest(&m));
    Ok(())
}

/// The contents table of `--info`.
pub fn render_manifest(m: &Manifest) -> String {
    let mut text = format!("contents (manifest.json, schema {}): bundle {} {}, k3s {}\n", m.schema, m.bundle.name, m.bundle.version, m.k3s.version);
    if m.is_test() {
        text.push_str("  this is a TEST bundle built from stand-ins; it is not a release\n");
    }
    for a in &m.artifacts {
        text.push_str(&format!("  {:<11} {:<40} {:>12} bytes  sha256 {}\n", a.role.name(), a.path, a.size, a.sha256));
        text.push_str(&format!("  {:<11} source: {}\n", "", a.source));
        if let Some(p) = &a.pinned {
            text.push_str(&format!("  {:<11} pinned: {p}\n", ""));
        }
        for i in &a.images {
            let level = i.x86_64_level.map(|l| format!(" (needs x86-64-v{l})")).unwrap_or_default();
            text.push_str(&format!("  {:<11} image: {} {}{level}\n", "", i.reference, i.digest));
            if let Some(p) = &i.pinned {
                text.push_str(&format!("  {:<11}   pinned: {p}\n", ""));
            }
        }
    }
    text
}

fn payload_verify(ctx: &Ctx) -> Result<()> {
    let b = bundle(ctx, "--check")?;
    b.verify()?;
    ctx.out.data(&serde_json::json!({ "payload": "ok", "sha256": b.header.payload_sha256 }), || format!("payload: OK (sha256 {})", b.header.payload_sha256));
    Ok(())
}

fn payload_list(ctx: &Ctx) -> Result<()> {
    let b = bundle(ctx, "--list")?;
    let items = b.list()?;
    ctx.out.data(&items, || {
        items
            .iter()
            .map(|i| format!("{:>4o} {:>12}  {}{}", i.mode, i.size, i.path, if i.kind == "directory" { "/" } else { "" }))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

fn payload_extract(ctx: &Ctx, dir: &camino::Utf8Path) -> Result<()> {
    let b = bundle(ctx, "--extract")?;
    // Install's one pass over the payload. (Install reads the manifest, the
    // first entry, before; --extract takes any payload, so that its
    // defences against hostile entries can be tested on their own.)
    let files = crate::steps::extract_release(ctx.out, &b, dir)?;
    ctx.out.data(&serde_json::json!({ "extracted": dir, "files": files }), || format!("extracted {files} files into {dir} (payload verified)"));
    Ok(())
}

fn cpu_level(ctx: &Ctx, cpuinfo: Option<&camino::Utf8Path>) -> Result<()> {
    let path = cpuinfo.unwrap_or(camino::Utf8Path::new("/proc/cpuinfo"));
    let text = std::fs::read_to_string(path).with_context(|| format!("could not read '{path}'"))?;
    let level = cpu::level_from_cpuinfo(&text);
    ctx.out.data(&level, || {
        let next = if level.missing_for_next.is_empty() { String::new() } else { format!(" (lacks for the next level: {})", level.missing_for_next.join(" ")) };
        format!("{}{next}", level.name)
    });
    Ok(())
}

fn iptables_cleanup(ctx: &Ctx, from: Option<&camino::Utf8Path>, backend: IptablesBackend) -> Result<()> {
    if let Some(path) = from {
        let text = std::fs::read_to_string(path).with_context(|| format!("could not read '{path}'"))?;
        let (kept, removed) = iptables::filter_rules(&text);
        ctx.out.data(&serde_json::json!({ "removed": removed, "rules": kept }), || format!("{kept}# {removed} k3s lines removed"));
        return Ok(());
    }
    crate::commands::confirm::require_root("debug iptables-cleanup")?;
    let dry_run = ctx.global.dry_run;
    let done = match backend {
        IptablesBackend::All if dry_run => iptables::cleanup_plan(iptables::all_backends())?,
        IptablesBackend::All => iptables::cleanup_all_backends()?,
        IptablesBackend::Legacy if dry_run => iptables::cleanup_plan(iptables::LEGACY)?,
        IptablesBackend::Legacy => iptables::cleanup(iptables::LEGACY)?,
        IptablesBackend::Nft if dry_run => iptables::cleanup_plan(iptables::NFT)?,
        IptablesBackend::Nft => iptables::cleanup(iptables::NFT)?,
    };
    if dry_run {
        ctx.out.data(&done, || {
            let mut text: String = done.iter().flat_map(|c| c.lines.iter().map(move |l| format!("{}: would remove {l}\n", c.backend))).collect();
            text.push_str("Nothing was changed (--dry-run).");
            text
        });
        return Ok(());
    }
    ctx.out.data(&done, || done.iter().map(|c| format!("{}: {} k3s lines removed", c.backend, c.removed)).collect::<Vec<_>>().join("\n"));
    Ok(())
}

fn elf_level(ctx: &Ctx, files: &[camino::Utf8PathBuf]) -> Result<()> {
    use std::io::Read;
    let mut levels = Vec::new();
    for path in files {
        let mut head = Vec::new();
        std::fs::File::open(path).and_then(|f| f.take(64 * 1024).read_to_end(&mut head)).with_context(|| format!("could not read '{path}'"))?;
        levels.push(serde_json::json!({ "file": path, "level": floppies_format::elf::elf_level(&head) }));
    }
    ctx.out.data(&levels, || {
        levels
            .iter()
            .map(|l| match l["level"].as_u64() {
                Some(n) => format!("{}: x86-64-v{n}", l["file"].as_str().unwrap_or("")),
                None => format!("{}: no x86-64 ISA note (runs on any x86-64)", l["file"].as_str().unwrap_or("")),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
