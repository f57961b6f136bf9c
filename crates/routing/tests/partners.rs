use std::path::Path;

use chrono::{TimeZone, Utc};
use senim_routing::hours::{Calendar, Holidays};
use senim_routing::partners::{Contact, PartnerDirectory, PartnersError};
use senim_routing::Verified;

#[test]
fn the_bundled_directory_loads() {
    let d = PartnerDirectory::bundled().unwrap();
    assert!(!d.verified().is_verified());
    let ids: Vec<&str> = d.ids().collect();
    assert_eq!(
        ids,
        [
            "ulba-crisis-centre",
            "oskemen-social-psych-service",
            "ana-uyi",
            "helpline-150",
            "violence-1415",
            "contact-centre-111",
            "emergency-112",
            "police-102",
        ]
    );
    let ulba = d.get("ulba-crisis-centre").unwrap();
    assert_eq!(
        ulba.contacts(),
        [
            Contact::Number("+77232771922".into()),
            Contact::Number("+77714451144".into())
        ]
    );
    assert!(ulba.hours().is_none());
    assert_eq!(ulba.verified(), Verified::No);
    assert!(ulba.speaks("kk") && ulba.speaks("ru"));
    assert!(ulba.offers("crisis"));
    assert_eq!(ulba.name("ru"), "Кризисный центр «Ульба»");
    assert_eq!(
        d.get("ana-uyi").unwrap().contacts(),
        [Contact::Number("+78000807771".into())]
    );
    assert_eq!(
        d.get("oskemen-social-psych-service").unwrap().contacts()[0],
        Contact::Number("+77232266892".into())
    );
    assert_eq!(d.get("violence-1415").unwrap().verified(), Verified::No);
    for id in [
        "emergency-112",
        "police-102",
        "helpline-150",
        "contact-centre-111",
    ] {
        let p = d.get(id).unwrap();
        assert!(p.hours().unwrap().is_always(), "{id}");
    }
    // Round-the-clock partners are open on a holiday night.
    let cal = Calendar::almaty(Holidays::bundled().unwrap());
    let night = Utc.with_ymd_and_hms(2026, 3, 22, 21, 0, 0).unwrap();
    assert_eq!(
        d.get("emergency-112").unwrap().is_open(&cal, night),
        Some(true)
    );
    assert_eq!(ulba.is_open(&cal, night), None);
    assert!(d.get("nobody").is_none());
    assert_eq!(
        d.offering("crisis").map(|p| p.id()).collect::<Vec<_>>(),
        ["ulba-crisis-centre", "ana-uyi", "helpline-150"]
    );
    for p in d.iter() {
        assert!(!p.source().is_empty() && !p.contacts().is_empty());
    }
}

#[test]
fn the_file_on_disk_is_the_bundled_one() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/partners.toml");
    assert_eq!(
        PartnerDirectory::load(&p).unwrap(),
        PartnerDirectory::bundled().unwrap()
    );
}

const GOOD: &str = r#"
source = "test"
verified = false

[[partner]]
id = "pbx-night"
name = { kk = "Түнгі кезекші", ru = "Ночной дежурный" }
uri = "sip:night@pbx.example.kz:5070;transport=tcp"
number = "+7 7232 77-19-22"
languages = ["ru"]
services = ["crisis"]
source = "test"
verified = "2026-11-25"
notes = "x"
[partner.hours]
mon = "20:00-08:00"
holidays = "open"
"#;

#[test]
fn uri_first_then_numbers_and_schedule_tables() {
    let d = PartnerDirectory::from_toml_str(GOOD, Path::new("p.toml")).unwrap();
    let p = d.get("pbx-night").unwrap();
    assert_eq!(
        p.contacts(),
        [
            Contact::Uri("sip:night@pbx.example.kz:5070;transport=tcp".into()),
            Contact::Number("+77232771922".into())
        ]
    );
    assert!(p.verified().is_verified());
    let h = p.hours().unwrap();
    assert!(!h.observes_holidays());
    assert_eq!(p.contacts()[1].to_string(), "+77232771922");
}

