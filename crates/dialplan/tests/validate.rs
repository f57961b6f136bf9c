//! The validator's rules, one by one, on small inline plans.

use std::collections::BTreeSet;
use std::path::Path;

use senim_dialplan::{load, load_str, AnyPrompt, Diagnostic, PromptCatalog, Severity};

fn check(xml: &str) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    check_with(xml, &AnyPrompt)
}

fn check_with(xml: &str, c: &dyn PromptCatalog) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    load_str(xml, Path::new("t.xml"), c).map(|(_, w)| w)
}

fn errors(xml: &str) -> Vec<String> {
    match check(xml) {
        Ok(w) => panic!("loaded; warnings {w:?}"),
        Err(d) => d
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.to_string())
            .collect(),
    }
}

fn warnings(xml: &str) -> Vec<String> {
    match check(xml) {
        Ok(w) => w.iter().map(|d| d.to_string()).collect(),
        Err(d) => panic!("{d:#?}"),
    }
}

/// A small valid plan; `{ON_FAIL}` and `{EXTRA}` are filled in by tests.
const BASE: &str = r#"<dialplan version="1" start="main" languages="kk ru" default-language="ru" emergency="crisis">
  <menu id="main" prompt="main-menu" on-fail="{ON_FAIL}">
    <choice digit="1" goto="route"/>
  </menu>
  <route id="route" service="legal" overflow="crisis"/>
  <transfer id="crisis" partner="ulba-crisis-centre" fallback="goodbye"/>
  <play id="goodbye" prompt="goodbye" next="end"/>
  <hangup id="end"/>{EXTRA}
</dialplan>"#;

fn base(on_fail: &str, extra: &str) -> String {
    BASE.replace("{ON_FAIL}", on_fail).replace("{EXTRA}", extra)
}

#[test]
fn a_valid_plan_has_no_findings() {
    assert_eq!(warnings(&base("route", "")), Vec::<String>::new());
}

#[test]
fn diagnostics_print_as_file_line_column() {
    let e = errors(&base("mian", ""));
    assert_eq!(
        e,
        vec![r#"t.xml:2:38: error: on-fail target "mian" does not exist (did you mean "main"?)"#]
    );
}

#[test]
fn silent_path_to_hangup_is_a_warning_unless_allowed() {
    let w = warnings(&base("goodbye", ""));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("t.xml:2:3: warning: a silent caller is hung up"),
        "{w:?}"
    );
    assert!(w[0].contains("main -> goodbye -> end"), "{w:?}");
    let allowed = base("goodbye", "").replace(
        r#"<hangup id="end"/>"#,
        r#"<hangup id="end" allow-silent="true"/>"#,
    );
    assert_eq!(warnings(&allowed), Vec::<String>::new());
}

