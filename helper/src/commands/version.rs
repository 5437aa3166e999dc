use anyhow::Result;

use super::Ctx;
use floppies_format::bundle::Bundle;

pub fn run(ctx: &Ctx) -> Result<()> {
    let helper = env!("CARGO_PKG_VERSION");
    let bundle = match ctx.global.bundle.as_deref() {
        Some(path) => Some(Bundle::open(path)?),
        None => None,
    };
    let manifest = match &bundle {
        Some(b) => Some(b.manifest()?),
        None => None,
    };
    let value = serde_json::json!({
        "helper": helper,
        "bundle": bundle.as_ref().map(|b| &b.header),
        "manifest": manifest,
    });
    ctx.out.data(&value, || {
        let mut text = format!("floppies {helper}\n");
        if let (Some(b), Some(m)) = (&bundle, &manifest) {
            text.push_str(&format!(
                "bundle {} ({} profile{}), {}, k3s {}\n",
                b.header.version,
                b.header.profile,
                if m.is_test() { ", built from stand-ins, not a release" } else { "" },
                b.header.arch,
                m.k3s.version
            ));
        }
        text
    });
    Ok(())
}