#[test]
fn a_partner_sees_the_callers_number_only_when_its_entry_says_so() {
    let d = PartnerDirectory::bundled().unwrap();
    assert!(d.iter().all(|p| !p.shares_caller_number()));
    let plain = PartnerDirectory::from_toml_str(&entry(BASE), Path::new("x")).unwrap();
    assert!(!plain.get("ulba").unwrap().shares_caller_number());
    let text = with("share_caller_number", Some("share_caller_number = true"));
    let shared = PartnerDirectory::from_toml_str(&text, Path::new("x")).unwrap();
    assert!(shared.get("ulba").unwrap().shares_caller_number());
    // The national form is the same number as E.164.
    let national = with("number", Some("number = \"8 7232 77-19-22\""));
    let read = PartnerDirectory::from_toml_str(&national, Path::new("x")).unwrap();
    let e164 = with("number", Some("number = \"+7 7232 77-19-22\""));
    let e164 = PartnerDirectory::from_toml_str(&e164, Path::new("x")).unwrap();
    assert_eq!(
        read.get("ulba").unwrap().contacts(),
        e164.get("ulba").unwrap().contacts()
    );
    let bad = with("share_caller_number", Some("share_caller_number = \"yes\""));
    assert!(err_of(&bad).contains("key `share_caller_number`: expected true or false"));
}

