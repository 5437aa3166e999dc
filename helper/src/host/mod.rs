//! Facts about the host and the few host changes that need parsing:
//! CPU level, default route, ufw rules, and k3s's firewall rules.

pub mod cpu;
pub mod iptables;
pub mod route;
pub mod ufw;
