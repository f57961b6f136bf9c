use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Timelike, Utc, Weekday};
use senim_routing::hours::{
    Calendar, DayOffKind, DayStatus, Holidays, HoursError, Schedules, WeeklySchedule,
};
use senim_routing::Verified;

/// Local Almaty wall-clock time (UTC+5) as a UTC instant.
fn almaty(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Almaty
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
}

fn cal() -> Calendar {
    Calendar::almaty(Holidays::bundled().unwrap())
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn offset_secs(c: &Calendar, at: DateTime<Utc>) -> i32 {
    c.local_time(at).offset().fix().local_minus_utc()
}

#[test]
fn almaty_offsets_follow_tzdata_2024a() {
    let c = Calendar::almaty(Holidays::empty());
    // Before the switch: UTC+6.
    assert_eq!(offset_secs(&c, utc(2024, 2, 28, 12, 0)), 6 * 3600);
    // After 2024-03-01: UTC+5, everywhere in Kazakhstan.
    assert_eq!(offset_secs(&c, utc(2024, 3, 4, 12, 0)), 5 * 3600);
    assert_eq!(offset_secs(&c, utc(2026, 11, 25, 12, 0)), 5 * 3600);
    // No daylight saving: the same offset in summer and winter.
    assert_eq!(offset_secs(&c, utc(2026, 1, 15, 0, 0)), 5 * 3600);
    assert_eq!(offset_secs(&c, utc(2026, 7, 15, 0, 0)), 5 * 3600);
    let local = c.local_time(utc(2026, 11, 25, 4, 0));
    assert_eq!((local.hour(), local.minute()), (9, 0));
}

#[test]
fn weekday_open_at_nine_closed_at_six() {
    let c = cal();
    let s = WeeklySchedule::centre_default();
    // Wednesday 2026-11-25.
    assert!(!c.is_open(&s, almaty(2026, 11, 25, 8, 59, 59), true));
    assert!(c.is_open(&s, almaty(2026, 11, 25, 9, 0, 0), true));
    assert!(c.is_open(&s, almaty(2026, 11, 25, 17, 59, 59), true));
    assert!(!c.is_open(&s, almaty(2026, 11, 25, 18, 0, 0), true));
    // Saturday and Sunday closed.
    assert!(!c.is_open(&s, almaty(2026, 11, 28, 12, 0, 0), true));
    assert!(!c.is_open(&s, almaty(2026, 11, 29, 12, 0, 0), true));
}

#[test]
fn nauryz_is_closed_when_holidays_are_honoured() {
    let c = cal();
    let s = WeeklySchedule::centre_default();
    // Monday 2026-03-23: Nauryz.
    assert!(!c.is_open(&s, almaty(2026, 3, 23, 12, 0, 0), true));
    assert!(c.is_open(&s, almaty(2026, 3, 23, 12, 0, 0), false));
    // Carried-over days 24 and 25 March (Nauryz fell on Sat and Sun).
    assert!(!c.is_open(&s, almaty(2026, 3, 24, 12, 0, 0), true));
    assert!(!c.is_open(&s, almaty(2026, 3, 25, 12, 0, 0), true));
    assert!(c.is_open(&s, almaty(2026, 3, 26, 12, 0, 0), true));
    // 8 March was a Sunday: Monday 9 March is the day off.
    assert!(!c.is_open(&s, almaty(2026, 3, 9, 10, 0, 0), true));
    let h = c.holidays();
    match h.status(date(2026, 3, 9)) {
        DayStatus::DayOff(d) => {
            assert_eq!(d.kind, DayOffKind::CarriedOver);
            assert_eq!(d.moved_from, Some(date(2026, 3, 8)));
        }
        other => panic!("{other:?}"),
    }
    // Kurban Ait 2026 (Wednesday 27 May), religious.
    assert!(!c.is_open(&s, almaty(2026, 5, 27, 12, 0, 0), true));
    assert_eq!(
        h.day_off(date(2026, 5, 27)).unwrap().kind,
        DayOffKind::Religious
    );
}

#[test]
fn bundled_holidays_match_the_2026_calendar() {
    let h = Holidays::bundled().unwrap();
    assert_eq!(h.country(), "KZ");
    assert!(h.covers(2026) && h.covers(2027) && !h.covers(2028));
    let off: Vec<String> = h
        .days_off()
        .filter(|d| d.date.year() == 2026 && d.date.weekday().number_from_monday() <= 5)
        .map(|d| d.date.format("%m-%d").to_string())
        .collect();
    // Working days off in 2026 for a Mon-Fri week.
    assert_eq!(
        off,
        [
            "01-01", "01-02", "01-07", "03-09", "03-23", "03-24", "03-25", "05-01", "05-07",
            "05-11", "05-27", "07-06", "10-26", "12-16"
        ]
    );
    // Constitution Day moved to 15 March from 2027 (new Constitution).
    assert!(h.day_off(date(2026, 8, 31)).is_none());
    assert!(h.day_off(date(2027, 3, 15)).is_some());
    // Every entry has both names and a source.
    for d in h.days_off() {
        assert!(!d.name_kk.is_empty() && !d.name_ru.is_empty() && !d.source.is_empty());
    }
    // 2027 is not verified; 2026 is.
    let years: Vec<_> = h
        .years()
        .map(|y| (y.year, y.verified.is_verified()))
        .collect();
    assert_eq!(years, [(2026, true), (2027, false)]);
    assert_eq!(h.day_off(date(2027, 5, 16)).unwrap().verified, Verified::No);
}

#[test]
fn the_holiday_file_on_disk_is_the_bundled_one() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/holidays-kz.toml");
    assert_eq!(Holidays::load(&p).unwrap(), Holidays::bundled().unwrap());
}

