//! What a new configuration changes, sorted into what a running Senim
//! applies at once and what takes effect only after a restart. Pure: it
//! compares [`Settings`] and says so in words for the log, the HTTP answer
//! and `senim reload`.
//!
//! Applied at once: the specialists, `[hours]`, the lines, the API tokens
//! (and the web users, by `reload::live`),
//! `[routing]`, `[wrap_up]`, the centre's name, `share_caller_number` and
//! area code, `[registrar]`, which prompts, data files and dialplan are
//! read (the files themselves are read again at every reload), and the
//! dialplan's `first_prompt_limit`. Everything the process
//! bound or opened at start (sockets, the database, the data folder, the
//! keys, the RTP ports, TLS, the trunks' registrations) or seeded from the
//! database at start (the callback limit), and the retention task, takes
//! effect after a restart.

use std::collections::BTreeMap;

use crate::config::Settings;

/// A new configuration, compared with the one in service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Changes applied at once, each a line ("specialists: dana added").
    pub applied: Vec<String>,
    /// Changes that take effect after a restart, each a line
    /// ("sip.listen changed: takes effect after a restart"). Values are not
    /// given: some are secrets.
    pub restart: Vec<String>,
}

/// The line for a key that takes effect after a restart.
pub fn after_restart(key: &str) -> String {
    format!("{key} changed: takes effect after a restart")
}

/// Compare `new` with the configuration in service: keys that need a
/// restart against `started` (what the process started with, so a change
/// is named at every reload until the restart), the others against
/// `serving` (what the last accepted reload applied).
pub fn compare(started: &Settings, serving: &Settings, new: &Settings) -> Changes {
    Changes {
        applied: applied(serving, new),
        restart: restart(started, new),
    }
}

fn restart(old: &Settings, new: &Settings) -> Vec<String> {
    let (a, b) = (&old.config, &new.config);
    let keys = [
        ("sip.listen", a.sip.listen != b.sip.listen),
        (
            "sip.public_address",
            a.sip.public_address != b.sip.public_address,
        ),
        ("sip.user", a.sip.user != b.sip.user),
        ("sip.t1", old.sip_t1 != new.sip_t1),
        ("sip.realm", a.sip.realm != b.sip.realm),
        ("sip.rate_limit", a.sip.rate_limit != b.sip.rate_limit),
        ("sip.rate_burst", a.sip.rate_burst != b.sip.rate_burst),
        ("sip.max_calls", a.sip.max_calls != b.sip.max_calls),
        ("sip.drain", a.sip.drain != b.sip.drain),
        (
            "sip.unknown_sources",
            a.sip.unknown_sources != b.sip.unknown_sources,
        ),
        ("sip.tls_listen", a.sip.tls_listen != b.sip.tls_listen),
        ("sip.tls_cert", a.sip.tls_cert != b.sip.tls_cert),
        ("sip.tls_key", a.sip.tls_key != b.sip.tls_key),
        ("media.ip", old.media_ip != new.media_ip),
        ("media.public_ip", old.sdp_ip != new.sdp_ip),
        ("media.rtp_ports", old.rtp_ports != new.rtp_ports),
        (
            "media.pacing_threads",
            a.media.pacing_threads != b.media.pacing_threads,
        ),
        ("media.io_uring", a.media.io_uring != b.media.io_uring),
        ("http.listen", a.http.listen != b.http.listen),
        ("http.tls_cert", a.http.tls_cert != b.http.tls_cert),
        ("http.tls_key", a.http.tls_key != b.http.tls_key),
        (
            "http.behind_proxy",
            a.http.behind_proxy != b.http.behind_proxy,
        ),
        ("database.url", a.database.url != b.database.url),
        (
            "database.spool_max_mb",
            a.database.spool_max_mb != b.database.spool_max_mb,
        ),
        (
            "database.instance",
            a.database.instance != b.database.instance,
        ),
        (
            "privacy.caller_hash_key",
            a.privacy.caller_hash_key != b.privacy.caller_hash_key,
        ),
        (
            "privacy.caller_hash_key_file",
            a.privacy.caller_hash_key_file != b.privacy.caller_hash_key_file,
        ),
        (
            "privacy.number_key",
            a.privacy.number_key != b.privacy.number_key,
        ),
        (
            "privacy.number_key_file",
            a.privacy.number_key_file != b.privacy.number_key_file,
        ),
        ("data.dir", old.data_dir != new.data_dir),
        ("voicemail.dir", a.voicemail.dir != b.voicemail.dir),
        ("centre.number", a.centre.number != b.centre.number),
        (
            "callback.max_per_day",
            a.callback.max_per_day != b.callback.max_per_day,
        ),
        ("retention", old.retention != new.retention),
    ];
    let mut out: Vec<String> = keys
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| after_restart(key))
        .collect();
    let trunks = keyed(
        a.trunks.iter().map(|t| (t.id.as_str(), t)),
        b.trunks.iter().map(|t| (t.id.as_str(), t)),
    );
    let order_changed = trunks.is_empty()
        && a.trunks
            .iter()
            .map(|t| &t.id)
            .ne(b.trunks.iter().map(|t| &t.id));
    for (id, what) in trunks.lines() {
        out.push(format!("trunk {id:?} {what}: takes effect after a restart"));
    }
    if order_changed {
        out.push("the order of the trunks changed: takes effect after a restart".into());
    }
    out
}

