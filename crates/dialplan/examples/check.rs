//! Print the diagnostics of dialplan files (every prompt counts as present):
//! `cargo run -p senim-dialplan --example check -- dialplans/centre.xml`.
//! `senim check` is the real check, with the prompt library.

use std::path::Path;

fn main() {
    let mut failed = false;
    for arg in std::env::args().skip(1) {
        match senim_dialplan::load(Path::new(&arg), &senim_dialplan::AnyPrompt) {
            Ok((plan, warnings)) => {
                for w in warnings {
                    println!("{w}");
                }
                println!(
                    "{arg}: ok, {} nodes, version {}",
                    plan.node_ids().count(),
                    plan.digest()
                );
            }
            Err(diags) => {
                failed = true;
                for d in diags {
                    println!("{d}");
                }
            }
        }
    }
    std::process::exit(i32::from(failed));
}