const MOVED: &str = r#"
source = "test"
verified = false
[[years]]
year = 2023
source = "decree of 2023 (test copy)"
verified = "2023-04-28"
days_off = [
  { date = 2023-07-06, kk = "Астана күні", ru = "День столицы" },
  { date = "2023-07-07", kk = "Демалыс", ru = "Перенесённый выходной", kind = "decree", moved_from = 2023-07-01 },
]
working_days = [ { date = 2023-07-01, works_as = "fri", reason = "rest day moved to 7 July" } ]
"#;

#[test]
fn a_moved_rest_day_and_a_transferred_working_day() {
    let h = Holidays::from_toml_str(MOVED, Path::new("moved.toml")).unwrap();
    let c = Calendar::almaty(h);
    let s = WeeklySchedule::centre_default()
        .with_day(Weekday::Fri, "09:00-16:00")
        .unwrap();
    // Friday 7 July 2023: the decree's day off.
    assert!(!c.is_open(&s, almaty(2023, 7, 7, 10, 0, 0), true));
    assert!(c.is_open(&s, almaty(2023, 7, 7, 10, 0, 0), false));
    // Saturday 1 July 2023: worked, with Friday's hours.
    assert!(c.is_open(&s, almaty(2023, 7, 1, 10, 0, 0), true));
    assert!(!c.is_open(&s, almaty(2023, 7, 1, 16, 30, 0), true));
    assert!(!c.is_open(&s, almaty(2023, 7, 1, 10, 0, 0), false));
    let w = c.holidays().working_day(date(2023, 7, 1)).unwrap();
    assert_eq!(w.works_as, Weekday::Fri);
    assert_eq!(w.source, "decree of 2023 (test copy)");
    assert!(w.verified.is_verified());
}

