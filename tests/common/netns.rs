//! A private network namespace for tests that impair the network: its own
//! loopback, whose packets can be lost, delayed and reordered without
//! touching the machine's. Senim and SIPp run inside it through the command
//! prefix [`Netns::prefix`] (`ip netns exec NAME`); the namespace is removed
//! when the guard is dropped, failed test or not.
//!
//! [`Netns::impair`] puts `tc netem` on the loopback where the kernel has
//! it, and otherwise does the same with netfilter: an iptables rule in the
//! namespace's `raw` table, OUTPUT chain, sends the UDP packets to a
//! netfilter queue that a thread of the test process serves, dropping,
//! holding and reordering them ([`super::nfqueue`]).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

use super::nfqueue::{Holder, Treatment};

/// Namespaces made by this test process, to name each one apart.
static MADE: AtomicU16 = AtomicU16::new(0);

/// The prefix of every namespace these tests make; the process id follows.
const NAME_PREFIX: &str = "senim-netem-";

/// Where `ip netns` keeps a namespace open by name.
const NETNS_DIR: &str = "/var/run/netns";

/// Set to `netem` or `netfilter` to choose the way (to try the netfilter
/// way on a kernel that has netem); unset, netem is tried first.
pub const WAY_ENV: &str = "SENIM_TEST_IMPAIRMENT";

/// What a namespace's loopback does to the packets sent on it, each packet
/// once (as `tc netem` does).
#[derive(Clone, Copy, Debug, Default)]
pub struct Impairment {
    /// The share of packets lost, 0 to 1.
    pub loss: f64,
    /// How long a packet is delayed, in ms.
    pub delay_ms: u32,
    /// Each delay varies by up to this much either way, in ms.
    pub jitter_ms: u32,
    /// The share of packets (0 to 1) sent at once, ahead of the delayed
    /// ones (netem's `reorder`); needs a delay.
    pub reorder: f64,
}

impl Impairment {
    /// The same as `tc netem` parameters, for example `loss 20%`.
    fn netem_params(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.loss > 0.0 {
            out.extend(["loss".into(), format!("{:.3}%", self.loss * 100.0)]);
        }
        if self.delay_ms > 0 {
            out.extend([
                "delay".into(),
                format!("{}ms", self.delay_ms),
                format!("{}ms", self.jitter_ms),
            ]);
        }
        if self.reorder > 0.0 {
            out.extend(["reorder".into(), format!("{:.3}%", self.reorder * 100.0)]);
        }
        out
    }
}

/// How an impairment was put on the loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// `tc netem` on `lo`: every packet, of any protocol.
    Netem,
    /// iptables in the `raw` table's OUTPUT chain sending UDP packets (the
    /// tests' SIP and RTP) to a netfilter queue that a thread of the test
    /// process serves ([`super::nfqueue`]).
    Netfilter,
}

/// A network namespace with its loopback up; deleted on drop.
pub struct Netns {
    pub name: String,
    /// How the loopback was impaired, once it was.
    impaired: Option<Way>,
    /// The thread serving the queue of [`Way::Netfilter`].
    holder: Option<Holder>,
}

