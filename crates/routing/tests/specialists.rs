//! The `[[specialist]]` format: the example file, and every refusal naming
//! the specialist and the key.

use std::path::Path;
use std::time::Duration;

use senim_routing::hours::Schedules;
use senim_routing::specialists::{ScheduleRef, Skill, SpecialistContact, Specialists};
use serde::Deserialize;

fn example() -> Specialists {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/specialists.example.toml");
    Specialists::load(&path).unwrap()
}

/// Parses one or more entries as a file and returns the error text.
fn err(text: &str) -> String {
    match Specialists::from_toml_str(text, Path::new("specialists.toml")) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => e.to_string(),
    }
}

const OK: &str = r#"
[[specialist]]
id = "aigerim"
name = "Айгерім"
skills = ["psychology"]
languages = ["kk"]
uri = "sip:aigerim@127.0.0.1:26001"
"#;

/// `OK` with one line replaced or added.
fn with(line: &str) -> String {
    let key = line.split('=').next().unwrap_or("").trim();
    let mut out: Vec<String> = OK
        .lines()
        .filter(|l| l.split('=').next().unwrap_or("").trim() != key)
        .map(String::from)
        .collect();
    out.push(line.to_string());
    out.join("\n")
}

#[test]
fn the_example_file_loads() {
    let s = example();
    assert_eq!(s.len(), 6);
    let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["aigerim", "daniyar", "svetlana", "erlan", "olga", "gulnara"]
    );
    // Mixed contacts: softphones, one direct SIP URI, one mobile via the trunk.
    let kinds: Vec<&str> = s.iter().map(|s| s.contact.kind()).collect();
    assert_eq!(
        kinds,
        [
            "softphone",
            "softphone",
            "sip-uri",
            "number",
            "softphone",
            "softphone"
        ]
    );
    assert_eq!(
        s.get("svetlana").unwrap().contact,
        SpecialistContact::Uri("sip:svetlana@127.0.0.1:26003".into())
    );
    assert_eq!(
        s.get("erlan").unwrap().contact,
        SpecialistContact::Number("+77000000001".into())
    );
    let erlan = s.get("erlan").unwrap();
    assert!(erlan.has_skill(Skill::Legal) && erlan.has_skill(Skill::Mediation));
    assert_eq!(erlan.wrap_up, Duration::from_secs(45));
    assert!(matches!(erlan.schedule, Some(ScheduleRef::Inline(_))));
    assert_eq!(s.get("daniyar").unwrap().wrap_up, Duration::from_secs(60));
    assert_eq!(s.get("aigerim").unwrap().wrap_up, Duration::from_secs(30));
    assert_eq!(s.get("aigerim").unwrap().max_calls, 1);
    assert_eq!(s.by_username("OLGA").map(|s| s.id.as_str()), Some("olga"));
    // Every skill and both languages are covered.
    for skill in Skill::ALL {
        assert!(s.with_skill(skill).count() >= 2, "{skill}");
    }
    assert!(s.iter().any(|x| x.languages == ["kk"]));
    assert!(s.iter().any(|x| x.languages == ["ru"]));
    // Named schedules exist in the default [hours].
    s.check_schedules(&Schedules::default_centre()).unwrap();
}

#[test]
fn passwords_are_kept_but_never_printed() {
    let s = example();
    let SpecialistContact::Registered { username, password } = &s.get("aigerim").unwrap().contact
    else {
        panic!("aigerim has a softphone");
    };
    assert_eq!(username, "aigerim");
    assert_eq!(password.expose(), "example-only-aigerim-4Fq9");
    let debug = format!("{s:?}");
    assert!(!debug.contains("example-only"), "{debug}");
    assert!(debug.contains("Password(***)"));
    let soft: Vec<(&str, &str)> = s
        .softphones()
        .map(|(id, user, _)| (id.as_str(), user))
        .collect();
    assert_eq!(
        soft,
        [
            ("aigerim", "aigerim"),
            ("daniyar", "daniyar"),
            ("olga", "olga"),
            ("gulnara", "gulnara")
        ]
    );
}

#[test]
fn specialists_fit_inside_the_main_configuration() {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default)]
        hours: Option<Schedules>,
        #[serde(default, rename = "specialist")]
        specialists: Specialists,
    }
    let text = r#"
[hours.centre]
mon = "09:00-18:00"

[[specialist]]
id = "aigerim"
name = "Айгерім"
skills = ["psychology", "mediation"]
languages = ["kk", "ru"]
username = "aigerim"
password = "a long secret"
schedule = "centre"

