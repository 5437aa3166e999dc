//! Fault injection for the throwaway-VM tests (test-vm/): the scenarios must
//! kill the installer at every step boundary, and prove that a broken
//! uninstall is caught. Only a TEST-profile bundle or installation arms it
//! (`arm`); a production one ignores the variable, so a customer's
//! environment cannot change what install or uninstall does.
//!
//! `FLOPPIES_TEST_FAULT` holds comma-separated faults:
//!   kill-after:STEP        SIGKILL ourselves once STEP's install or undo is journalled
//!   skip-iptables-cleanup  uninstall leaves k3s's firewall rules behind

use std::sync::atomic::{AtomicBool, Ordering};

pub const VAR: &str = "FLOPPIES_TEST_FAULT";
static ARMED: AtomicBool = AtomicBool::new(false);

/// Arms fault injection if `profile` (of the bundle or the journal) is "test".
pub fn arm(profile: &str) {
    if arms(profile) {
        ARMED.store(true, Ordering::Relaxed);
    }
}

fn arms(profile: &str) -> bool {
    profile == "test"
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

/// Kills this process with SIGKILL if `kill-after:STEP` is asked for: the
/// journal of STEP is on disk, nothing after it has started.
pub fn kill_point(step: &str) {
    if faults().iter().any(|f| f.strip_prefix("kill-after:") == Some(step)) {
        crate::runner::log_line(&format!("== test fault: SIGKILL after step {step}"));
        let pid = std::process::id().to_string();
        let _ = crate::runner::run("kill", &["-KILL", &pid]);
        // kill(1) returns before the signal lands; it always lands.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
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
    fn only_the_test_profile_arms() {
        assert!(arms("test"));
        assert!(!arms("production"));
        assert!(!arms(""));
    }
}