impl Netns {
    /// Make `senim-netem-<pid>-<n>` with `lo` up. Fails with what to do when
    /// not root or `ip` is missing. Namespaces left by a test process that
    /// no longer exists (killed before its guard ran) are removed first.
    pub fn new() -> Netns {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "the network-namespace tests need root (ip netns, tc or iptables): run them as root, as CI does"
        );
        assert!(
            super::have("ip"),
            "ip (iproute2) is not installed: run scripts/test, which installs it"
        );
        remove_orphans();
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NAME_PREFIX}{}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let netns = Netns {
            name,
            impaired: None,
            holder: None,
        };
        netns.run(&["ip", "link", "set", "lo", "up"]);
        netns
    }

    /// The words to put before a command to run it inside the namespace.
    pub fn prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Run a command inside the namespace; panic with its output if it fails.
    pub fn run(&self, args: &[&str]) -> String {
        let mut all: Vec<&str> = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Lose, delay and reorder the packets of the namespace's loopback as
    /// `impairment` says: with `tc netem` when the kernel has it, otherwise
    /// with iptables and a netfilter queue (see [`Way`]). Says on the test's
    /// output which way it took. Fails saying what is missing when neither
    /// works. Once per namespace.
    pub fn impair(&mut self, impairment: Impairment) -> Way {
        assert!(
            impairment.reorder == 0.0 || impairment.delay_ms > 0,
            "reordering needs a delay to overtake: {impairment:?}"
        );
        assert!(self.impaired.is_none(), "one impairment per namespace");
        let choice = std::env::var(WAY_ENV).unwrap_or_default();
        let netem = match choice.as_str() {
            "" | "netem" => self.try_netem(&impairment),
            "netfilter" => Err(format!("{WAY_ENV}=netfilter")),
            other => panic!("{WAY_ENV}={other}: netem or netfilter"),
        };
        let why_not_netem = match netem {
            Ok(()) => {
                eprintln!(
                    "network namespace {}: {impairment:?} by tc netem on lo",
                    self.name
                );
                self.impaired = Some(Way::Netem);
                return Way::Netem;
            }
            Err(e) if choice == "netem" => panic!("{WAY_ENV}=netem, but {e}"),
            Err(e) => e,
        };
        if let Err(e) = self.try_netfilter(&impairment) {
            panic!(
                "neither way to impair the network works here.\n\
                 tc netem: {why_not_netem} (the kernel needs sch_netem: modprobe sch_netem, \
                 or a kernel built with CONFIG_NET_SCH_NETEM).\n\
                 iptables: {e} (needs the iptables package, and the kernel's \
                 xt_NFQUEUE and nfnetlink_queue).\nscripts/test installs the tools and checks both"
            );
        }
        eprintln!(
            "network namespace {}: {impairment:?} by iptables (NFQUEUE to a thread of the \
             test) on lo's UDP; tc netem is not available: {why_not_netem}",
            self.name
        );
        self.impaired = Some(Way::Netfilter);
        Way::Netfilter
    }

    fn try_netem(&self, impairment: &Impairment) -> Result<(), String> {
        if !super::have("tc") {
            return Err("tc (iproute2) is not installed".into());
        }
        let mut args: Vec<String> = ["tc", "qdisc", "add", "dev", "lo", "root", "netem"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(impairment.netem_params());
        self.try_run(&args)
    }

    fn try_netfilter(&mut self, impairment: &Impairment) -> Result<(), String> {
        if !super::have("iptables") {
            return Err("iptables is not installed".into());
        }
        // OUTPUT, not PREROUTING: a packet sent on lo passes OUTPUT once,
        // before a capture on lo sees it, so what tcpdump captures is what
        // the receiver gets, when it gets it (as with netem). The queue's
        // thread decides the losses too: a DROP rule in OUTPUT would fail
        // the sender's send with EPERM, where netem loses silently. Bind the
        // queue before packets are sent to it: a queue nobody serves drops
        // them.
        let path = PathBuf::from(NETNS_DIR).join(&self.name);
        let holder = Holder::start(
            &path,
            0,
            Treatment {
                loss: impairment.loss,
                delay_ms: impairment.delay_ms,
                jitter_ms: impairment.jitter_ms,
                reorder: impairment.reorder,
            },
        )?;
        self.holder = Some(holder);
        self.try_run(
            &[
                "iptables",
                "-w",
                "-t",
                "raw",
                "-A",
                "OUTPUT",
                "-p",
                "udp",
                "-j",
                "NFQUEUE",
                "--queue-num",
                "0",
            ]
            .map(String::from),
        )
    }

    /// Run a command inside the namespace; its error output if it fails.
    fn try_run(&self, args: &[String]) -> Result<(), String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .map_err(|e| format!("{}: {e}", args.join(" ")))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{} refused: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(holder) = self.holder.take() {
            let counts = holder.stop();
            eprintln!("network namespace {}: queue {counts:?}", self.name);
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Delete `senim-netem-<pid>-…` namespaces whose process is gone.
fn remove_orphans() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}
