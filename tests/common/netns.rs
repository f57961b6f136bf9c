//! A private network namespace for tests that impair the network: its own
//! loopback, on which `tc netem` can lose, delay and reorder packets without
//! touching the machine's. Senim and SIPp run inside it through the command
//! prefix [`Netns::prefix`] (`ip netns exec NAME`); the namespace is removed
//! when the guard is dropped, failed test or not.

use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

/// Namespaces made by this test process, to name each one apart.
static MADE: AtomicU16 = AtomicU16::new(0);

/// The prefix of every namespace these tests make; the process id follows.
const NAME_PREFIX: &str = "senim-netem-";

/// A network namespace with its loopback up; deleted on drop.
pub struct Netns {
    pub name: String,
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
            "the network-namespace tests need root (ip netns, tc): run them as root, as CI does"
        );
        assert!(
            super::have("ip") && super::have("tc"),
            "ip and tc (iproute2) are not installed: run scripts/test, which installs them"
        );
        remove_orphans();
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NAME_PREFIX}{}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let netns = Netns { name };
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

    /// Put `tc netem` with these parameters (for example `loss 20%`) on the
    /// namespace's loopback: every packet sent in the namespace, SIP, RTP
    /// and anything else, passes it once. Fails with what to do when the
    /// kernel has no netem.
    pub fn netem(&self, params: &str) {
        let mut args = vec!["tc", "qdisc", "add", "dev", "lo", "root", "netem"];
        args.extend(params.split_whitespace());
        let mut all: Vec<&str> = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(&args);
        let out = Command::new(all[0])
            .args(&all[1..])
            .output()
            .expect("run tc");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "tc netem refused ({}): {err}\nThe kernel needs the sch_netem module: `modprobe sch_netem` \
             (scripts/test tries it); a kernel built without CONFIG_NET_SCH_NETEM cannot run these tests",
            args.join(" ")
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
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