#[test]
fn ranges_across_midnight() {
    let c = cal();
    let night = WeeklySchedule::from_toml_str(
        r#"
        mon = "20:00-08:00"
        tue = "20:00-08:00"
        wed = "20:00-08:00"
        thu = "20:00-08:00"
        fri = "20:00-08:00"
        "#,
    )
    .unwrap();
    // Wednesday 2026-11-25 evening and Thursday morning.
    assert!(!c.is_open(&night, almaty(2026, 11, 25, 19, 59, 59), true));
    assert!(c.is_open(&night, almaty(2026, 11, 25, 20, 0, 0), true));
    assert!(c.is_open(&night, almaty(2026, 11, 25, 23, 59, 59), true));
    assert!(c.is_open(&night, almaty(2026, 11, 26, 0, 0, 0), true));
    assert!(c.is_open(&night, almaty(2026, 11, 26, 7, 59, 59), true));
    assert!(!c.is_open(&night, almaty(2026, 11, 26, 8, 0, 0), true));
    // Friday night runs into Saturday morning; Saturday night is closed.
    assert!(c.is_open(&night, almaty(2026, 11, 28, 3, 0, 0), true));
    assert!(!c.is_open(&night, almaty(2026, 11, 28, 21, 0, 0), true));
    // Sunday night closed, Monday 00:30 closed (Sunday has no range).
    assert!(!c.is_open(&night, almaty(2026, 11, 30, 0, 30, 0), true));
    // A range belongs to the day it starts on: the holiday Tuesday 2026-12-15
    // is ordinary, Wednesday 16 Dec (Independence Day) has no evening range,
    // and its night does not run into Thursday.
    assert!(c.is_open(&night, almaty(2026, 12, 16, 3, 0, 0), true));
    assert!(!c.is_open(&night, almaty(2026, 12, 16, 21, 0, 0), true));
    assert!(!c.is_open(&night, almaty(2026, 12, 17, 3, 0, 0), true));
    assert!(c.is_open(&night, almaty(2026, 12, 17, 3, 0, 0), false));
}

#[test]
fn round_the_clock() {
    let c = cal();
    let always = WeeklySchedule::from_toml_value(&toml::Value::String("24/7".into())).unwrap();
    assert!(always.is_always());
    assert!(!always.observes_holidays());
    let t = WeeklySchedule::from_toml_str("always = true").unwrap();
    assert_eq!(t, always);
    for at in [
        almaty(2026, 3, 23, 3, 0, 0),
        almaty(2026, 11, 28, 23, 59, 59),
        almaty(2027, 1, 1, 0, 0, 0),
    ] {
        assert!(c.is_open(&always, at, true));
    }
    assert_eq!(
        c.next_opening(&always, almaty(2026, 3, 23, 3, 0, 0)),
        Some(c.local_time(almaty(2026, 3, 23, 3, 0, 0)))
    );
    // A whole day written as a range.
    let day = WeeklySchedule::closed()
        .with_day(Weekday::Sat, "00:00-24:00")
        .unwrap();
    assert!(c.is_open(&day, almaty(2026, 11, 28, 0, 0, 0), true));
    assert!(c.is_open(&day, almaty(2026, 11, 28, 23, 59, 59), true));
    assert!(!c.is_open(&day, almaty(2026, 11, 29, 0, 0, 0), true));
}

