//! Senim behind a SIP provider: Kamailio from Debian plays the provider's
//! registrar and proxy (`common::kamailio`), SIPp plays a phone on the
//! provider's network, the test caller (`common::caller`) calls the
//! centre's number at the provider.
//!
//! - Senim registers with digest authentication (MD5; SHA-256 where the
//!   registrar offers it), refreshes before expiry, registers again after
//!   the registrar restarts, and answers a call the provider forwards to
//!   its registered contact.
//! - A call out to a number goes through the provider, whose 407 Senim
//!   answers; the phone sees the centre's number, never the caller's.
//! - With two trunks and the first stopped, calls leave by the second, the
//!   first is shown down, and it comes back up by itself when restarted
//!   (and Senim registers to it again at once).
//! - Over TCP: Senim opens the connection, registers, calls in and out
//!   over it, and registers again when the connection is lost.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::caller::Caller;
use common::kamailio::{Kamailio, PASSWORD, USER};
use common::phone::Phone;
use common::{call_steps, http, port_block, wait_until, Senim};

const CENTRE: &str = "+77232000000";
/// The test caller's number (its From): no phone may see it.
const CALLER_NUMBER: &str = "77011234567";
const OFFER: &str = "0 8 101";
const RTPMAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// A partner directory with the crisis centre at a number (reached through the trunks).
fn partners(dir: &Path) -> String {
    let text = r#"source = "test"
verified = false
updated = "2026-11-25"

[[partner]]
id = "ulba-crisis-centre"
name = { kk = "Дағдарыс орталығы", ru = "Кризисный центр" }
number = "+77232771922"
languages = ["kk", "ru"]
hours = "24/7"
services = ["crisis"]
source = "test"
verified = false
"#;
    let path = dir.join("partners.toml");
    std::fs::write(&path, text).expect("write partners");
    path.display().to_string()
}

