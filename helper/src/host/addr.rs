//! The network an address of this host is on (`ip -o addr show`): where the
//! cluster's other machines are, so firewall rules between them can name it.

use std::net::IpAddr;

use crate::runner;

/// The network (host bits zero, with its prefix) of ADDR on this host's
/// interfaces, None when ADDR is not one of this host's addresses.
pub fn local_network(addr: IpAddr) -> Option<String> {
    let out = runner::capture("ip", &["-o", "addr", "show"]).ok().filter(|o| o.success())?;
    network_of(&out.stdout, addr)
}

/// The network of ADDR in `ip -o addr show`'s output (lines with
/// `inet A/P` or `inet6 A/P`), if it lists ADDR.
pub fn network_of(ip_o_addr: &str, addr: IpAddr) -> Option<String> {
    ip_o_addr.lines().find_map(|line| {
        let cidr = line.split_whitespace().skip_while(|w| *w != "inet" && *w != "inet6").nth(1)?;
        let (a, p) = cidr.split_once('/')?;
        let (a, p) = (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?);
        if a != addr {
            return None;
        }
        Some(format!("{}/{p}", masked(a, p)?))
    })
}

/// True when NETWORK (`A/P`) contains ADDR.
pub fn contains(network: &str, addr: IpAddr) -> bool {
    let Some((a, p)) = network.split_once('/') else { return false };
    let (Ok(a), Ok(p)) = (a.parse::<IpAddr>(), p.parse::<u8>()) else { return false };
    a.is_ipv4() == addr.is_ipv4() && masked(a, p).is_some() && masked(a, p) == masked(addr, p)
}

/// ADDR with all but its first PREFIX bits zero (None: a prefix too long for the family).
fn masked(addr: IpAddr, prefix: u8) -> Option<IpAddr> {
    match addr {
        IpAddr::V4(v4) if prefix <= 32 => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
            Some(IpAddr::V4((u32::from(v4) & mask).into()))
        }
        IpAddr::V6(v6) if prefix <= 128 => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
            Some(IpAddr::V6((u128::from(v6) & mask).into()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP_O_ADDR: &str = "\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever
2: ens3    inet 10.77.0.2/24 brd 10.77.0.255 scope global ens3\\       valid_lft forever preferred_lft forever
2: ens3    inet6 fd00:77::2/64 scope global \\       valid_lft forever preferred_lft forever
3: floppies0    inet 203.0.113.254/31 scope global floppies0\\       valid_lft forever preferred_lft forever
";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_of_this_host_gives_its_interfaces_network() {
        assert_eq!(network_of(IP_O_ADDR, ip("10.77.0.2")).as_deref(), Some("10.77.0.0/24"));
        assert_eq!(network_of(IP_O_ADDR, ip("fd00:77::2")).as_deref(), Some("fd00:77::/64"));
        assert_eq!(network_of(IP_O_ADDR, ip("203.0.113.254")).as_deref(), Some("203.0.113.254/31"));
    }

    #[test]
    fn an_address_elsewhere_gives_none() {
        assert_eq!(network_of(IP_O_ADDR, ip("10.77.0.3")), None);
        assert_eq!(network_of(IP_O_ADDR, ip("192.0.2.1")), None);
        assert_eq!(network_of("", ip("10.77.0.2")), None);
        assert_eq!(network_of("2: x    inet 10.0.0.1/40 scope global x", ip("10.0.0.1")), None, "a prefix too long is no network");
    }

    #[test]
    fn containment_is_by_prefix_and_family() {
        assert!(contains("10.77.0.0/24", ip("10.77.0.200")));
        assert!(!contains("10.77.0.0/24", ip("10.77.1.1")));
        assert!(contains("0.0.0.0/0", ip("192.0.2.1")));
        assert!(!contains("0.0.0.0/0", ip("::1")), "an IPv4 network holds no IPv6 address");
        assert!(contains("fd00:77::/64", ip("fd00:77::9")));
        assert!(!contains("fd00:77::/64", ip("fd00:78::9")));
        assert!(!contains("nonsense", ip("10.77.0.1")));
        assert!(!contains("10.77.0.0/33", ip("10.77.0.1")));
    }
}