[[specialist]]
id = "erlan"
name = "Ерлан"
skills = "legal"
languages = "kk"
number = "+7 700 000 00 01"
max_calls = 2
wrap_up = 90
"#;
    let c: Config = toml::from_str(text).unwrap();
    assert_eq!(c.specialists.len(), 2);
    let erlan = c.specialists.get("erlan").unwrap();
    assert_eq!(
        erlan.contact,
        SpecialistContact::Number("+77000000001".into())
    );
    assert_eq!(erlan.max_calls, 2);
    assert_eq!(erlan.wrap_up, Duration::from_secs(90));
    c.specialists.check_schedules(&c.hours.unwrap()).unwrap();

    // An error inside the main configuration names the specialist and the key.
    let bad = text.replace("\"psychology\", \"mediation\"", "\"psychological\"");
    let e = toml::from_str::<Config>(&bad).err().unwrap().to_string();
    assert!(
        e.contains("specialist #1 `aigerim`, key `skills`: unknown skill `psychological` (write `psychology`)"),
        "{e}"
    );
    // No specialists at all is fine (routing then overflows).
    let c: Config = toml::from_str("").unwrap();
    assert!(c.specialists.is_empty());
}

#[test]
fn unknown_skills_are_refused_with_a_hint() {
    let e = err(&with(r#"skills = ["lawyer"]"#));
    assert_eq!(
        e,
        "specialists.toml:3: specialist #1 `aigerim`, key `skills`: unknown skill `lawyer` (write `legal`)"
    );
    let e = err(&with(r#"skills = ["cooking"]"#));
    assert!(
        e.ends_with("unknown skill `cooking`; skills are legal, psychology and mediation"),
        "{e}"
    );
    assert!(err(&with("skills = []")).contains("key `skills`: empty"));
    assert!(err(&with(r#"skills = ["legal", "legal"]"#)).contains("`legal` is listed twice"));
    assert!(err(&with("skills = 3")).contains("expected a list of skills"));
    let no_skills: String = OK
        .lines()
        .filter(|l| !l.starts_with("skills"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(err(&no_skills).contains("key `skills`: missing"));
}

#[test]
fn bad_languages_are_refused() {
    let e = err(&with(r#"languages = ["kz"]"#));
    assert!(
        e.contains("key `languages`: `kz` is not a language code: write `kk`"),
        "{e}"
    );
    assert!(err(&with(r#"languages = ["RU"]"#)).contains("lower case (`ru`)"));
    assert!(err(&with(r#"languages = ["русский"]"#)).contains("write `ru`"));
    assert!(err(&with(r#"languages = ["kazakh language"]"#)).contains("two lower-case letters"));
    assert!(err(&with(r#"languages = ["kk", "kk"]"#)).contains("listed twice"));
    assert!(err(&with("languages = []")).contains("empty"));
}

#[test]
fn bad_contacts_are_refused() {
    // Two ways at once.
    let e = err(&with(r#"number = "+77000000001""#));
    assert!(
        e.contains("key `number`: give one way to reach the specialist, not uri and number"),
        "{e}"
    );
    // None.
    let none: String = OK
        .lines()
        .filter(|l| !l.starts_with("uri"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(err(&none).contains("key `uri`: missing: give uri"));
    // A bad URI.
    assert!(err(&with(r#"uri = "aigerim@127.0.0.1""#))
        .contains("key `uri`: `aigerim@127.0.0.1` is not a SIP URI"));
    assert!(err(&with(r#"uri = "sip:aigerim@127.0.0.1:99999""#)).contains("bad port"));
    // Numbers: national format, short codes.
    let as_number = |n: &str| {
        OK.replace(
            "uri = \"sip:aigerim@127.0.0.1:26001\"",
            &format!("number = \"{n}\""),
        )
    };
    // The national form is the same number as the international one.
    for form in ["8 700 000 00 01", "+7 700 000 00 01", "77000000001"] {
        let s = Specialists::from_toml_str(&as_number(form), Path::new("specialists.toml"))
            .expect("a number in any form");
        assert_eq!(
            s.get("aigerim").map(|a| a.contact.clone()),
            Some(SpecialistContact::Number("+77000000001".into())),
            "{form}"
        );
    }
    assert!(err(&as_number("8 10 49 30 1234567")).contains("E.164"));
    assert!(err(&as_number("112")).contains("short code"));
    // Softphones: username and password together, a real password.
    let soft = |extra: &str| OK.replace("uri = \"sip:aigerim@127.0.0.1:26001\"", extra);
    assert!(err(&soft(r#"username = "aigerim""#)).contains("key `password`: missing"));
    assert!(err(&soft(r#"password = "a long secret""#)).contains("give `username` too"));
    let e = err(&soft("username = \"aigerim\"\npassword = \"short\""));
    assert!(e.contains("key `password`: too short"), "{e}");
    assert!(!e.contains("short\""), "the password is not echoed: {e}");
    // Twelve characters at least (docs/configuration.md): eleven are refused.
    let e = err(&soft("username = \"aigerim\"\npassword = \"eleven-char\""));
    assert!(e.contains("too short: at least 12 characters"), "{e}");
    assert!(Specialists::from_toml_str(
        &soft("username = \"aigerim\"\npassword = \"twelve-chars\""),
        Path::new("specialists.toml")
    )
    .is_ok());
    assert!(err(&soft(
        "username = \"ai gerim\"\npassword = \"a long secret\""
    ))
    .contains("key `username`"));
    // uri with a password: the password is for softphones only.
    assert!(err(&with(r#"password = "a long secret""#)).contains("key `password`"));
}

#[test]
fn duplicates_are_refused_at_the_second_entry() {
    let two = format!("{OK}\n{}", OK.replace("Айгерім", "Another"));
    let e = err(&two);
    assert_eq!(
        e,
        "specialists.toml:11: specialist #2 `aigerim`, key `id`: duplicate id: specialist #1 has the same id"
    );
    let soft = |id: &str, user: &str| {
        format!(
            "[[specialist]]\nid = \"{id}\"\nname = \"x\"\nskills = [\"legal\"]\nlanguages = [\"ru\"]\nusername = \"{user}\"\npassword = \"a long secret\"\n"
        )
    };
    let e = err(&format!("{}{}", soft("a", "desk"), soft("b", "Desk")));
    assert!(
        e.contains("specialist #2 `b`, key `username`: specialist `a` already registers as `Desk`"),
        "{e}"
    );
}

#[test]
fn other_mistakes_name_the_key() {
    let e = err(&with(r#"phone = "+77000000001""#));
    assert!(
        e.contains("key `phone`: unknown key (write `number`)"),
        "{e}"
    );
    assert!(err(&with("hours = \"centre\"")).contains("(write `schedule`)"));
    assert!(err(&with("max_calls = 0")).contains("key `max_calls`: 0 would never ring"));
    assert!(err(&with("max_calls = 100")).contains("from 1 to 8"));
    assert!(err(&with(r#"wrap_up = "soon""#)).contains("key `wrap_up`: `soon` is not a duration"));
    assert!(err(&with(r#"wrap_up = "2h""#)).contains("longer than the limit"));
    assert!(err(&with(r#"name = """#)).contains("key `name`: missing or empty"));
    assert!(err(&with(r#"id = "Aigerim""#)).contains("lower-case letters"));
    assert!(err(&with(r#"schedule = "Day Shift""#))
        .contains("key `schedule`: `Day Shift` is not a schedule id"));
    let e = err(&with(r#"schedule = { mon = "9-18" }"#));
    assert!(e.contains("key `schedule.mon`"), "{e}");
    assert!(err("[[specialists]]\nid = \"a\"\n").contains("write [[specialist]] for each entry"));
    assert!(err("specialist = 3").contains("expected [[specialist]] entries"));
    assert!(err("[[specialist]]\nname = \"x\"\n").contains("specialist #1, key `id`: missing"));
}

#[test]
fn schedules_named_by_specialists_must_exist() {
    let text = with(r#"schedule = "evening""#);
    let s = Specialists::from_toml_str(&text, Path::new("s.toml")).unwrap();
    let e = s
        .check_schedules(&Schedules::default_centre())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "specialist #1 `aigerim`, key `schedule`: no schedule `evening` in [hours] (known: centre)"
    );
    // "24/7" and tables are accepted inline.
    let s = Specialists::from_toml_str(&with(r#"schedule = "24/7""#), Path::new("s.toml")).unwrap();
    assert!(matches!(
        &s.get("aigerim").unwrap().schedule,
        Some(ScheduleRef::Inline(w)) if w.is_always()
    ));
}

#[test]
fn a_specialists_own_limits_are_read_and_bad_ones_refused_with_the_key() {
    let text = format!(
        "{OK}wrap_up_by_kind = {{ crisis-intervention = \"15m\" }}\ncrisis_in_a_row = 2\n\
         break = \"30m\"\ndaily_calls = 0\nlong_call = \"20m\"\nalert_after = \"40m\"\n"
    );
    let list = Specialists::from_toml_str(&text, Path::new("specialists.toml")).unwrap();
    let l = &list.get("aigerim").unwrap().limits;
    assert_eq!(
        l.wrap_up_by_kind.get("crisis-intervention"),
        Some(&Duration::from_secs(900))
    );
    assert_eq!(l.crisis_in_a_row, Some(2));
    assert_eq!(l.break_for, Some(Duration::from_secs(1800)));
    assert_eq!(l.daily_calls, Some(0));
    assert_eq!(l.long_call, Some(Duration::from_secs(1200)));
    assert_eq!(l.alert_after, Some(Duration::from_secs(2400)));

    let e = err(&with("daily_calls = -1"));
    assert!(
        e.contains("key `daily_calls`") && e.contains("0 (no cap)"),
        "{e}"
    );
    let e = err(&with("break = \"soon\""));
    assert!(
        e.contains("key `break`") && e.contains("not a duration"),
        "{e}"
    );
    let e = err(&with("wrap_up_by_kind = { Crisis = \"1m\" }"));
    assert!(e.contains("key `wrap_up_by_kind.Crisis`"), "{e}");
    let e = err(&with("calls_per_day = 3"));
    assert!(e.contains("write `daily_calls`"), "{e}");
    let e = err(&with("alert_after = \"2d\""));
    assert!(e.contains("key `alert_after`"), "{e}");
}