fn applied(old: &Settings, new: &Settings) -> Vec<String> {
    let (a, b) = (&old.config, &new.config);
    let mut out = Vec::new();
    let specialists = keyed(
        a.specialists.iter().map(|s| (s.id.as_str(), s)),
        b.specialists.iter().map(|s| (s.id.as_str(), s)),
    );
    if !specialists.is_empty() {
        let mut parts = specialists.words();
        if !specialists.removed.is_empty() {
            parts.push("a call a removed specialist is on goes on".into());
        }
        out.push(format!("specialists: {}", parts.join("; ")));
    } else if a.specialists != b.specialists {
        out.push("specialists: the order changed".into());
    }
    let hours = keyed(a.hours.iter(), b.hours.iter());
    if !hours.is_empty() {
        out.push(format!("hours: {}", hours.words().join("; ")));
    }
    if old.lines != new.lines {
        out.push(format!(
            "lines: {} now (were {})",
            new.lines.len(),
            old.lines.len()
        ));
    }
    let tokens = keyed(
        a.api.tokens.iter().map(|t| (t.name.as_str(), t)),
        b.api.tokens.iter().map(|t| (t.name.as_str(), t)),
    );
    if !tokens.is_empty() {
        out.push(format!("api tokens: {}", tokens.words().join("; ")));
    }
    for (key, before, after) in [
        (
            "routing.accept_timeout",
            &a.routing.accept_timeout,
            &b.routing.accept_timeout,
        ),
        (
            "routing.announce_every",
            &a.routing.announce_every,
            &b.routing.announce_every,
        ),
        (
            "routing.offer_callback_every",
            &a.routing.offer_callback_every,
            &b.routing.offer_callback_every,
        ),
        ("centre.name", &a.centre.name, &b.centre.name),
        ("centre.area_code", &a.centre.area_code, &b.centre.area_code),
    ] {
        if before != after {
            out.push(format!("{key}: {before:?} -> {after:?}"));
        }
    }
    if a.centre.share_caller_number != b.centre.share_caller_number {
        out.push(format!(
            "centre.share_caller_number: {} -> {}",
            a.centre.share_caller_number, b.centre.share_caller_number
        ));
    }
    if old.wrap_up != new.wrap_up {
        out.push(
            "wrap_up: the wrap-up menu, its kinds and the specialists' limits (calls in \
             progress keep the menu they started with; wrap-ups and breaks under way keep \
             their ends)"
                .into(),
        );
    }
    if old.registrar != new.registrar {
        out.push(
            "registrar: lock-out and digest algorithms (wrong passwords counted so far are \
             forgotten when the lock-out changed)"
                .into(),
        );
    }
    for (key, before, after) in [
        ("prompts.dir", &old.prompts_dir, &new.prompts_dir),
        ("dialplan.file", &old.dialplan_file, &new.dialplan_file),
        ("data.holidays", &a.data.holidays, &b.data.holidays),
        ("data.partners", &a.data.partners, &b.data.partners),
    ] {
        if before != after {
            out.push(format!("{key}: {} -> {}", shown(before), shown(after)));
        }
    }
    if old.first_prompt_limit != new.first_prompt_limit {
        out.push(format!(
            "dialplan.first_prompt_limit: {:?} -> {:?}",
            a.dialplan.first_prompt_limit, b.dialplan.first_prompt_limit
        ));
    }
    if a.dialplan.watch != b.dialplan.watch {
        out.push(format!(
            "dialplan.watch: {} -> {}",
            a.dialplan.watch, b.dialplan.watch
        ));
    }
    out
}