#[test]
fn next_opening() {
    let c = cal();
    let s = WeeklySchedule::centre_default();
    // Wednesday 19:00 -> Thursday 09:00.
    let n = c.next_opening(&s, almaty(2026, 11, 25, 19, 0, 0)).unwrap();
    assert_eq!(n, c.local_time(almaty(2026, 11, 26, 9, 0, 0)));
    assert_eq!(n.format("%Y-%m-%d %H:%M").to_string(), "2026-11-26 09:00");
    // Friday 18:00 -> Monday 09:00.
    let n = c.next_opening(&s, almaty(2026, 11, 27, 18, 0, 0)).unwrap();
    assert_eq!(n, c.local_time(almaty(2026, 11, 30, 9, 0, 0)));
    // Open now -> now.
    let at = almaty(2026, 11, 25, 10, 0, 0);
    assert_eq!(c.next_opening(&s, at), Some(c.local_time(at)));
    // Friday 20 March 2026 evening -> Nauryz and carry-overs -> Thursday 26th.
    let n = c.next_opening(&s, almaty(2026, 3, 20, 18, 30, 0)).unwrap();
    assert_eq!(n, c.local_time(almaty(2026, 3, 26, 9, 0, 0)));
    // Ignoring holidays -> Monday 23rd.
    let n = c
        .next_opening_with(&s, almaty(2026, 3, 20, 18, 30, 0), false)
        .unwrap();
    assert_eq!(n, c.local_time(almaty(2026, 3, 23, 9, 0, 0)));
    // Never open -> None.
    assert_eq!(
        c.next_opening(&WeeklySchedule::closed(), almaty(2026, 11, 25, 10, 0, 0)),
        None
    );
    // Two ranges: lunch break.
    let split = WeeklySchedule::closed()
        .with_day(Weekday::Wed, "09:00-13:00, 14:00-18:00")
        .unwrap();
    assert!(!c.is_open(&split, almaty(2026, 11, 25, 13, 30, 0), true));
    let n = c
        .next_opening(&split, almaty(2026, 11, 25, 13, 30, 0))
        .unwrap();
    assert_eq!(n, c.local_time(almaty(2026, 11, 25, 14, 0, 0)));
    // A Sunday-only schedule opens on the coming Sunday.
    let sunday = WeeklySchedule::closed()
        .with_day(Weekday::Sun, "10:00-11:00")
        .unwrap();
    let n = c
        .next_opening(&sunday, almaty(2026, 11, 25, 10, 0, 0))
        .unwrap();
    assert_eq!(n, c.local_time(almaty(2026, 11, 29, 10, 0, 0)));
}

#[test]
fn next_opening_horizon_is_fourteen_days() {
    // A holiday table that closes 20 days in a row.
    let mut text = String::from(
        "source = \"t\"\nverified = false\n[[years]]\nyear = 2026\nsource = \"t\"\nverified = false\ndays_off = [\n",
    );
    for d in 1..=20 {
        text.push_str(&format!(
            "  {{ date = 2026-12-{d:02}, kk = \"x\", ru = \"x\" }},\n"
        ));
    }
    text.push_str("]\n");
    let c = Calendar::almaty(Holidays::from_toml_str(&text, Path::new("t.toml")).unwrap());
    let s = WeeklySchedule::centre_default();
    assert_eq!(c.next_opening(&s, almaty(2026, 11, 30, 19, 0, 0)), None);
    // Not honouring holidays, it opens the next morning.
    assert!(c
        .next_opening_with(&s, almaty(2026, 11, 30, 19, 0, 0), false)
        .is_some());
}

#[test]
fn schedules_from_a_config_table() {
    #[derive(serde::Deserialize)]
    struct Config {
        hours: Schedules,
    }
    let cfg: Config = toml::from_str(
        r#"
        [hours]
        night = "24/7"

        [hours.centre]
        mon = "09:00-18:00"
        tue = "09:00-13:00, 14:00-18:00"
        wed = "09:00-18:00"
        thu = "09:00-18:00"
        fri = "09:00-17:00"
        sat = ""
        sun = "closed"

        [hours.weekend]
        sat = "10:00-14:00"
        holidays = "open"
        notes = "duty lawyer"
        "#,
    )
    .unwrap();
    let s = &cfg.hours;
    assert_eq!(s.ids().collect::<Vec<_>>(), ["centre", "night", "weekend"]);
    assert!(s.get("night").unwrap().is_always());
    let centre = s.get("centre").unwrap();
    assert_eq!(centre.ranges(Weekday::Tue).len(), 2);
    assert!(centre.ranges(Weekday::Sat).is_empty());
    assert!(centre.observes_holidays());
    assert!(!s.get("weekend").unwrap().observes_holidays());
    assert_eq!(s.get("weekend").unwrap().notes(), "duty lawyer");
    assert_eq!(
        centre.to_string(),
        "mon 09:00-18:00; tue 09:00-13:00, 14:00-18:00; wed 09:00-18:00; thu 09:00-18:00; fri 09:00-17:00; sat closed; sun closed"
    );
    assert!(s.get("nope").is_none());

    let d = Schedules::default_centre();
    assert_eq!(d.get("centre"), Some(&WeeklySchedule::centre_default()));
    let only_night = Schedules::from_toml_str("night = \"24/7\"").unwrap();
    assert!(only_night.get("centre").is_none());
    assert!(only_night.with_default_centre().get("centre").is_some());
}

