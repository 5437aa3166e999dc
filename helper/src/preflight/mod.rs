//! Preflight: every check runs and all are reported together, before
//! anything on the host changes. Each has an id, a verdict, a one-line message
//! and, where the user can act, the exact remedy. The facts install needs
//! (image variant, whether to add a default route or firewall rules) come
//! from the same run.

mod host;
pub mod join;
pub mod network;
mod resources;

use serde::Serialize;

use floppies_format::manifest::Manifest;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    /// Install will fix it (and uninstall will undo the fix).
    Fixable,
    Fail,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub result: Verdict,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

impl Check {
    pub fn pass(id: &'static str, message: impl Into<String>) -> Check {
        Check { id, result: Verdict::Pass, message: message.into(), remedy: None }
    }
    pub fn warn(id: &'static str, message: impl Into<String>) -> Check {
        Check { id, result: Verdict::Warn, message: message.into(), remedy: None }
    }
    pub fn fixable(id: &'static str, message: impl Into<String>) -> Check {
        Check { id, result: Verdict::Fixable, message: message.into(), remedy: None }
    }
    pub fn fail(id: &'static str, message: impl Into<String>, remedy: impl Into<String>) -> Check {
        Check { id, result: Verdict::Fail, message: message.into(), remedy: Some(remedy.into()) }
    }
    pub fn remedy(mut self, remedy: impl Into<String>) -> Check {
        self.remedy = Some(remedy.into());
        self
    }
}

/// What install needs to know, decided by preflight.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Facts {
    /// x86-64 level 1..4 (0 where not applicable).
    pub cpu_level: u8,
    /// `default` or `cpuv1`.
    pub image_variant: String,
    /// No default route: install adds a dummy one.
    pub add_default_route: bool,
    /// ufw is active: install adds tagged rules (or disables it, per --ufw).
    pub ufw_active: bool,
    /// firewalld is running: install adds its rules.
    pub firewalld_active: bool,
    /// The uid and gid the app's pods run as and its data dir belongs to (0: not decided).
    #[serde(default)]
    pub app_uid: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub facts: Facts,
}

impl Report {
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.result == Verdict::Fail).collect()
    }

    /// The table `floppies preflight` prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let tag = match c.result {
                Verdict::Pass => "ok",
                Verdict::Warn => "WARN",
                Verdict::Fixable => "FIX",
                Verdict::Fail => "FAIL",
            };
            out.push_str(&format!("{tag:>4}  {:<14} {}\n", c.id, c.message));
            if let Some(r) = &c.remedy {
                out.push_str(&format!("      {:<14} remedy: {r}\n", ""));
            }
        }
        let failed = self.failed().len();
        out.push_str(&if failed == 0 {
            "Preflight passed: this host can take the installation.\n".to_string()
        } else {
            format!("Preflight failed: {failed} problem(s) to fix before installing.\n")
        });
        out
    }
}

/// Runs every check for a server (install). `manifest` is the bundle's (None when run without one).
pub fn run(layout: &crate::layout::Layout, manifest: Option<&Manifest>, installed: bool) -> Report {
    run_as(layout, manifest, installed, network::Role::Server)
}

/// Runs every check for a machine of `role`.
pub fn run_as(layout: &crate::layout::Layout, manifest: Option<&Manifest>, installed: bool, role: network::Role) -> Report {
    let mut facts = Facts { image_variant: "default".into(), ..Facts::default() };
    let mut checks = Vec::new();
    checks.extend(host::checks(manifest, installed));
    checks.push(host::app_user(layout, &mut facts));
    checks.extend(host::cpu(manifest, &mut facts));
    checks.extend(resources::checks(manifest, installed));
    checks.extend(network::checks(installed, role, &mut facts));
    Report { checks, facts }
}
