//! The x86-64 micro-architecture level (v1..v4) of a CPU, from the flags the
//! kernel lists in /proc/cpuinfo. The feature sets are the psABI's, as glibc
//! checks them (`ld.so --help` prints glibc's own verdict), written in the
//! kernel's flag names (sse3 is `pni`, lzcnt is `abm`).

use serde::Serialize;

/// What each level adds to the one below, in /proc/cpuinfo's names.
const LEVELS: &[(u8, &[&str])] = &[
    (1, &["lm", "cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2"]),
    (2, &["cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3"]),
    (3, &["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"]),
    (4, &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuLevel {
    /// 0 when not even x86-64-v1 (or not an x86-64 CPU).
    pub level: u8,
    /// "x86-64-v2", or "below x86-64-v1".
    pub name: String,
    /// The flags the CPU lacks for the next level (empty at v4).
    pub missing_for_next: Vec<String>,
}

/// The level of the weakest CPU listed (all cores must run the code).
pub fn level_from_cpuinfo(cpuinfo: &str) -> CpuLevel {
    let flag_lines: Vec<Vec<&str>> = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "flags"))
        .map(|l| l.split_once(':').map_or("", |(_, v)| v).split_whitespace().collect())
        .collect();
    let has = |flag: &str| !flag_lines.is_empty() && flag_lines.iter().all(|flags| flags.contains(&flag));
    let mut level = 0;
    let mut missing_for_next = Vec::new();
    for (n, needed) in LEVELS {
        let missing: Vec<String> = needed.iter().filter(|f| !has(f)).map(|f| f.to_string()).collect();
        if !missing.is_empty() {
            missing_for_next = missing;
            break;
        }
        level = *n;
    }
    let name = if level == 0 { "below x86-64-v1".to_string() } else { format!("x86-64-v{level}") };
    CpuLevel { level, name, missing_for_next }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags as the kernel lists them under qemu's CPU models used in test-vm.
    const QEMU64: &str = "fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm rep_good nopl cpuid pni cx16 hypervisor lahf_lm svm";
    const NEHALEM: &str = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni ssse3 cx16 sse4_1 sse4_2 x2apic popcnt hypervisor lahf_lm";
    const HASWELL: &str = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm fsgsbase bmi1 avx2 smep bmi2 erms invpcid";

    fn cpuinfo(flags: &[&str]) -> String {
        flags.iter().enumerate().map(|(i, f)| format!("processor\t: {i}\nmodel name\t: test\nflags\t\t: {f}\n\n")).collect()
    }

    #[test]
    fn qemu_models_map_to_the_levels_glibc_reports() {
        assert_eq!(level_from_cpuinfo(&cpuinfo(&[QEMU64])).level, 1);
        assert_eq!(level_from_cpuinfo(&cpuinfo(&[NEHALEM])).level, 2);
        let haswell = level_from_cpuinfo(&cpuinfo(&[HASWELL]));
        assert_eq!((haswell.level, haswell.name.as_str()), (3, "x86-64-v3"));
        assert_eq!(haswell.missing_for_next, ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]);
    }

    #[test]
    fn names_what_is_missing_for_the_next_level() {
        let v1 = level_from_cpuinfo(&cpuinfo(&[QEMU64]));
        assert_eq!(v1.missing_for_next, ["popcnt", "sse4_1", "sse4_2", "ssse3"]);
    }

    #[test]
    fn the_weakest_core_decides() {
        assert_eq!(level_from_cpuinfo(&cpuinfo(&[HASWELL, NEHALEM, HASWELL])).level, 2);
    }

    #[test]
    fn no_flags_is_level_zero() {
        let none = level_from_cpuinfo("processor : 0\nFeatures : fp asimd\n");
        assert_eq!((none.level, none.name.as_str()), (0, "below x86-64-v1"));
        assert_eq!(level_from_cpuinfo("").level, 0);
    }
}