/// A path as messages show it; `None`: what is bundled.
fn shown(path: &Option<std::path::PathBuf>) -> String {
    path.as_ref()
        .map_or_else(|| "bundled".to_string(), |p| p.display().to_string())
}

/// Entries of a list keyed by id, compared.
#[derive(Debug, Default)]
struct Keyed {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
}

impl Keyed {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// "a, b added", "c removed", "d changed".
    fn words(&self) -> Vec<String> {
        [
            (&self.added, "added"),
            (&self.removed, "removed"),
            (&self.changed, "changed"),
        ]
        .iter()
        .filter(|(ids, _)| !ids.is_empty())
        .map(|(ids, what)| format!("{} {what}", ids.join(", ")))
        .collect()
    }

    /// Each id with what happened to it.
    fn lines(&self) -> Vec<(&str, &'static str)> {
        let mut out = Vec::new();
        for id in &self.added {
            out.push((id.as_str(), "added"));
        }
        for id in &self.removed {
            out.push((id.as_str(), "removed"));
        }
        for id in &self.changed {
            out.push((id.as_str(), "changed"));
        }
        out
    }
}

fn keyed<'a, T: PartialEq + 'a>(
    old: impl Iterator<Item = (&'a str, &'a T)>,
    new: impl Iterator<Item = (&'a str, &'a T)>,
) -> Keyed {
    let old: BTreeMap<&str, &T> = old.collect();
    let new: BTreeMap<&str, &T> = new.collect();
    let mut k = Keyed::default();
    for (id, entry) in &new {
        match old.get(id) {
            None => k.added.push((*id).to_string()),
            Some(before) if before != entry => k.changed.push((*id).to_string()),
            Some(_) => {}
        }
    }
    for id in old.keys() {
        if !new.contains_key(id) {
            k.removed.push((*id).to_string());
        }
    }
    k
}