#[test]
fn a_silent_retry_loop_through_a_route_is_allowed() {
    // main -> route (nobody answers) -> main: the caller is offered a human every time.
    let xml =
        base("route", "").replace(r#"overflow="crisis""#, r#"overflow="main" closed="crisis""#);
    assert_eq!(warnings(&xml), Vec::<String>::new());
}

#[test]
fn a_menu_whose_on_fail_is_itself_loops_forever() {
    let e = errors(&base("main", ""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("t.xml:2:3: error: a silent caller loops here forever"),
        "{e:?}"
    );
}

#[test]
fn emergency_path_ending_in_hangup_is_a_warning() {
    let xml = base("route", "").replace(r#"emergency="crisis""#, r#"emergency="goodbye""#);
    let w = warnings(&xml);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("emergency path can end at a hangup"), "{w:?}");
    assert!(w[0].starts_with("t.xml:1:"), "{w:?}");
}

#[test]
fn hours_cycle_without_input_is_an_error() {
    let xml = base(
        "h1",
        r#"
  <hours id="h1" open="route" closed="h2"/>
  <goto id="h2" target="h1"/>"#,
    );
    let e = errors(&xml);
    assert!(
        e.iter()
            .any(|e| e.contains("9:3: error: endless loop") && e.contains("h1 -> h2 -> h1")),
        "{e:?}"
    );
}

#[test]
fn prompt_missing_in_a_reachable_language_only() {
    struct NoKkMenu;
    impl PromptCatalog for NoKkMenu {
        fn has(&self, id: &str, language: &str) -> bool {
            !(id == "main-menu" && language == "kk")
        }
    }
    // main is reached only in ru (the default): fine.
    assert!(check_with(&base("route", ""), &NoKkMenu).is_ok());
    // A choice that sets kk and leads back to main: main is reachable in kk.
    let xml = base("route", "").replace(
        r#"<choice digit="1" goto="route"/>"#,
        r#"<choice digit="1" goto="route"/>
    <choice digit="2" language="kk" goto="main"/>"#,
    );
    let e = check_with(&xml, &NoKkMenu).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        e[0].to_string(),
        r#"t.xml:2:19: error: prompt "main-menu" has no recording in "kk" (node "main" can be reached in kk)"#
    );
    // The same with a <language> node.
    let xml = base(
        "kk",
        r#"
  <language id="kk" language="kk" next="main"/>"#,
    );
    assert!(check_with(&xml, &NoKkMenu).is_err());
}

#[test]
fn btreeset_works_as_a_catalog() {
    let mut set: BTreeSet<(&str, &str)> = BTreeSet::new();
    for id in ["main-menu", "goodbye"] {
        set.insert((id, "ru"));
    }
    assert!(check_with(&base("route", ""), &set).is_ok());
    set.remove(&("goodbye", "ru"));
    assert!(check_with(&base("route", ""), &set).is_err());
}

#[test]
fn a_closure_works_as_a_catalog() {
    let only_ru = |_id: &str, lang: &str| lang == "ru";
    assert!(check_with(&base("route", ""), &only_ru).is_ok());
    let nothing = |_: &str, _: &str| false;
    assert!(check_with(&base("route", ""), &nothing).is_err());
}

#[test]
fn columns_count_characters_not_bytes() {
    // Cyrillic before the error on the same line: 2 bytes per letter.
    let xml = "<!-- Меню --><dialplan version=\"1\" start=\"x\" languages=\"ru\" emergency-digit=\"none\" bogus=\"1\">\n<hangup id=\"x\" allow-silent=\"true\"/></dialplan>";
    let e = errors(xml);
    assert_eq!(e.len(), 1, "{e:?}");
    let col = "<!-- Меню --><dialplan version=\"1\" start=\"x\" languages=\"ru\" emergency-digit=\"none\" "
        .chars()
        .count()
        + 1;
    assert!(
        e[0].starts_with(&format!("t.xml:1:{col}: error: unknown attribute `bogus`")),
        "{e:?}"
    );
}

#[test]
fn a_byte_order_mark_and_an_xml_declaration_are_fine() {
    let xml = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        base("route", "")
    );
    assert_eq!(warnings(&xml), Vec::<String>::new());
}

#[test]
fn syntax_errors_point_at_the_markup() {
    let e =
        errors("<dialplan version=\"1\" start=\"a\">\n  <play id=\"a\" id=\"b\"/>\n</dialplan>");
    assert!(e[0].starts_with("t.xml:2:"), "{e:?}");
    assert!(e[0].contains("XML syntax"), "{e:?}");
    let e = errors("");
    assert!(e[0].contains("no <dialplan>"), "{e:?}");
    let e = errors("<menu/>");
    assert!(e[0].contains("root element must be <dialplan>"), "{e:?}");
    let e = errors("<dialplan version=\"1\" start=\"a\">");
    assert!(e[0].starts_with("t.xml:1:1: error: XML syntax"), "{e:?}");
    let e = errors("<!DOCTYPE x [<!ENTITY a \"b\">]><dialplan/>");
    assert!(e[0].contains("DOCTYPE"), "{e:?}");
}

#[test]
fn all_errors_of_one_stage_are_reported_together_and_sorted() {
    let xml = r#"<dialplan version="1" start="a" emergency="a">
  <play id="a" prompt="x" next="b" colour="red"/>
  <route id="b" service="legal" overflow="a" ring="soon"/>
  <menu id="c" prompt="p" on-fail="a" max-tries="0"/>
</dialplan>"#;
    let e = errors(xml);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with("t.xml:2:36: error: unknown attribute `colour`"));
    assert!(e[1].starts_with("t.xml:3:46: error: bad duration \"soon\""));
    assert!(e[2].starts_with("t.xml:4:39: error: `max-tries` must be a whole number"));
}

