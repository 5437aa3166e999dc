//! Facts about the host and the few host changes that need parsing:
//! CPU level, default route, the local network, ufw rules, and k3s's firewall rules.

pub mod addr;
pub mod cpu;
pub mod iptables;
pub mod route;
pub mod ufw;