/// Which prompts differ between two libraries (their audio, by id and
/// language), as one line; `None` when every prompt is the same.
pub fn prompt_changes(
    old: &senim_media::prompts::PromptLibrary,
    new: &senim_media::prompts::PromptLibrary,
) -> Option<String> {
    use senim_media::prompts::Language;
    let mut k = Keyed::default();
    let mut ids: Vec<&str> = new.ids().collect();
    for id in old.ids() {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    for id in ids {
        for language in Language::ALL {
            let name = format!("{id} ({})", language.code());
            match (old.get(id, language), new.get(id, language)) {
                (None, Some(_)) => k.added.push(name),
                (Some(_), None) => k.removed.push(name),
                (Some(a), Some(b)) if a.samples() != b.samples() => k.changed.push(name),
                _ => {}
            }
        }
    }
    (!k.is_empty()).then(|| format!("prompts: {}", k.words().join("; ")))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const BASE: &str = r#"
[data]
dir = "/var/lib/senim-test"

[hours]
centre = "24/7"

[[specialist]]
id = "aigerim"
name = "Aigerim"
skills = ["psychology"]
languages = ["kk"]
uri = "sip:aigerim@127.0.0.1:26001"
"#;

    fn settings(text: &str) -> Settings {
        Config::from_toml(text, Path::new("senim.toml"))
            .expect("parses")
            .validate("senim.toml")
            .expect("valid")
    }

    fn with(extra: &str) -> Settings {
        settings(&format!("{BASE}\n{extra}"))
    }

    #[test]
    fn the_first_prompt_limit_is_applied_at_once() {
        let old = with("");
        let new = with("[dialplan]\nfirst_prompt_limit = \"6s\"\n");
        let c = compare(&old, &old, &new);
        assert_eq!(c.applied, ["dialplan.first_prompt_limit: \"8s\" -> \"6s\""]);
        assert!(c.restart.is_empty(), "{c:?}");
    }

    #[test]
    fn the_same_configuration_changes_nothing() {
        let s = with("");
        assert_eq!(compare(&s, &s, &with("")), Changes::default());
    }

    #[test]
    fn keys_bound_or_opened_at_start_are_named_for_a_restart_without_their_values() {
        let old = with("");
        let key = "ab".repeat(32);
        let new = settings(&format!(
            "[sip]\nlisten = \"127.0.0.1:5070\"\nmax_calls = 50\n\n[media]\nrtp_ports = \
             \"30000-30100\"\n\n[privacy]\nnumber_key = \"{key}\"\n\n[database]\nurl = \
             \"sqlite:///srv/senim.db\"\n\n[[trunk]]\nid = \"provider\"\naddress = \
             \"203.0.113.10:5060\"\n{BASE}"
        ));
        let c = compare(&old, &old, &new);
        assert_eq!(
            c.restart,
            [
                "sip.listen changed: takes effect after a restart",
                "sip.max_calls changed: takes effect after a restart",
                "media.rtp_ports changed: takes effect after a restart",
                "database.url changed: takes effect after a restart",
                "privacy.number_key changed: takes effect after a restart",
                "trunk \"provider\" added: takes effect after a restart",
            ]
        );
        assert!(c.applied.is_empty(), "{:?}", c.applied);
        assert!(!format!("{c:?}").contains(&key));
    }

    #[test]
    fn a_restart_is_named_at_every_reload_until_it_happens() {
        let started = with("");
        let moved = settings(&format!("[sip]\nrealm = \"centre\"\n{BASE}"));
        // The first reload took everything else already: still named.
        let c = compare(&started, &moved, &moved);
        assert_eq!(
            c.restart,
            ["sip.realm changed: takes effect after a restart"]
        );
        assert!(c.applied.is_empty());
    }

    #[test]
    fn specialists_hours_tokens_routing_and_lines_are_applied_at_once() {
        let old = with("");
        let (_, entry) = token_entry();
        let new = settings(&format!(
            r#"
[data]
dir = "/var/lib/senim-test"

[hours]
centre = "24/7"

[hours.night]
mon = "18:00-22:00"

[routing]
accept_timeout = "4s"

[centre]
name = "Senim Oskemen"

[[line]]
number = "+77232000000"
start = "greeting"

[[specialist]]
id = "dana"
name = "Dana"
skills = ["psychology"]
languages = ["kk", "ru"]
uri = "sip:dana@127.0.0.1:26021"

{entry}
"#
        ));
        let c = compare(&old, &old, &new);
        assert_eq!(
            c.applied,
            [
                "specialists: dana added; aigerim removed; a call a removed specialist is on goes on",
                "hours: night added",
                "lines: 1 now (were 0)",
                "api tokens: ops added",
                "routing.accept_timeout: \"15s\" -> \"4s\"",
                "centre.name: \"Senim\" -> \"Senim Oskemen\"",
            ]
        );
        assert!(c.restart.is_empty(), "{:?}", c.restart);
        // A specialist whose entry changed is named as changed.
        let changed = settings(&BASE.replace("languages = [\"kk\"]", "languages = [\"ru\"]"));
        assert_eq!(
            compare(&old, &old, &changed).applied,
            ["specialists: aigerim changed"]
        );
    }

    /// An `[[api.token]]` entry with a made-up hash.
    fn token_entry() -> (String, String) {
        let hash = "0123456789abcdef".repeat(4);
        let entry =
            format!("[[api.token]]\nname = \"ops\"\nrole = \"admin\"\nsha256 = \"{hash}\"\n");
        (hash, entry)
    }

    /// One second of a constant level as a WAV file (8 kHz, mono, 16-bit).
    fn wav(level: i16) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = std::io::Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("wav");
        for _ in 0..8000 {
            writer.write_sample(level).expect("sample");
        }
        writer.finalize().expect("wav");
        out.into_inner()
    }

    #[test]
    fn prompts_that_differ_are_named_by_id_and_language() {
        use senim_media::prompts::{Language, PromptLibrary};
        let manifest = "[[prompt]]\nid = \"greeting\"\nkk = \"Сәлем\"\nru = \"Привет\"\n";
        let (one, two, ru) = (wav(100), wav(200), wav(300));
        let a = PromptLibrary::from_memory(Path::new("prompts"), manifest, |l, _| {
            Some(if l == Language::Kk { &one[..] } else { &ru[..] })
        })
        .expect("library");
        let b = PromptLibrary::from_memory(Path::new("prompts"), manifest, |l, _| {
            Some(if l == Language::Kk { &two[..] } else { &ru[..] })
        })
        .expect("library");
        let same = PromptLibrary::from_memory(Path::new("prompts"), manifest, |l, _| {
            Some(if l == Language::Kk { &one[..] } else { &ru[..] })
        })
        .expect("library");
        assert_eq!(prompt_changes(&a, &same), None);
        assert_eq!(
            prompt_changes(&a, &b).as_deref(),
            Some("prompts: greeting (kk) changed")
        );
    }
}
