//! Whether the host has an IPv4 default route. k3s refuses to start without
//! a default route, and picks its node address from the default route's
//! interface, IPv4 first: a host whose only default route is IPv6 gets an
//! IPv6-only node (pod network fd00:42::/56, services fd00:43::/112), and
//! the installer's 10.42/10.43 firewall rules and its checks on 127.0.0.1
//! no longer hold. So an IPv6 default route alone does not count.

use std::fs;

/// True when the kernel's IPv4 routing table (of this network namespace)
/// has a default route that is up.
pub fn has_ipv4_default_route() -> bool {
    default_in_ipv4(&fs::read_to_string("/proc/net/route").unwrap_or_default())
}

/// True when the IPv6 table has one (reported, not acted on).
pub fn has_ipv6_default_route() -> bool {
    default_in_ipv6(&fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default())
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
        f.len() >= 10 && f[0].bytes().all(|b| b == b'0') && f[1] == "00" && f[9] != "lo" && u32::from_str_radix(f[8], 16).is_ok_and(|flags| flags & 1 == 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn ipv4_default_route_is_found() {
        let with =
            format!("{HEADER}eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\neth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n");
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
