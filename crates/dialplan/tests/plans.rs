//! The shipped plans load cleanly; every broken fixture fails where it says.

mod common;

use std::path::PathBuf;

use common::{repo, Manifest};
use senim_dialplan::{load, Severity};

fn xml_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .expect("directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

#[test]
fn centre_plan_loads_with_the_bundled_prompts_and_no_warnings() {
    let catalog = Manifest::load();
    let path = repo().join("dialplans/centre.xml");
    let (plan, warnings) = match load(&path, &catalog) {
        Ok(x) => x,
        Err(d) => panic!(
            "centre.xml: {}",
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(plan.start(), "recognise");
    assert!(plan.node("greeting").is_some());
    assert_eq!(plan.default_language(), "ru");
    assert_eq!(plan.languages(), ["kk", "ru"]);
    assert_eq!(plan.emergency(), Some("crisis"));
    assert!(plan.partners().contains("ulba-crisis-centre"));
    assert_eq!(plan.schedules().into_iter().collect::<Vec<_>>(), ["centre"]);
    assert_eq!(
        plan.services().into_iter().collect::<Vec<_>>(),
        ["legal", "mediation", "psychology"]
    );
    assert_eq!(plan.digest().len(), 12);
}

#[test]
fn every_example_loads_without_errors() {
    let catalog = Manifest::load();
    let files = xml_files("dialplans/examples");
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        match load(&f, &catalog) {
            Ok((_plan, warnings)) => {
                for w in &warnings {
                    eprintln!("{w}");
                }
            }
            Err(d) => panic!(
                "{}",
                d.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
}

#[test]
fn every_broken_fixture_fails_at_its_expected_position() {
    let catalog = Manifest::load();
    let files = xml_files("dialplans/broken");
    assert!(files.len() >= 12, "only {} fixtures", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let (line, col, keyword) = expectation(&text);
        let errs = match load(&f, &catalog) {
            Ok((_, w)) => panic!("{} loaded (warnings {w:?})", f.display()),
            Err(d) => d,
        };
        let first = errs
            .iter()
            .find(|d| d.severity == Severity::Error)
            .unwrap_or_else(|| panic!("{}: no error", f.display()));
        let shown = first.to_string();
        assert!(
            shown.starts_with(&format!("{}:{line}:{col}: error: ", f.display())),
            "{}: expected {line}:{col}, got {shown}",
            f.display()
        );
        assert!(
            first
                .message
                .to_lowercase()
                .contains(&keyword.to_lowercase()),
            "{}: expected {keyword:?} in {shown}",
            f.display()
        );
    }
}

/// The expected first error of a fixture, from its first line:
/// `<!-- expect: LINE:COLUMN: keyword -->`.
fn expectation(text: &str) -> (usize, usize, String) {
    let first = text.lines().next().unwrap_or("");
    let rest = first
        .trim()
        .strip_prefix("<!-- expect:")
        .and_then(|r| r.strip_suffix("-->"))
        .unwrap_or_else(|| panic!("fixture without an expectation line: {first}"));
    let mut parts = rest.trim().splitn(3, ':');
    let line = parts
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("line");
    let col = parts
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("column");
    let keyword = parts.next().unwrap_or("").trim().to_string();
    (line, col, keyword)
}