fn err_of(text: &str) -> String {
    match PartnerDirectory::from_toml_str(text, Path::new("data/partners.toml")) {
        Ok(_) => panic!("should fail:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn entry(body: &str) -> String {
    format!("source = \"t\"\nverified = false\n\n[[partner]]\n{body}")
}

const BASE: &str = "id = \"ulba\"\nname = { kk = \"a\", ru = \"b\" }\nnumber = \"112\"\nlanguages = [\"kk\"]\nservices = [\"crisis\"]\nsource = \"s\"\nverified = false\n";

fn with(key: &str, line: Option<&str>) -> String {
    let mut out = String::new();
    for l in BASE.lines() {
        if l.starts_with(&format!("{key} ")) {
            if let Some(r) = line {
                out.push_str(r);
                out.push('\n');
            }
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !BASE.lines().any(|l| l.starts_with(&format!("{key} "))) {
        if let Some(r) = line {
            out.push_str(r);
            out.push('\n');
        }
    }
    entry(&out)
}

#[test]
fn bad_files_give_clear_errors() {
    // The base entry is fine.
    assert!(PartnerDirectory::from_toml_str(&entry(BASE), Path::new("x")).is_ok());
    let cases: Vec<(String, &str)> = vec![
        ("source = \"t\"\n[[partner".into(), "data/partners.toml: "),
        ("verified = false\n".into(), "key `source`"),
        ("source = \"t\"\n".into(), "key `verified`"),
        (
            "source = \"t\"\nverified = false\n[[partners]]\nid = \"x\"\n".into(),
            "[[partner]]",
        ),
        (with("id", None), "key `id`: missing"),
        (
            with("id", Some("id = \"Ulba Centre\"")),
            "key `id`: `Ulba Centre`",
        ),
        (with("id", Some("id = 5")), "key `id`"),
        (with("name", None), "key `name`"),
        (
            with("name", Some("name = { kk = \"a\" }")),
            "key `name.ru`: missing",
        ),
        (
            with(
                "name",
                Some("name = { kk = \"a\", ru = \"b\", en = \"c\" }"),
            ),
            "key `name.en`",
        ),
        (with("number", None), "needs a `uri`"),
        (
            with("number", Some("number = \"8 10 49 30 123456\"")),
            "write numbers in E.164",
        ),
        (
            with("number", Some("number = \"77-19-22\"")),
            "key `number`",
        ),
        (with("number", Some("number = 112")), "as strings"),
        (with("number", Some("number = []")), "empty list"),
        (
            with("number", Some("number = [\"112\", \"112\"]")),
            "listed twice",
        ),
        (
            with("number", Some("uri = \"tel:+77232771922\"")),
            "key `uri`",
        ),
        (with("number", Some("uri = \"sip:a b@host\"")), "key `uri`"),
        (with("languages", None), "key `languages`"),
        (with("languages", Some("languages = []")), "key `languages`"),
        (
            with("languages", Some("languages = [\"Kazakh\"]")),
            "key `languages`: `Kazakh`",
        ),
        (
            with("services", Some("services = [\"Crisis Help\"]")),
            "key `services`",
        ),
        (with("source", None), "key `source`"),
        (with("verified", None), "key `verified`: missing"),
        (with("verified", Some("verified = true")), "key `verified`"),
        (
            with("verified", Some("verified = \"soon\"")),
            "key `verified`",
        ),
        (with("hours", Some("hours = \"sometimes\"")), "key `hours`"),
        (
            with("hours", Some("hours = { mon = \"9-18\" }")),
            "key `hours.mon`",
        ),
        (
            with("hours", Some("hours = { monday = \"09:00-18:00\" }")),
            "key `hours.monday`",
        ),
        (with("notes", Some("notes = 5")), "key `notes`"),
        (
            with("colour", Some("colour = \"red\"")),
            "key `colour`: unknown key",
        ),
    ];
    for (text, want) in cases {
        let e = err_of(&text);
        assert!(e.starts_with("data/partners.toml"), "{e}");
        assert!(e.contains(want), "`{e}` should contain `{want}`\n{text}");
    }
    // Errors name the entry by number and id, with the line.
    let e = err_of(&with("number", Some("number = \"+7 7232 77-19-2\"")));
    assert_eq!(
        e,
        "data/partners.toml:5: partner #1 `ulba`, key `number`: `+7 7232 77-19-2`: a Kazakhstan number is +7 and 10 digits (+7 7232 77 19 22), this has 9 after +7"
    );
    // Duplicate ids name both entries.
    let two = format!("{}\n[[partner]]\n{BASE}", entry(BASE));
    let e = err_of(&two);
    assert!(
        e.starts_with(
            "data/partners.toml:14: partner #2 `ulba`, key `id`: duplicate id: partner #1"
        ),
        "{e}"
    );
    // A missing file.
    let e = PartnerDirectory::load(Path::new("/nonexistent/partners.toml")).unwrap_err();
    assert!(matches!(e, PartnersError::Io { .. }));
}

#[test]
fn no_panic_on_odd_input() {
    for t in [
        "",
        "partner = 1",
        "partner = [1]",
        "source = \"x\"\nverified = false\npartner = [1, \"a\"]",
        "source = \"x\"\nverified = false\n[[partner]]",
        "source = \"x\"\nverified = false\n[[partner]]\nid = \"\"",
        "source = \"x\"\nverified = false\n[[partner]]\nid = \"a\"\nname = 1",
        "source = \"x\"\nverified = false\n[[partner]]\nid = \"a\"\nname = {kk=\"\", ru=\"\"}",
        "source = \"x\"\nverified = false\n[[partner]]\nid = \"a\"\nname = {kk=\"a\", ru=\"a\"}\nuri = \"sip:[\"",
        "source = \"x\"\nverified = false\n[[partner]]\nid = \"a\"\nname = {kk=\"a\", ru=\"a\"}\nuri = \"sip:a@[::1]:\"",
        "source = \"x\"\nverified = false\n[[partner]]\nid = \"a\"\nname = {kk=\"a\", ru=\"a\"}\nnumber = \"+\"",
        "source = \"x\"\nverified = false\n[[partner]]\nid = \"a\"\nname = {kk=\"a\", ru=\"a\"}\nnumber = \"+7\u{0}\"",
        "source = \"x\"\nverified = false\n[[partner]]\nid = \"a\"\nname = {kk=\"a\", ru=\"a\"}\nnumber = \"８８８\"",
    ] {
        let _ = PartnerDirectory::from_toml_str(t, Path::new("x"));
    }
    // Empty directory is valid.
    let d = PartnerDirectory::from_toml_str("source = \"x\"\nverified = false\n", Path::new("x"))
        .unwrap();
    assert!(d.is_empty());
}
