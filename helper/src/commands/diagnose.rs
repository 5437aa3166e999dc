use anyhow::Result;
use serde_json::json;

use super::Ctx;
use crate::cli::DiagnoseArgs;
use crate::diagnose::{self, collect};

pub fn run(ctx: &Ctx, args: &DiagnoseArgs) -> Result<()> {
    if args.list {
        let items: Vec<_> =
            collect::items(ctx.layout).iter().map(|i| json!({ "file": i.path, "source": collect::describe(i), "needs_k3s": i.cluster })).collect();
        ctx.out.data(&items, || {
            let mut text = String::from("diagnose would collect (nothing was collected):\n");
            for i in collect::items(ctx.layout) {
                text.push_str(&format!("  {:<34} {}{}\n", i.path, collect::describe(&i), if i.cluster { "  (if k3s answers)" } else { "" }));
            }
            text
        });
        return Ok(());
    }
    let out = ctx.out;
    let written = diagnose::run(ctx.layout, &args.output, &|item| out.tick(format!("collecting {item}")))?;
    out.tick("");
    let size = written.size;
    let path = written.path.clone();
    let mut value = serde_json::to_value(&written.index)?;
    value["path"] = json!(path);
    value["size"] = json!(size);
    ctx.out.data(&value, || {
        format!(
            "Wrote {path} ({size} bytes, readable by its owner only).\n\
             Likely problem: {}\n\
             Send this file to the vendor's support; secrets were redacted before it was written.",
            written.index.summary.first().map(String::as_str).unwrap_or("none found")
        )
    });
    Ok(())
}
