//! Bounded randomized test: mutated plans never make the loader panic, and
//! random events never make the interpreter panic on whatever loads.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::repo;
use senim_dialplan::{
    load_str, load_unchecked, AnyPrompt, Event, Interpreter, Plan, RouteOutcome, TransferOutcome,
};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SNIPPETS: &[&str] = &[
    "<",
    ">",
    "/>",
    "\"",
    "'",
    "=",
    "&",
    "&amp;",
    "&bogus;",
    "&#0;",
    "&#x110000;",
    "<!--",
    "-->",
    "<![CDATA[x]]>",
    "<?pi?>",
    "</menu>",
    "<menu id=\"m\" prompt=\"p\" on-fail=\"main\">",
    "<choice digit=\"1\" goto=\"main\"/>",
    "<goto id=\"g\" target=\"g\"/>",
    "<play id=\"p\" prompt=\"goodbye\" next=\"p\"/>",
    " goto=\"main\"",
    " id=\"main\"",
    " max-digits=\"16\"",
    " timeout=\"0s\"",
    " timeout=\"99999999h\"",
    "Ж",
    "қ",
    "\u{feff}",
    "\0",
    "\r\n",
    "\t",
    "<dialplan>",
    "</dialplan>",
    "xmlns:a=\"b\"",
    "a:b",
    "0",
    "*",
    "#",
];

fn seeds() -> Vec<String> {
    let mut v = Vec::new();
    // dialplans/centre.xml and the examples first: they are valid.
    for dir in ["dialplans", "dialplans/examples", "dialplans/broken"] {
        if let Ok(rd) = std::fs::read_dir(repo().join(dir)) {
            let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            for f in files {
                if f.extension().is_some_and(|e| e == "xml") {
                    v.push(std::fs::read_to_string(f).expect("read seed"));
                }
            }
        }
    }
    assert!(v.len() > 10);
    v
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut c: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(2) {
        let len = c.len();
        match rng.below(5) {
            0 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below(8.min(len - at));
                c.drain(at..at + n);
            }
            1 => {
                let at = rng.below(len + 1);
                let s = SNIPPETS[rng.below(SNIPPETS.len())];
                c.splice(at..at, s.chars());
            }
            2 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below(40.min(len - at));
                let piece: Vec<char> = c[at..at + n].to_vec();
                let to = rng.below(len + 1);
                c.splice(to..to, piece);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                c[at] = char::from_u32(rng.below(0x80) as u32).unwrap_or('x');
            }
            _ if len > 0 => {
                // Truncate.
                c.truncate(rng.below(len));
            }
            _ => {}
        }
    }
    c.into_iter().collect()
}

fn random_event(rng: &mut Rng) -> Event {
    const KEYS: &[char] = &['0', '1', '2', '3', '4', '5', '9', '*', '#', 'A', 'x'];
    match rng.below(12) {
        0 => Event::Started,
        1..=3 => Event::Digit(KEYS[rng.below(KEYS.len())]),
        4 | 5 => Event::PromptFinished,
        6 => Event::Timeout,
        7 => Event::HoursResult {
            open: rng.below(2) == 0,
        },
        8 => Event::RouteResult(
            [
                RouteOutcome::Connected,
                RouteOutcome::Closed,
                RouteOutcome::NoAnswer,
                RouteOutcome::Failed,
                RouteOutcome::Emergency,
            ][rng.below(5)],
        ),
        9 => Event::PeerHungUp,
        10 => Event::TransferResult(
            [
                TransferOutcome::Transferred,
                TransferOutcome::HandedOver,
                TransferOutcome::Failed,
            ][rng.below(3)],
        ),
        _ => {
            if rng.below(2) == 0 {
                Event::CallbackResult {
                    recorded: rng.below(2) == 0,
                }
            } else {
                Event::VoicemailResult {
                    recorded: rng.below(2) == 0,
                }
            }
        }
    }
}

fn run(rng: &mut Rng, plan: Plan) {
    let mut i = Interpreter::new(Arc::new(plan));
    i.handle(Event::Started);
    for _ in 0..150 {
        i.handle(random_event(rng));
        let _ = (i.node(), i.language(), i.outcome());
        if i.is_done() {
            break;
        }
    }
}

#[test]
fn mutated_plans_and_random_events_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x5e71_u64 << 20 | 0x2024);
    let mut loaded = 0;
    for round in 0..3000 {
        // Mostly the valid plans (the first four seeds), sometimes a broken one.
        let seed = if rng.below(4) == 0 {
            &seeds[rng.below(seeds.len())]
        } else {
            &seeds[rng.below(4)]
        };
        let text = mutate(&mut rng, seed);
        let mut sub = Rng(rng.next() | 1);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let path = Path::new("fuzz.xml");
            let mut n = 0;
            if let Ok((plan, _)) = load_str(&text, path, &AnyPrompt) {
                run(&mut sub, plan);
                n += 1;
            }
            // Unchecked plans may hold loops and dangling references: the
            // interpreter must survive those too.
            if let Ok(plan) = load_unchecked(&text, path, &AnyPrompt) {
                run(&mut sub, plan);
                n += 1;
            }
            n
        }));
        match outcome {
            Ok(n) => loaded += n,
            Err(_) => panic!("panic on input (round {round}):\n{text}"),
        }
    }
    // The mutations are mild enough that many plans still parse and run.
    assert!(loaded > 500, "only {loaded} mutants loaded");
}

#[test]
fn unmutated_seeds_run_with_random_events() {
    let mut rng = Rng(42);
    for seed in seeds() {
        if let Ok((plan, _)) = load_str(&seed, Path::new("seed.xml"), &AnyPrompt) {
            for _ in 0..50 {
                run(&mut rng, plan.clone());
            }
        }
    }
}
