//! The iptables-save filter, on any text: exactly the lines that name KUBE-,
//! CNI- or flannel (any case; comments aside) go, every other line stays as
//! it was and in order, the count is right, and filtering again removes nothing.
#![no_main]

use floppies::host::iptables::filter_rules;
use libfuzzer_sys::fuzz_target;

/// The rule, written again independently of `is_k3s_line`.
fn k3s(line: &str) -> bool {
    !line.starts_with('#') && (line.contains("KUBE-") || line.contains("CNI-") || line.to_lowercase().contains("flannel"))
}

fuzz_target!(|saved: &str| {
    let (kept, removed) = filter_rules(saved);
    let lines: Vec<&str> = saved.lines().collect();
    let want: String = lines.iter().filter(|l| !k3s(l)).map(|l| format!("{l}\n")).collect();
    assert_eq!(kept, want);
    assert_eq!(removed, lines.iter().filter(|l| k3s(l)).count());
    assert_eq!(filter_rules(&kept).1, 0, "a filtered ruleset is clean");
});