#[test]
fn prompt_ids_cannot_name_other_files() {
    let xml = base("route", "").replace(r#"prompt="goodbye""#, r#"prompt="../../etc/passwd""#);
    let e = errors(&xml);
    assert!(e[0].contains("bad prompt id"), "{e:?}");
}

#[test]
fn durations() {
    use senim_dialplan::parse::parse_duration;
    use std::time::Duration;
    assert_eq!(parse_duration("6s"), Some(Duration::from_secs(6)));
    assert_eq!(parse_duration("1500ms"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    for bad in [
        "",
        "6",
        "s",
        "6 s",
        "-1s",
        "1.5s",
        "6sec",
        "99999999999999999999s",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn unreadable_file_is_an_error_not_a_panic() {
    let e = load(Path::new("/nonexistent/plan.xml"), &AnyPrompt).unwrap_err();
    assert!(e[0]
        .to_string()
        .starts_with("/nonexistent/plan.xml:1:1: error: cannot read"));
}

#[test]
fn plan_accessors() {
    let (plan, _) = load_str(&base("route", ""), Path::new("t.xml"), &AnyPrompt).unwrap();
    assert_eq!(
        plan.node_ids().collect::<Vec<_>>(),
        ["main", "route", "crisis", "goodbye", "end"]
    );
    assert_eq!(
        plan.prompt_ids().into_iter().collect::<Vec<_>>(),
        ["goodbye", "main-menu"]
    );
    assert_eq!(
        plan.partners().into_iter().collect::<Vec<_>>(),
        ["ulba-crisis-centre"]
    );
    assert!(plan.schedules().is_empty());
    assert_eq!(plan.source(), Path::new("t.xml"));
    assert_eq!(plan.emergency_digit(), Some('0'));
    assert_eq!(plan.repeat_digit(), Some('*'));
    let (other, _) = load_str(&base("route", " "), Path::new("t.xml"), &AnyPrompt).unwrap();
    assert_ne!(plan.digest(), other.digest());
}

fn entry(node: &str) -> senim_dialplan::EntryPoint {
    senim_dialplan::EntryPoint {
        node: node.into(),
        origin: format!("[[line]] {node:?}"),
    }
}

#[test]
fn an_entry_point_must_name_a_node() {
    let xml = base("route", "");
    let d = senim_dialplan::load_str_with_entries(
        &xml,
        Path::new("t.xml"),
        &AnyPrompt,
        &[entry("mian")],
    )
    .map(|_| ())
    .unwrap_err();
    let e: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(
        e,
        vec![
            r#"t.xml:1:1: error: [[line]] "mian" starts at node "mian", which this dialplan does not have (did you mean "main"?)"#
        ]
    );
    senim_dialplan::load_str_with_entries(&xml, Path::new("t.xml"), &AnyPrompt, &[entry("route")])
        .unwrap();
}

#[test]
fn a_node_only_an_entry_point_reaches_is_not_unreachable() {
    let extra = r#"
  <menu id="kids" prompt="kids-menu" on-fail="route">
    <choice digit="1" goto="route"/>
  </menu>"#;
    let xml = base("route", extra);
    let e = errors(&xml);
    assert!(
        e.iter().any(|e| e.contains("node \"kids\" is unreachable")),
        "{e:?}"
    );
    let (_, w) = senim_dialplan::load_str_with_entries(
        &xml,
        Path::new("t.xml"),
        &AnyPrompt,
        &[entry("kids")],
    )
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn an_entry_point_is_checked_for_the_silent_caller_and_prompts() {
    // A silent caller of the line is hung up without a human: a warning at the entry.
    let extra = r#"
  <play id="kids" prompt="kids-info" next="end"/>"#;
    let xml = base("route", extra);
    let (_, w) = senim_dialplan::load_str_with_entries(
        &xml,
        Path::new("t.xml"),
        &AnyPrompt,
        &[entry("kids")],
    )
    .unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].to_string().contains("kids -> end"), "{w:?}");
    // Its prompts must exist in the default language (the line's caller has chosen none).
    struct OnlyKk;
    impl PromptCatalog for OnlyKk {
        fn has(&self, id: &str, language: &str) -> bool {
            id != "kids-info" || language == "kk"
        }
    }
    let d =
        senim_dialplan::load_str_with_entries(&xml, Path::new("t.xml"), &OnlyKk, &[entry("kids")])
            .map(|_| ())
            .unwrap_err();
    assert!(
        d.iter().any(|d| d
            .message
            .contains("\"kids-info\" has no recording in \"ru\"")),
        "{d:?}"
    );
}

/// Prompt lengths in tenths of a second per (id, language); `has` is true
/// for every prompt.
struct Lengths(&'static [(&'static str, &'static str, u64)]);

impl PromptCatalog for Lengths {
    fn has(&self, _id: &str, _language: &str) -> bool {
        true
    }
    fn duration(&self, id: &str, language: &str) -> Option<std::time::Duration> {
        self.0
            .iter()
            .find(|(i, l, _)| *i == id && *l == language)
            .map(|(_, _, tenths)| std::time::Duration::from_millis(tenths * 100))
    }
}

fn first_prompt_warnings(
    xml: &str,
    lengths: &Lengths,
    entries: &[senim_dialplan::EntryPoint],
    limit_secs: u64,
) -> Vec<String> {
    let (plan, w) =
        senim_dialplan::load_str_with_entries(xml, Path::new("t.xml"), lengths, entries).unwrap();
    assert!(w.is_empty(), "{w:?}");
    senim_dialplan::first_prompt(
        &plan,
        lengths,
        entries,
        std::time::Duration::from_secs(limit_secs),
    )
    .iter()
    .map(ToString::to_string)
    .collect()
}

#[test]
fn a_long_first_prompt_is_a_warning_at_the_first_menu_with_its_length_and_the_limit() {
    // The longest language counts: kk 9.5 s against ru 6.0 s.
    let long = Lengths(&[("main-menu", "kk", 95), ("main-menu", "ru", 60)]);
    let w = first_prompt_warnings(&base("route", ""), &long, &[], 8);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(
            "t.xml:2:3: warning: menu \"main\": a caller hears 9.5 s of prompts before the first \
             choice of the call (main-menu in kk), longer than the limit of 8.0 s"
        ),
        "{w:?}"
    );
    // Under the limit, or with a higher one: nothing.
    let short = Lengths(&[("main-menu", "kk", 45), ("main-menu", "ru", 60)]);
    assert!(first_prompt_warnings(&base("route", ""), &short, &[], 8).is_empty());
    assert!(first_prompt_warnings(&base("route", ""), &long, &[], 10).is_empty());
    // A catalog that knows no lengths (AnyPrompt) never warns.
    let (plan, _) = load_str(&base("route", ""), Path::new("t.xml"), &AnyPrompt).unwrap();
    assert!(senim_dialplan::first_prompt(
        &plan,
        &AnyPrompt,
        &[],
        std::time::Duration::from_millis(1)
    )
    .is_empty());
}

#[test]
fn the_first_prompt_counts_plays_on_the_way_and_the_intro_but_not_later_menus() {
    // start -> welcome (play) -> hours -> open: main / closed: night; main
    // has an intro; `more` comes only after a choice and is not counted.
    let xml = r#"<dialplan version="1" start="welcome" languages="kk ru" default-language="ru" emergency="crisis">
  <play id="welcome" prompt="welcome" next="when"/>
  <hours id="when" schedule="centre" open="main" closed="night"/>
  <menu id="main" intro="about" prompt="main-menu" on-fail="route">
    <choice digit="1" goto="more"/>
  </menu>
  <menu id="night" prompt="night-menu" on-fail="crisis">
    <choice digit="1" goto="crisis"/>
  </menu>
  <menu id="more" prompt="long-menu" on-fail="route">
    <choice digit="1" goto="route"/>
  </menu>
  <route id="route" service="legal" overflow="crisis"/>
  <transfer id="crisis" partner="ulba-crisis-centre" fallback="goodbye"/>
  <play id="goodbye" prompt="goodbye" next="end"/>
  <hangup id="end"/>
</dialplan>"#;
    let lengths = Lengths(&[
        ("welcome", "ru", 30),
        ("about", "ru", 30),
        ("main-menu", "ru", 30),
        ("night-menu", "ru", 40),
        ("long-menu", "ru", 300),
    ]);
    let w = first_prompt_warnings(xml, &lengths, &[], 8);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(
            "t.xml:4:3: warning: menu \"main\": a caller hears 9.0 s of prompts before the first \
             choice of the call (welcome about main-menu in ru)"
        ),
        "{w:?}"
    );
    // welcome + night-menu is 7 s: under the limit.
    assert!(!w.iter().any(|w| w.contains("\"night\"")), "{w:?}");
    // A line that starts at `more` makes it a first menu.
    let w = first_prompt_warnings(xml, &lengths, &[entry("more")], 8);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[1].starts_with("t.xml:10:3: warning: menu \"more\": a caller hears 30.0 s"),
        "{w:?}"
    );
}

#[test]
fn the_first_prompt_follows_both_branches_of_recognise_and_a_forget() {
    // A remembered caller's first menu is `back`; everyone else's `main`;
    // `forget` leads on to `main` without waiting.
    let xml = r#"<dialplan version="1" start="who" languages="kk ru" default-language="ru" emergency="crisis">
  <recognise id="who" known="back" new="main"/>
  <menu id="back" prompt="welcome-back" on-fail="route">
    <choice digit="9" goto="forget"/>
  </menu>
  <forget id="forget" next="main"/>
  <menu id="main" prompt="main-menu" on-fail="route">
    <choice digit="1" goto="route"/>
  </menu>
  <route id="route" service="legal" overflow="crisis"/>
  <transfer id="crisis" partner="ulba-crisis-centre" fallback="end"/>
  <hangup id="end"/>
</dialplan>"#;
    let lengths = Lengths(&[("welcome-back", "kk", 90), ("main-menu", "ru", 85)]);
    let w = first_prompt_warnings(xml, &lengths, &[], 8);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("t.xml:3:3: warning: menu \"back\": a caller hears 9.0 s"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("t.xml:7:3: warning: menu \"main\": a caller hears 8.5 s"),
        "{w:?}"
    );
}