#[test]
fn schedule_errors_name_the_key() {
    let cases = [
        ("[centre]\nmon = \"9-18\"", "centre.mon"),
        ("[centre]\nmonday = \"09:00-18:00\"", "centre.monday"),
        ("[centre]\nmon = 9", "centre.mon"),
        ("[centre]\nmon = \"25:00-26:00\"", "centre.mon"),
        ("[centre]\nmon = \"24/7\"", "centre.mon"),
        ("[centre]\nalways = true\nmon = \"09:00-18:00\"", "centre"),
        ("[centre]\nalways = \"yes\"", "centre.always"),
        ("[centre]\nholidays = \"maybe\"", "centre.holidays"),
        ("centre = \"sometimes\"", "centre"),
        ("centre = 5", "centre"),
        ("[Centre]\nmon = \"09:00-18:00\"", "Centre"),
    ];
    for (text, key) in cases {
        match Schedules::from_toml_str(text) {
            Err(HoursError::Schedule { key: k, message }) => {
                assert_eq!(k, key, "{text}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{text}: expected a schedule error, got {other:?}"),
        }
    }
    let e = Schedules::from_toml_str("[centre]\nmonday = \"09:00-18:00\"").unwrap_err();
    assert!(e.to_string().contains("write `mon`"), "{e}");
    let e = Schedules::from_toml_str("[centre]\nmon = \"9-18\"").unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule `centre.mon`: in `9-18`: `9` is not a time like 09:00"
    );
    // Through serde the message survives.
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Config {
        hours: Schedules,
    }
    let e = toml::from_str::<Config>("[hours.centre]\ntue = \"09:00-18:00,\"").unwrap_err();
    assert!(e.to_string().contains("centre.tue"), "{e}");
}

