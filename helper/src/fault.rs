//! Fault injection for the throwaway-VM tests (test-vm/): the scenarios must
//! kill the installer at every step boundary, and prove that a broken
//! uninstall is caught. Only a TEST-profile bundle or installation arms it
//! (`arm`); a production one ignores the variable, so a customer's
//! environment cannot change what install or uninstall does.
//!
//! `FLOPPIES_TEST_FAULT` holds comma-separated faults:
//!   kill-after:STEP        SIGKILL ourselves once STEP's install or undo is journalled
//!   fail-undo:STEP         uninstall fails STEP's undo before it changes anything
//!   skip-iptables-cleanup  uninstall leaves k3s's firewall rules behind

use std::sync::atomic::{AtomicBool, Ordering};

pub const VAR: &str = "FLOPPIES_TEST_FAULT";
static ARMED: AtomicBool = AtomicBool::new(false);

/// What says this run is a test: the helper's own build, the installation
/// on the real host, the bundle handed to us once its payload is verified.
pub struct TestEvidence<'a> {
    pub debug_build: bool,
    pub installed_profile: Option<&'a str>,
    pub verified_bundle_profile: Option<&'a str>,
}

impl TestEvidence<'_> {
    /// The one rule for test-only switches (faults, FLOPPIES_ROOT): a
    /// production bundle or installation honours neither, since a cleanup
    /// would act on the real /proc, mounts and firewall.
    pub fn is_test(&self) -> bool {
        self.debug_build || self.installed_profile == Some("test") || self.verified_bundle_profile == Some("test")
    }
}

/// Arms fault injection if `profile` (of a verified bundle's manifest or of
/// the journal) is "test", or this is a test build.
pub fn arm(profile: &str) {
    let evidence = TestEvidence { debug_build: cfg!(debug_assertions), installed_profile: Some(profile), verified_bundle_profile: None };
    if evidence.is_test() {
        ARMED.store(true, Ordering::Relaxed);
    }
}

fn faults() -> Vec<String> {
    if !ARMED.load(Ordering::Relaxed) {
        return Vec::new();
    }
    parse(&std::env::var(VAR).unwrap_or_default())
}

fn parse(spec: &str) -> Vec<String> {
    spec.split(',').map(str::trim).filter(|f| !f.is_empty()).map(String::from).collect()
}

/// True if the named fault is asked for (and armed).
pub fn active(name: &str) -> bool {
    faults().iter().any(|f| f == name)
}

/// True if FAULTS hold `KIND:STEP` (`kill-after:` or `fail-undo:`).
fn asks_for(faults: &[String], kind: &str, step: &str) -> bool {
    faults.iter().any(|f| f.strip_prefix(kind).and_then(|f| f.strip_prefix(':')) == Some(step))
}

/// Kills this process with SIGKILL if `kill-after:STEP` is asked for: the
/// journal of STEP is on disk, nothing after it has started.
pub fn kill_point(step: &str) {
    if asks_for(&faults(), "kill-after", step) {
        crate::runner::log_line(&format!("== test fault: SIGKILL after step {step}"));
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        // The signal may land after kill(2) returns; it always lands.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}

/// An error in place of STEP's undo if `fail-undo:STEP` is asked for, as a
/// firewall or systemd that refuses would give: uninstall must go on, and
/// keep the journal for the next run.
pub fn undo_failure(step: &str) -> anyhow::Result<()> {
    if asks_for(&faults(), "fail-undo", step) {
        crate::runner::log_line(&format!("== test fault: the undo of {step} fails"));
        anyhow::bail!("test fault: the undo of '{step}' fails ({VAR}=fail-undo:{step})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_comma_separated() {
        assert_eq!(parse(" kill-after:unpack ,skip-iptables-cleanup,"), vec!["kill-after:unpack", "skip-iptables-cleanup"]);
        assert!(parse("").is_empty());
    }

    #[test]
    fn a_fault_names_its_kind_and_step_exactly() {
        let faults = parse("fail-undo:network,kill-after:unpack");
        assert!(asks_for(&faults, "fail-undo", "network"));
        assert!(!asks_for(&faults, "fail-undo", "unpack"), "each fault is for its own step");
        assert!(!asks_for(&faults, "kill-after", "network"), "and of its own kind");
        assert!(asks_for(&faults, "kill-after", "unpack"));
        assert!(!asks_for(&parse("fail-undo:networks"), "fail-undo", "network"));
        assert!(!asks_for(&parse("fail-undonetwork"), "fail-undo", "network"));
    }

    #[test]
    fn only_test_evidence_is_a_test() {
        let e = |debug_build, installed_profile, verified_bundle_profile| TestEvidence { debug_build, installed_profile, verified_bundle_profile };
        assert!(!e(false, None, None).is_test());
        assert!(!e(false, Some("prod"), Some("prod")).is_test());
        assert!(!e(false, Some(""), None).is_test());
        assert!(e(false, Some("test"), None).is_test());
        assert!(e(false, None, Some("test")).is_test());
        assert!(e(true, None, None).is_test());
    }
}