fn trunks_view(senim: &Senim) -> serde_json::Value {
    let (code, text) = http(senim.http, "GET", "/trunks");
    assert_eq!(code, 200, "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

fn trunk_field(senim: &Senim, id: &str, field: &str) -> String {
    trunks_view(senim)
        .as_array()
        .and_then(|a| a.iter().find(|t| t["id"] == id).cloned())
        .map(|t| t[field].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn registering_trunk(port: u16) -> String {
    format!(
        "[[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:{port}\"\ndomain = \"provider.test\"\n\
         register = true\nregister_expires = \"10s\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
         probe_every = \"2s\"\n"
    )
}

fn registrations(k: &Kamailio) -> usize {
    k.log().matches("PROVIDER registered").count()
}

/// The caller through the provider: answered, and the greeting plays.
fn call_through(provider: SocketAddr) -> Caller {
    let mut c = Caller::new(provider);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    let rtp = c.rtp_for(Duration::from_millis(1500));
    assert!(
        rtp.len() > 20,
        "the greeting plays to a caller the provider forwarded ({} packets)",
        rtp.len()
    );
    c
}

/// The phone answered and is bridged (its ACK came): the caller hangs up,
/// Senim ends the phone's leg, the phone's scenario passes.
fn bridged_then_hang_up(caller: &mut Caller, partner: &mut Phone, senim: &Senim) {
    assert!(
        wait_until(Duration::from_secs(30), || partner
            .messages()
            .contains("ACK sip:")),
        "the phone answered and got its ACK:\n{}\n--- senim ---\n{}",
        partner.messages(),
        senim.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(caller.bye(), Some(200), "the caller hangs up");
    partner.assert_ok(Duration::from_secs(20), senim);
}

#[test]
fn registers_with_md5_refreshes_survives_a_registrar_restart_and_calls_out_through_a_407() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (k_port, phone_port) = (port_block(), port_block());
    let mut provider = Kamailio::start(dir.path(), k_port, "MD5", CENTRE, phone_port);
    let config = format!(
        "[centre]\nname = \"Senim\"\nnumber = \"{CENTRE}\"\n\n[data]\npartners = \"{}\"\n\n{}",
        partners(dir.path()),
        registering_trunk(k_port)
    );
    let senim = Senim::start_with(Some(&config), &[]);
    assert!(
        wait_until(Duration::from_secs(10), || trunk_field(
            &senim,
            "provider",
            "registration"
        ) == "registered"),
        "registered: {}\n{}",
        trunks_view(&senim),
        provider.log()
    );
    let log = provider.log();
    assert!(log.contains("algorithm=MD5"), "an MD5 answer:\n{log}");
    assert!(
        !log.contains(PASSWORD),
        "the password never goes on the wire"
    );
    // Refreshed well before the 10 s expire (at half of it).
    assert!(
        wait_until(Duration::from_secs(9), || registrations(&provider) >= 2),
        "refreshed:\n{}",
        provider.log()
    );
    // The registrar restarts and forgets the binding: Senim registers again.
    provider.restart();
    assert!(
        wait_until(Duration::from_secs(12), || registrations(&provider) >= 1),
        "registered again after the restart:\n{}\n--- senim ---\n{}",
        provider.log(),
        senim.log()
    );
    // A call to the centre's number at the provider reaches Senim.
    let mut partner = Phone::start(dir.path(), "partner_answer.xml", phone_port, senim.sip);
    let provider_addr: SocketAddr = format!("127.0.0.1:{k_port}").parse().expect("address");
    let mut caller = call_through(provider_addr);
    assert!(
        provider.log().contains("PROVIDER forwards INVITE"),
        "the provider forwarded the call:\n{}",
        provider.log()
    );
    // 0, the emergency key: the crisis partner's number, through the
    // provider, which challenges Senim's INVITE.
    assert_eq!(caller.press_info('0'), Some(200));
    bridged_then_hang_up(&mut caller, &mut partner, &senim);
    let log = provider.log();
    assert!(
        log.contains("PROVIDER challenges the INVITE"),
        "407:\n{log}"
    );
    assert!(
        log.contains("PROVIDER relays an authorized INVITE"),
        "answered:\n{log}"
    );
    let seen = partner.messages();
    let invite = seen
        .split("INVITE sip:")
        .nth(1)
        .expect("the phone got an INVITE");
    assert!(
        invite.contains(&format!("From: \"Senim\" <sip:{CENTRE}@provider.test>")),
        "the centre's number in From:\n{invite}"
    );
    assert!(
        invite.contains(&format!(
            "P-Asserted-Identity: <sip:{CENTRE}@provider.test>"
        )),
        "the centre's number asserted:\n{invite}"
    );
    assert!(
        !seen.contains(CALLER_NUMBER),
        "the caller's number reached the phone:\n{seen}"
    );
}

#[test]
fn registers_with_sha_256_where_the_registrar_offers_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (k_port, phone_port) = (port_block(), port_block());
    let provider = Kamailio::start(dir.path(), k_port, "SHA-256", CENTRE, phone_port);
    let config = format!(
        "[centre]\nname = \"Senim\"\nnumber = \"{CENTRE}\"\n\n{}",
        registering_trunk(k_port)
    );
    let senim = Senim::start_with(Some(&config), &[]);
    assert!(
        wait_until(Duration::from_secs(10), || trunk_field(
            &senim,
            "provider",
            "registration"
        ) == "registered"),
        "registered: {}\n{}\n--- senim ---\n{}",
        trunks_view(&senim),
        provider.log(),
        senim.log()
    );
    assert!(
        provider.log().contains("algorithm=SHA-256"),
        "{}",
        provider.log()
    );
    let view = trunks_view(&senim).to_string();
    assert!(
        !view.contains(PASSWORD) && !view.contains(USER),
        "no secrets: {view}"
    );
}

#[test]
fn with_the_first_trunk_stopped_calls_leave_by_the_second_and_it_comes_back_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_port, b_port, phone_port) = (port_block(), port_block(), port_block());
    let mut first = Kamailio::start(dir.path(), a_port, "MD5", CENTRE, phone_port);
    let second = Kamailio::start(dir.path(), b_port, "MD5", CENTRE, phone_port + 40);
    // The first registers for an hour: only its coming back up can make
    // Senim register again soon after a restart.
    let trunk = |id: &str, port: u16, register: &str| {
        format!(
            "[[trunk]]\nid = \"{id}\"\naddress = \"127.0.0.1:{port}\"\ndomain = \"provider.test\"\n\
             username = \"{USER}\"\npassword = \"{PASSWORD}\"\nprobe_every = \"1s\"\n{register}\n"
        )
    };
    let config =
        format!(
        "[centre]\nname = \"Senim\"\nnumber = \"{CENTRE}\"\n\n[data]\npartners = \"{}\"\n\n{}{}",
        partners(dir.path()),
        trunk("first", a_port, "register = true\nregister_expires = \"1h\"\n"),
        trunk("second", b_port, "")
    );
    // A short T1 so that an unanswered probe times out in seconds.
    let senim = Senim::start_with(Some(&config), &[("SENIM_SIP_T1", "100ms")]);
    assert!(
        wait_until(Duration::from_secs(5), || trunk_field(
            &senim, "first", "state"
        ) == "up"
            && trunk_field(&senim, "second", "state") == "up"
            && registrations(&first) == 1),
        "both up, the first registered: {}\n{}",
        trunks_view(&senim),
        first.log()
    );
    first.stop();
    assert!(
        wait_until(Duration::from_secs(15), || trunk_field(
            &senim, "first", "state"
        ) == "down"),
        "the first is down: {}",
        trunks_view(&senim)
    );
    // A caller presses 0: the partner's number leaves by the second trunk.
    let mut partner = Phone::start(dir.path(), "partner_answer.xml", phone_port + 40, senim.sip);
    let mut caller = Caller::new(senim.sip);
    let offer = caller.offer(OFFER, RTPMAPS);
    caller.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(caller.press_info('0'), Some(200));
    bridged_then_hang_up(&mut caller, &mut partner, &senim);
    assert!(
        second
            .log()
            .contains("PROVIDER relays an authorized INVITE"),
        "{}",
        second.log()
    );
    let steps = call_steps(&senim).join("\n");
    assert!(
        !steps.contains("trying trunk"),
        "a trunk marked down is skipped, not tried:\n{steps}"
    );
    // The first comes back and is seen up again by its probe.
    first.restart();
    assert!(
        wait_until(Duration::from_secs(20), || trunk_field(
            &senim, "first", "state"
        ) == "up"),
        "the first is up again: {}",
        trunks_view(&senim)
    );
    // Restarted, it may have forgotten Senim: Senim registers again at
    // once, though its binding had most of an hour left.
    assert!(
        wait_until(Duration::from_secs(5), || registrations(&first) >= 1),
        "registered again once back up:\n{}\n--- senim ---\n{}",
        first.log(),
        senim.log()
    );
}

/// A trunk over TCP: Senim opens the connection itself, registers and
/// calls out over it (the provider's 407 answered), the provider's call
/// comes in over TCP, and when the provider restarts (the connection
/// lost) Senim registers again at once over a new one, though its
/// binding had most of an hour left.
#[test]
fn over_tcp_registers_calls_out_and_registers_again_when_the_connection_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (k_port, phone_port) = (port_block(), port_block());
    let mut provider = Kamailio::start(dir.path(), k_port, "MD5", CENTRE, phone_port);
    let config = format!(
        "[centre]\nname = \"Senim\"\nnumber = \"{CENTRE}\"\n\n[data]\npartners = \"{}\"\n\n\
         [[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:{k_port}\"\ndomain = \"provider.test\"\n\
         transport = \"tcp\"\nregister = true\nregister_expires = \"1h\"\nusername = \"{USER}\"\n\
         password = \"{PASSWORD}\"\nkeepalive = \"5s\"\n",
        partners(dir.path()),
    );
    let senim = Senim::start_with(Some(&config), &[]);
    assert!(
        wait_until(Duration::from_secs(10), || trunk_field(
            &senim,
            "provider",
            "registration"
        ) == "registered"),
        "registered over TCP: {}\n{}\n--- senim ---\n{}",
        trunks_view(&senim),
        provider.log(),
        senim.log()
    );
    let log = provider.log();
    assert!(log.contains("PROVIDER got REGISTER over tcp"), "{log}");
    assert!(
        !log.contains("PROVIDER got REGISTER over udp"),
        "nothing over UDP:\n{log}"
    );
    assert!(log.contains("transport=tcp"), "a TCP contact:\n{log}");
    // The network calls the centre: the provider forwards the call to
    // Senim's contact over TCP, and the caller presses 0: the partner's
    // number, through the provider, over TCP.
    let mut partner = Phone::start(dir.path(), "partner_answer.xml", phone_port, senim.sip);
    let provider_addr: SocketAddr = format!("127.0.0.1:{k_port}").parse().expect("address");
    let mut caller = call_through(provider_addr);
    assert_eq!(caller.press_info('0'), Some(200));
    bridged_then_hang_up(&mut caller, &mut partner, &senim);
    let log = provider.log();
    assert!(log.contains("PROVIDER got INVITE over tcp"), "{log}");
    assert!(
        log.contains("PROVIDER relays an authorized INVITE"),
        "{log}"
    );
    // The provider restarts: the connection drops, and Senim registers
    // again over a new one.
    provider.restart();
    assert!(
        wait_until(Duration::from_secs(15), || provider
            .log()
            .contains("PROVIDER registered")),
        "registered again after the connection was lost:\n{}\n--- senim ---\n{}",
        provider.log(),
        senim.log()
    );
}
