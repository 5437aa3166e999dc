//! The command line: clap types only.

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand};

/// Installs, inspects and removes the floppies application on this host.
#[derive(Debug, Parser)]
#[command(name = "floppies", version, after_help = floppies_format::error::exit_codes_help(), propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The installer file (the stub passes it; needed by install and debug payload-*)
    #[arg(long, global = true, env = "FLOPPIES_BUNDLE", value_name = "FILE")]
    pub bundle: Option<Utf8PathBuf>,
    /// Print the ordered plan and change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Print results as JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Answer yes to confirmations (for scripts)
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Print only results and errors
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install k3s, the images and the application (an upgrade if another version is installed)
    Install(InstallArgs),
    /// Remove everything the installer added; customer data only without --keep-data
    Uninstall(UninstallArgs),
    /// Show what is installed and whether it is healthy
    Status,
    /// Write one support bundle to send to the vendor
    Diagnose(DiagnoseArgs),
    /// Check this host without changing it
    Preflight,
    /// Join this machine to an existing cluster with a join file from 'floppies node add'
    Join(JoinArgs),
    /// The machines of the cluster: add (a join file), list, remove
    #[command(subcommand)]
    Node(NodeCommand),
    /// Print the versions of this helper and of the bundle
    Version,
    /// Tools for support engineers
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// When ufw is active: keep it on and add tagged rules, disable it, or leave it alone
    #[arg(long, value_enum, default_value = "keep")]
    pub ufw: crate::steps::UfwMode,
    /// Serve HTTPS with this certificate (PEM, full chain) instead of a per-deployment CA's
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<camino::Utf8PathBuf>,
    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<camino::Utf8PathBuf>,
    /// Seconds to wait for k3s and the application to be ready
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    pub wait_timeout: u64,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The join file 'floppies node add' wrote on a server (a secret: delete it afterwards)
    #[arg(value_name = "FILE")]
    pub file: Utf8PathBuf,
    /// When ufw is active: keep it on and add tagged rules for the cluster's network, disable it, or leave it alone
    #[arg(long, value_enum, default_value = "keep")]
    pub ufw: crate::steps::UfwMode,
    /// Seconds to wait for this machine to be Ready in the cluster
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub wait_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Write a join file for a new machine (run on a server)
    Add(NodeAddArgs),
    /// Every machine of the cluster: role, Ready, k3s version, bundle version
    List,
    /// Cordon, drain and delete a machine from the cluster (run on a server)
    Remove {
        /// The machine's node name, as 'floppies node list' shows it
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct NodeAddArgs {
    /// What the new machine will be
    #[arg(long, value_enum, default_value = "agent")]
    pub role: crate::joinfile::NodeRole,
    /// This server's address as the new machine reaches it (default: the address of the default route's interface)
    #[arg(long, value_name = "IP")]
    pub address: Option<std::net::IpAddr>,
    /// Where to write the join file (mode 0600; never overwritten)
    #[arg(long, value_name = "FILE")]
    pub out: Utf8PathBuf,
    /// How long an agent's join file works, e.g. 24h, 90m, 7d (at most 30d; default 24h); the cluster deletes its token then.
    /// A server's join file holds the server token, which does not expire
    #[arg(long, value_name = "DURATION", value_parser = crate::joinfile::parse_ttl)]
    pub ttl: Option<u64>,
    /// Seconds to wait for k3s to come back when the first server moves to embedded etcd (--role server)
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub wait_timeout: u64,
    /// When ufw is active here: keep it on and allow the cluster's traffic (VXLAN, kubelet; etcd for a server)
    /// from this server's network, tagged 'floppies', or leave it alone
    #[arg(long, value_enum, default_value = "keep")]
    pub ufw: NodeAddUfw,
}

/// What node add does when ufw is active (it never disables it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NodeAddUfw {
    /// Keep ufw on and add the rules the other machines need (tagged 'floppies')
    Keep,
    /// Change nothing in ufw
    Leave,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Keep customer data and credentials under /var/lib/floppies
    #[arg(long)]
    pub keep_data: bool,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Directory to write the support bundle into
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub output: Utf8PathBuf,
    /// Say what would be collected, without collecting
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Print the bundle's manifest: what it holds (the contents part of the stub's --info)
    Manifest,
    /// Say whether this is an update file, and which build it installs over (the end of the stub's --check)
    UpdateOf,
    /// Verify the payload's sha256 without unpacking
    PayloadVerify,
    /// List the payload's entries and verify its sha256
    PayloadList,
    /// Verify and unpack the payload into DIR (new or empty)
    PayloadExtract {
        /// Target directory
        dir: Utf8PathBuf,
    },
    /// Print the x86-64 level (v1..v4) of this CPU or of a saved /proc/cpuinfo
    CpuLevel {
        /// A /proc/cpuinfo saved on another machine (e.g. a customer's)
        #[arg(long)]
        cpuinfo: Option<Utf8PathBuf>,
    },
    /// Print the x86-64 level each ELF file needs (from its ISA-needed note)
    ElfLevel {
        /// Binaries or shared libraries
        #[arg(required = true)]
        files: Vec<Utf8PathBuf>,
    },
    /// Remove k3s's iptables/ip6tables rules (KUBE-*, CNI-*, flannel), as uninstall does
    IptablesCleanup {
        /// Filter this saved iptables-save file and print the result instead (changes nothing)
        #[arg(long)]
        from: Option<Utf8PathBuf>,
        /// Which backends to clean
        #[arg(long, value_enum, default_value = "all")]
        backend: IptablesBackend,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IptablesBackend {
    /// legacy and nft (or the plain tools), then kube-router's ipsets
    All,
    Legacy,
    Nft,
}