#[test]
fn holiday_file_errors() {
    let head = "source = \"t\"\nverified = false\n";
    let year = "[[years]]\nyear = 2026\nsource = \"t\"\nverified = false\n";
    let top = |t: &str| format!("{head}{t}");
    let yr = |t: &str| format!("{head}{year}{t}");
    let cases: Vec<(String, &str)> = vec![
        ("not toml [".to_string(), "expected"),
        ("verified = false\n".to_string(), "`source`"),
        ("source = \"t\"\n".to_string(), "`verified`"),
        ("source = \"t\"\nverified = true\n".to_string(), "write the date"),
        (top("year = 2026\n"), "unknown key"),
        (top("[[years]]\nsource = \"t\"\nverified = false\n"), "`year`"),
        (top("[[years]]\nyear = 2026\nverified = false\n"), "`source`"),
        (top("[[years]]\nyear = 2026\nsource = \"t\"\n"), "`verified`"),
        (yr("days_off = [ { date = 2027-01-01, kk = \"a\", ru = \"b\" } ]\n"), "not in 2026"),
        (yr("days_off = [ { date = \"2026-02-30\", kk = \"a\", ru = \"b\" } ]\n"), "not a date"),
        (yr("days_off = [ { date = 2026-01-01, ru = \"b\" } ]\n"), "Kazakh and Russian"),
        (yr("days_off = [ { date = 2026-01-01, kk = \"a\", ru = \"b\", kind = \"fun\" } ]\n"), "`kind`"),
        (
            yr("days_off = [ { date = 2026-01-05, kk = \"a\", ru = \"b\", kind = \"carried-over\" } ]\n"),
            "moved_from",
        ),
        (
            yr("days_off = [ { date = 2026-01-01, kk = \"a\", ru = \"b\" }, { date = 2026-01-01, kk = \"a\", ru = \"b\" } ]\n"),
            "already listed",
        ),
        (
            yr("days_off = [ { date = 2026-01-01, kk = \"a\", ru = \"b\", colour = \"red\" } ]\n"),
            "key `colour`",
        ),
        (yr("working_days = [ { date = 2026-11-25 } ]\n"), "already a working day"),
        (yr("working_days = [ { date = 2026-11-28, works_as = \"funday\" } ]\n"), "`works_as`"),
        (
            yr("days_off = [ { date = 2026-11-28, kk = \"a\", ru = \"b\" } ]\nworking_days = [ { date = 2026-11-28 } ]\n"),
            "listed twice",
        ),
        (yr("days_off = 5\n"), "`days_off`"),
        (yr("days_off = [ 5 ]\n"), "days_off #1"),
        (yr("days_off = [ { date = 2026-01-01T10:00:00, kk = \"a\", ru = \"b\" } ]\n"), "date only"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let err = Holidays::from_toml_str(text, Path::new("data/holidays-kz.toml"))
            .expect_err(text)
            .to_string();
        assert!(err.starts_with("data/holidays-kz.toml"), "{err}");
        assert!(
            err.contains(want),
            "case {i}: `{err}` should contain `{want}`\n{text}"
        );
    }
    // Two blocks for one year.
    let text = format!("{head}{year}{year}");
    let err = Holidays::from_toml_str(&text, Path::new("h.toml")).unwrap_err();
    assert!(err.to_string().contains("two [[years]] blocks"), "{err}");
    // The line of the bad entry is given.
    let text = format!(
        "{head}{year}days_off = [\n  {{ date = 2026-01-01, kk = \"a\", ru = \"b\" }},\n  {{ date = 2026-01-02, kk = \"a\" }},\n]\n"
    );
    let err = Holidays::from_toml_str(&text, Path::new("h.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("h.toml:9: year 2026, days_off #2 (2026-01-02)"),
        "{err}"
    );
    // A missing file.
    let err = Holidays::load(Path::new("/nonexistent/holidays.toml")).unwrap_err();
    assert!(matches!(err, HoursError::Io { .. }));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/holidays.toml: cannot read"));
}

#[test]
fn no_panic_on_odd_input() {
    let odd = [
        "",
        "=",
        "[[years]]",
        "years = 1",
        "years = [1, 2]",
        "source = \"\"\nverified = false",
        "source = \"x\"\nverified = 2026-01-01T00:00:00Z",
        "source = \"x\"\nverified = false\n[[years]]\nyear = 99999999999\nsource = \"x\"\nverified = false",
        "source = \"x\"\nverified = false\n[[years]]\nyear = -5\nsource = \"x\"\nverified = false",
        "source = \"x\"\nverified = false\n[[years]]\nyear = 2026\nsource = \"x\"\nverified = false\ndays_off = [{}]",
        "source = \"x\"\nverified = false\n[[years]]\nyear = 2026\nsource = \"x\"\nverified = false\nworking_days = [{date = \"\"}]",
    ];
    for t in odd {
        let _ = Holidays::from_toml_str(t, Path::new("x"));
        let _ = Schedules::from_toml_str(t);
        let _ = WeeklySchedule::from_toml_str(t);
    }
    // Extreme instants do not panic.
    let c = cal();
    let s = WeeklySchedule::centre_default();
    for at in [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        DateTime::<Utc>::UNIX_EPOCH,
    ] {
        let _ = c.is_open(&s, at, true);
        let _ = c.next_opening(&s, at);
        let _ = c.local_time(at);
    }
}
