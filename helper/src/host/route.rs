//! Whether the host has a default route (k3s refuses to start without one).

use std::fs;

/// True when the kernel's IPv4 or IPv6 routing table has a default route.
pub fn has_default_route() -> bool {
    let v4 = fs::read_to_string("/proc/net/route").unwrap_or_default();
    let v6 = fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    default_in_ipv4(&v4) || default_in_ipv6(&v6)
}

/// /proc/net/route: Iface Destination Gateway Flags ... Mask ...; a default
/// route has destination and mask 0 and is up (flag 0x1).
pub fn default_in_ipv4(table: &str) -> bool {
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000" && u32::from_str_radix(f[3], 16).is_ok_and(|flags| flags & 1 == 1)
    })
}

/// /proc/net/ipv6_route: dest, prefix length, ..., flags, device; a default
/// route is ::/0 that is up and not on the loopback (the kernel keeps an
/// unreachable ::/0 on lo).
pub fn default_in_ipv6(table: &str) -> bool {
    table.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() >= 10
            && f[0].bytes().all(|b| b == b'0')
            && f[1] == "00"
            && f[9] != "lo"
            && u32::from_str_radix(f[8], 16).is_ok_and(|flags| flags & 1 == 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn ipv4_default_route_is_found() {
        let with = format!("{HEADER}eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\neth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n");
        assert!(default_in_ipv4(&with));
        let without = format!("{HEADER}eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n");
        assert!(!default_in_ipv4(&without));
        assert!(!default_in_ipv4(HEADER));
    }

    #[test]
    fn ipv6_unreachable_default_on_lo_does_not_count() {
        let lo = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert!(!default_in_ipv6(lo));
        let eth = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n";
        assert!(default_in_ipv6(eth));
    }
}
