//! The web pages in a real browser (headless Chromium over WebDriver)
//! against the real binary: the sign-in page in Kazakh, Russian and
//! English; the coordinator sees a call placed by SIPp on the live board
//! while it is in the menu; a specialist claims a callback request left by
//! a caller, sees the number only after claiming, and completes it with a
//! note; the coordinator finds the call in the calls list and downloads
//! the CSV report; a form without its CSRF token and pages of another
//! role are refused. The centre's setup: an administrator sees the dialplan's
//! version, the trunk, the softphones and the partners (never a number or a
//! password), reloads the configuration from the page and sees what was
//! applied, then a refused plan with its line and column; a coordinator
//! sees no reload button and is refused the reload.
//! `SENIM_SCREENSHOTS=docs/screenshots` saves each page.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::browser::{
    page_text, screenshot, text_of, wait_for, wait_page_contains, wait_text_ends, Driver,
};
use common::walks::leave_callback_request;
use common::{http_with, Senim};
use fantoccini::{Client, Locator};

/// Open round the clock; two specialists for legal help in Russian, so a
/// Kazakh psychology call overflows to the callback questions.
const CENTRE: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n\n\
    [[specialist]]\nid = \"erlan\"\nname = \"Erlan\"\nskills = [\"legal\"]\nlanguages = [\"ru\"]\nuri = \"sip:erlan@127.0.0.1:9\"\n\n\
    [[specialist]]\nid = \"aigerim\"\nname = \"Aigerim\"\nskills = [\"legal\"]\nlanguages = [\"ru\"]\nuri = \"sip:aigerim@127.0.0.1:9\"\n";
/// The test caller's number (From of `common::caller`).
const CALLER: &str = "+77011234567";
const PASSWORD: &str = "correct horse battery";

/// The `[[user]]` entry `senim user` prints for this person.
fn user(name: &str, role: &str, specialist: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_senim"));
    cmd.args(["user", "--name", name, "--role", role]);
    if let Some(id) = specialist {
        cmd.args(["--specialist", id]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("senim user");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password");
    let out = child.wait_with_output().expect("senim user output");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(PASSWORD), "the password is not printed");
    text[text.find("[[user]]").expect("entry")..].to_string()
}

async fn sign_in(c: &Client, base: &str, name: &str) {
    c.goto(&format!("{base}/login")).await.expect("login page");
    c.find(Locator::Id("name"))
        .await
        .expect("name field")
        .send_keys(name)
        .await
        .expect("type the name");
    c.find(Locator::Id("password"))
        .await
        .expect("password field")
        .send_keys(PASSWORD)
        .await
        .expect("type the password");
    c.find(Locator::Id("sign-in"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("sign in");
    // The next page comes once the password is checked, which takes a
    // while in a debug build on a busy machine.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        match c.current_url().await {
            Ok(url) if url.path() != "/login" => return,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn choose_language(c: &Client, code: &str) {
    c.find(Locator::Css(&format!(
        "#lang-choice option[value='{code}']"
    )))
    .await
    .expect("language option")
    .click()
    .await
    .expect("choose it");
    c.find(Locator::Id("lang-apply"))
        .await
        .expect("apply")
        .click()
        .await
        .expect("apply it");
}

async fn session_cookie(c: &Client) -> String {
    c.get_named_cookie("senim_session")
        .await
        .map(|k| k.value().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_of_the_coordinator_and_the_specialists() {
    let config = format!(
        "{CENTRE}\n{}\n{}\n{}\n",
        user("dana", "coordinator", None),
        user("erlan", "specialist", Some("erlan")),
        user("aigerim", "specialist", Some("aigerim")),
    );
    let senim = std::sync::Arc::new(Senim::start_with(Some(&config), &[]));
    let base = format!("http://{}", senim.http);
    let driver = Driver::start();

    // The sign-in page in the browser's language, then in each language.
    let c = driver.browser("ru").await;
    c.goto(&format!("{base}/")).await.expect("home");
    assert_eq!(text_of(&c, "h1").await, "Вход");
    screenshot(&c, "login").await;
    for (code, title) in [("en", "Sign in"), ("kk", "Кіру"), ("ru", "Вход")] {
        choose_language(&c, code).await;
        assert!(wait_for(&c, "h1", Duration::from_secs(5)).await);
        assert_eq!(text_of(&c, "h1").await, title, "{code}");
    }

    // A wrong password is refused and says so.
    c.goto(&format!("{base}/login")).await.expect("login");
    c.find(Locator::Id("name"))
        .await
        .expect("name")
        .send_keys("dana")
        .await
        .expect("type");
    c.find(Locator::Id("password"))
        .await
        .expect("pw")
        .send_keys("not the password")
        .await
        .expect("type");
    c.find(Locator::Id("sign-in"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    assert!(
        wait_page_contains(&c, "Неверное имя или пароль", Duration::from_secs(20)).await,
        "a wrong password is refused with a message: {}",
        page_text(&c).await
    );

    // The coordinator: a call placed by SIPp shows on the live board while
    // it is in the menu, and leaves it when it ends.
    sign_in(&c, &base, "dana").await;
    assert!(
        c.current_url().await.expect("url").path() == "/board",
        "the coordinator lands on the board"
    );
    let scenario = std::fs::read_to_string(
        common::repo_root().join("tests/scenarios/caller_hangup_in_menu.xml"),
    )
    .expect("scenario")
    .replace(
        "<pause milliseconds=\"3000\"/>",
        "<pause milliseconds=\"12000\"/>",
    );
    let scenario_path = senim.dir.path().join("caller_waits_in_menu.xml");
    std::fs::write(&scenario_path, scenario).expect("write scenario");
    let sipp = {
        let senim = senim.clone();
        let path = scenario_path.clone();
        tokio::task::spawn_blocking(move || {
            common::sipp_file(&senim, &path, &[], Duration::from_secs(40))
        })
    };
    assert!(
        wait_for(
            &c,
            "#calls tr.call[data-state='call.menu']",
            Duration::from_secs(15)
        )
        .await,
        "the call in the menu is not on the board: {}",
        page_text(&c).await
    );
    screenshot(&c, "board").await;
    let run = sipp.await.expect("sipp");
    assert!(run.success, "{}", run.output);
    assert!(
        wait_text_ends(&c, "#calls-h", "(0)", Duration::from_secs(10)).await,
        "the ended call left the board: {}",
        page_text(&c).await
    );
    // The call is in the day's calls list, with its timeline.
    c.goto(&format!("{base}/calls")).await.expect("calls");
    assert!(
        wait_for(&c, "#call-list tbody tr", Duration::from_secs(5)).await,
        "the call is not in the list: {}",
        page_text(&c).await
    );
    screenshot(&c, "calls").await;
    c.find(Locator::Css("#call-list tbody tr a"))
        .await
        .expect("the call's link")
        .click()
        .await
        .expect("open the call");
    assert!(wait_for(&c, "#timeline tr", Duration::from_secs(5)).await);
    assert!(
        page_text(&c).await.contains("greeting"),
        "{}",
        page_text(&c).await
    );
    // The reports: a chart made on the server, and the CSV download.
    c.goto(&format!("{base}/reports")).await.expect("reports");
    assert!(wait_for(&c, "svg.chart", Duration::from_secs(5)).await);
    assert_eq!(text_of(&c, "#total-offered").await, "1");
    screenshot(&c, "reports").await;
    let href = c
        .find(Locator::Id("csv"))
        .await
        .expect("the CSV link")
        .attr("href")
        .await
        .expect("href")
        .unwrap_or_default();
    let cookie = format!("senim_session={}", session_cookie(&c).await);
    let (code, headers, csv) = http_with(senim.http, "GET", &href, &[("Cookie", &cookie)], "");
    assert_eq!(code, 200, "{href}: {csv}");
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-disposition" && v.contains("senim-report-day-")));
    assert!(csv.lines().count() >= 2 && csv.contains("offered"), "{csv}");
    // A specialist's pages are not the coordinator's.
    c.goto(&format!("{base}/me")).await.expect("me");
    assert!(!page_text(&c).await.contains("Мои обращения"));
    c.close().await.expect("close");

    // A caller leaves a callback request.
    let id = tokio::task::spawn_blocking({
        let senim = senim.clone();
        move || leave_callback_request(&senim)
    })
    .await
    .expect("callback request");
    let digits = CALLER.trim_start_matches('+');

    // Erlan: the open follow-up, without the number, until he claims it.
    let e = driver.browser("en").await;
    sign_in(&e, &base, "erlan").await;
    assert_eq!(e.current_url().await.expect("url").path(), "/me");
    assert!(
        wait_for(
            &e,
            &format!("#open tr[data-id='{id}']"),
            Duration::from_secs(5)
        )
        .await
    );
    let text = page_text(&e).await;
    assert!(!text.contains(digits), "the list shows no number: {text}");
    e.goto(&format!("{base}/follow-ups/{id}"))
        .await
        .expect("detail");
    let text = page_text(&e).await;
    assert!(
        !text.contains(digits) && !text.contains("Number to call"),
        "{text}"
    );
    screenshot(&e, "specialist").await;
    e.goto(&format!("{base}/me")).await.expect("me");
    e.find(Locator::Css(&format!(
        "#open tr[data-id='{id}'] button.claim"
    )))
    .await
    .expect("claim button")
    .click()
    .await
    .expect("claim");
    assert!(
        wait_for(&e, "#number", Duration::from_secs(5)).await,
        "{}",
        page_text(&e).await
    );
    assert_eq!(text_of(&e, "#number").await, CALLER);
    screenshot(&e, "follow-up").await;

    // A form without its CSRF token is refused.
    let cookie = format!("senim_session={}", session_cookie(&e).await);
    let (code, _, _) = http_with(
        senim.http,
        "POST",
        &format!("/follow-ups/{id}/notes"),
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "text=no+token",
    );
    assert_eq!(code, 403);
    // A specialist's session cannot open the coordinator's board.
    let (code, _, _) = http_with(senim.http, "GET", "/board", &[("Cookie", &cookie)], "");
    assert_eq!(code, 403);

    // A note, then completion with a result and a last note.
    e.find(Locator::Id("note-text"))
        .await
        .expect("note")
        .send_keys("Called, no answer yet")
        .await
        .expect("type");
    e.find(Locator::Id("add-note"))
        .await
        .expect("save")
        .click()
        .await
        .expect("save it");
    assert!(wait_for(&e, "#notes", Duration::from_secs(5)).await);
    e.find(Locator::Css("#result option[value='reached']"))
        .await
        .expect("result")
        .click()
        .await
        .expect("choose");
    e.find(Locator::Id("complete-notes"))
        .await
        .expect("last note")
        .send_keys("Reached; legal advice given")
        .await
        .expect("type");
    e.find(Locator::Id("complete"))
        .await
        .expect("complete")
        .click()
        .await
        .expect("complete it");
    assert!(wait_for(&e, "#status", Duration::from_secs(5)).await);
    assert_eq!(text_of(&e, "#status").await, "Done");
    assert!(page_text(&e).await.contains("Reached; legal advice given"));
    e.close().await.expect("close");

    // Aigerim cannot open Erlan's follow-up: no number, no notes.
    let a = driver.browser("kk").await;
    sign_in(&a, &base, "aigerim").await;
    a.goto(&format!("{base}/follow-ups/{id}"))
        .await
        .expect("detail");
    let text = page_text(&a).await;
    assert!(
        !text.contains(digits) && !text.contains("legal advice"),
        "{text}"
    );
    assert!(
        text.contains("Менің жұмысым"),
        "the page is in Kazakh: {text}"
    );
    a.close().await.expect("close");

    // The reads are in the audit log.
    let pool = senim.db().await;
    let reads: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE token_name = 'erlan' AND target = $1",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert!(reads >= 2, "claim and reads audited: {reads}");
}

/// The centre with a registering trunk (the bundled partner directory and
/// plan), `extra`, and `users` (made once: a new hash would be a changed
/// user, whose sessions a reload ends).
fn setup_config(users: &str, extra: &str) -> String {
    format!(
        "{CENTRE}\n[[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:9\"\ndomain = \"provider.test\"\n\
         register = true\nusername = \"77232000000\"\npassword = \"{TRUNK_PASSWORD}\"\n\n{extra}\n{users}\n"
    )
}
const TRUNK_PASSWORD: &str = "trunk secret 4711";

/// The version `GET /dialplan` gives.
fn dialplan_version(senim: &Senim) -> String {
    let (code, text) = common::http(senim.http, "GET", "/dialplan");
    assert_eq!(code, 200, "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let status: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    status["version"].as_str().unwrap_or("").to_string()
}

/// Press the reload button and wait for the page with the answer `outcome`.
async fn press_reload(c: &Client, outcome: &str) {
    c.find(Locator::Id("reload-config"))
        .await
        .expect("the reload button")
        .click()
        .await
        .expect("press it");
    assert!(
        wait_for(
            c,
            &format!("#reload-answer[data-outcome='{outcome}']"),
            Duration::from_secs(20)
        )
        .await,
        "no answer {outcome}: {}",
        page_text(c).await
    );
}

/// The administrator sees the dialplan's version, the trunk (never its
/// password), the softphones and the partners (never a number), reloads
/// the configuration from the page and sees what was applied, then a
/// refused reload with its error's line and column; the coordinator sees
/// the page without the button and is refused the reload even with the
/// form's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_centre_s_setup_and_the_reload_of_the_configuration() {
    let users = format!(
        "{}\n{}\n",
        user("aliya", "admin", None),
        user("dana", "coordinator", None)
    );
    let config = setup_config(&users, "");
    let senim = Senim::start_with(Some(&config), &[]);
    let base = format!("http://{}", senim.http);
    let version = dialplan_version(&senim);
    assert!(!version.is_empty());
    let driver = Driver::start();

    let c = driver.browser("en").await;
    sign_in(&c, &base, "aliya").await;
    c.find(Locator::Css("nav a[href='/setup']"))
        .await
        .expect("the setup page in the navigation")
        .click()
        .await
        .expect("open it");
    assert!(wait_for(&c, "#plan-version", Duration::from_secs(5)).await);
    assert_eq!(text_of(&c, "#plan-version").await, version);
    assert_eq!(text_of(&c, "h1").await, "The centre's setup");
    assert!(
        wait_for(
            &c,
            "#partners tr[data-id='helpline-150']",
            Duration::from_secs(1)
        )
        .await
    );
    assert!(
        wait_for(
            &c,
            "#partners tr[data-id='ulba-crisis-centre']",
            Duration::from_secs(1)
        )
        .await
    );
    assert!(wait_for(&c, "#trunks tr[data-id='provider']", Duration::from_secs(1)).await);
    let html = c.source().await.expect("page source");
    // Neither the partners' numbers (nor as their sources quote them) nor
    // the trunk's password.
    for secret in [
        "7232771922",
        "77-19-22",
        "445 11 44",
        "080 77 71",
        TRUNK_PASSWORD,
    ] {
        assert!(!html.contains(secret), "the page shows {secret}");
    }
    assert_eq!(
        text_of(&c, "#partners tr[data-id='ulba-crisis-centre'] .reached").await,
        "Phone number × 2"
    );

    // A softphone is added to the file; the reload applies it.
    let file = senim.dir.path().join("senim.toml");
    let madina = "[[specialist]]\nid = \"madina\"\nname = \"Madina\"\nskills = [\"psychology\"]\n\
                  languages = [\"kk\"]\nusername = \"madina\"\npassword = \"madina's long password\"\n";
    std::fs::write(&file, setup_config(&users, madina)).expect("change the configuration");
    press_reload(&c, "applied").await;
    assert!(
        text_of(&c, "#applied").await.contains("madina"),
        "{}",
        page_text(&c).await
    );
    assert_eq!(
        text_of(&c, "#phones tr[data-id='madina'] .registered").await,
        "0"
    );
    assert_eq!(text_of(&c, "#softphones-summary strong").await, "0 / 1");
    c.set_window_size(1100, 2300).await.expect("a tall window");
    screenshot(&c, "setup").await;

    // On a phone the page is no wider than the screen.
    c.set_window_size(390, 844).await.expect("a phone's width");
    let fits = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            vec![],
        )
        .await
        .expect("measure");
    assert_eq!(
        fits,
        serde_json::Value::Bool(true),
        "the page is wider than a phone"
    );
    c.execute(
        "document.getElementById('partners-card').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scroll to the partners");
    screenshot(&c, "setup-phone").await;
    c.set_window_size(1100, 900).await.expect("back");

    // A plan with an unknown node is refused with its line and column; the
    // plan in service keeps serving.
    let plan = std::fs::read_to_string(common::repo_root().join("tests/dialplans/menu.xml"))
        .expect("test plan")
        .replace(
            "<choice digit=\"3\" goto=\"recorded\"/>",
            "<choice digit=\"3\" goto=\"nowhere\"/>",
        );
    let plan_path = senim.dir.path().join("broken.xml");
    std::fs::write(&plan_path, plan).expect("write the plan");
    std::fs::write(
        &file,
        setup_config(
            &users,
            &format!("{madina}\n[dialplan]\nfile = \"{}\"\n", plan_path.display()),
        ),
    )
    .expect("change the configuration");
    press_reload(&c, "refused").await;
    assert_eq!(
        text_of(&c, "#reload-errors tr.finding .line").await,
        "22",
        "{}",
        page_text(&c).await
    );
    assert!(!text_of(&c, "#reload-errors tr.finding .column")
        .await
        .is_empty());
    assert!(text_of(&c, "#reload-errors tr.finding .message")
        .await
        .contains("nowhere"));
    assert_eq!(text_of(&c, "#plan-version").await, version);
    assert_eq!(
        c.find(Locator::Id("plan-result"))
            .await
            .expect("result")
            .attr("data-ok")
            .await
            .expect("ok")
            .as_deref(),
        Some("false")
    );
    assert_eq!(text_of(&c, "#plan-findings tr.finding .line").await, "22");
    c.close().await.expect("close");

    // The coordinator: the page, no button, and the reload refused.
    let d = driver.browser("ru").await;
    sign_in(&d, &base, "dana").await;
    d.goto(&format!("{base}/setup")).await.expect("setup");
    assert!(wait_for(&d, "#plan-version", Duration::from_secs(5)).await);
    assert_eq!(text_of(&d, "h1").await, "Настройка центра");
    assert!(
        d.find(Locator::Id("reload-config")).await.is_err(),
        "no reload button"
    );
    let csrf = d
        .find(Locator::Css("input[name=csrf]"))
        .await
        .expect("the form's token")
        .attr("value")
        .await
        .expect("its value")
        .unwrap_or_default();
    assert_eq!(csrf.len(), 64);
    let cookie = format!("senim_session={}", session_cookie(&d).await);
    let form = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (code, _, body) = http_with(
        senim.http,
        "POST",
        "/setup/reload",
        &form,
        &format!("csrf={csrf}"),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("не для вашей роли"), "{body}");
    // The token was good: the same form to another target is taken.
    let (code, _, body) = http_with(
        senim.http,
        "POST",
        "/lang",
        &form,
        &format!("csrf={csrf}&lang=ru"),
    );
    assert_eq!(code, 303, "{body}");
    d.close().await.expect("close");

    // Both reloads are audited with the administrator's name, none with
    // the coordinator's.
    let pool = senim.db().await;
    let by = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'reload-config' AND token_name = $1",
        )
        .bind(name)
        .fetch_one(&pool)
    };
    assert_eq!(by("aliya").await.expect("audit"), 2);
    assert_eq!(by("dana").await.expect("audit"), 0);
}

/// What the test caller offers (PCMU, PCMA and RFC 4733 events).
const OFFER: &str = "0 8 101";
const RTPMAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// The kind of help of `specialist`'s last answered call: `None` while
/// there is no such call, `Some(None)` while it has no kind.
async fn last_kind(senim: &Senim, specialist: &str) -> Option<Option<String>> {
    let pool = senim.db().await;
    sqlx::query_scalar(
        "SELECT c.wrap_up FROM call_routing r JOIN calls c ON c.id = r.call_id
          WHERE r.step = 'ring-ended' AND r.result = 'answered' AND r.specialist = $1
          ORDER BY r.at DESC LIMIT 1",
    )
    .bind(specialist)
    .fetch_optional(&pool)
    .await
    .expect("the last call")
}

/// A specialist whose last call ended without a wrap-up code (she hung up
/// first, so her phone had no menu) gives its kind on her page, in the
/// page's language; the page confirms it and offers the form no more, a
/// second kind is refused, the change is audited and the report by kind
/// counts the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_specialist_gives_the_kind_of_her_last_call_on_her_page() {
    let port = common::port_block();
    let work = tempfile::tempdir().expect("tempdir");
    let plan = work.path().join("plan.xml");
    std::fs::copy(common::repo_root().join("dialplans/centre.xml"), &plan).expect("plan");
    let config = format!(
        "[hours.centre]\nalways = true\nholidays = \"open\"\n\n\
         [dialplan]\nfile = \"{}\"\nwatch = false\n\n[routing]\naccept_timeout = \"4s\"\n\n\
         [[specialist]]\nid = \"dana\"\nname = \"Dana\"\nskills = [\"legal\"]\nlanguages = [\"kk\"]\n\
         uri = \"sip:dana@127.0.0.1:{port}\"\nwrap_up = \"1s\"\n\n{}\n{}\n",
        plan.display(),
        user("dana", "specialist", Some("dana")),
        user("aida", "coordinator", None),
    );
    let senim = std::sync::Arc::new(Senim::start_with(Some(&config), &[]));
    let base = format!("http://{}", senim.http);

    // A routed call: Kazakh (1), legal help (1); Dana's SIPp phone accepts
    // and hangs up first, so no wrap-up menu is played to her.
    tokio::task::spawn_blocking({
        let senim = senim.clone();
        let dir = work.path().to_path_buf();
        move || {
            let mut phone = common::phone::Phone::start(
                &dir,
                "specialist_accept_then_hangup.xml",
                port,
                senim.sip,
            );
            std::thread::sleep(Duration::from_millis(300));
            let mut caller = common::caller::Caller::new(senim.sip);
            let offer = caller.offer(OFFER, RTPMAPS);
            caller.call(Some(&offer), None);
            std::thread::sleep(Duration::from_millis(800));
            assert_eq!(caller.press_info('1'), Some(200), "INFO 1");
            std::thread::sleep(Duration::from_millis(800));
            assert_eq!(caller.press_info('1'), Some(200), "INFO 1");
            phone.assert_ok(Duration::from_secs(40), &senim);
            std::thread::sleep(Duration::from_millis(500));
            let _ = caller.bye();
        }
    })
    .await
    .expect("the routed call");
    let mut recorded = false;
    for _ in 0..50 {
        if last_kind(&senim, "dana").await == Some(None) {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recorded, "no uncoded call of Dana's: {}", senim.log());

    // Dana's page asks for the kind, with the kinds' names in Russian.
    let driver = Driver::start();
    let d = driver.browser("ru").await;
    sign_in(&d, &base, "dana").await;
    assert!(
        wait_for(&d, "#wrap-up", Duration::from_secs(5)).await,
        "no wrap-up form: {}",
        page_text(&d).await
    );
    assert_eq!(
        text_of(&d, "#wrap-up-kind option[value='crisis-intervention']").await,
        "Кризисное вмешательство"
    );
    assert!(page_text(&d)
        .await
        .contains("Вид помощи в последнем звонке"));
    screenshot(&d, "specialist-wrap-up").await;
    d.find(Locator::Css("#wrap-up-kind option[value='information']"))
        .await
        .expect("the kind")
        .click()
        .await
        .expect("choose it");
    d.find(Locator::Id("wrap-up-save"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("save");
    assert!(
        wait_for(&d, "p.notice", Duration::from_secs(5)).await,
        "no confirmation: {}",
        page_text(&d).await
    );
    assert!(text_of(&d, "p.notice").await.starts_with("Сохранено"));
    assert!(
        d.find(Locator::Id("wrap-up")).await.is_err(),
        "the form is gone once the kind is given"
    );
    assert_eq!(
        last_kind(&senim, "dana").await,
        Some(Some("information".into()))
    );

    // A second kind is refused and the page says why; a form without its
    // CSRF token is refused.
    let csrf = d
        .find(Locator::Css("form[action='/me/pause'] input[name='csrf']"))
        .await
        .expect("a form's token")
        .attr("value")
        .await
        .expect("value")
        .unwrap_or_default();
    let cookie = format!("senim_session={}", session_cookie(&d).await);
    let form = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (code, _, body) = http_with(
        senim.http,
        "POST",
        "/me/wrap-up",
        &form,
        &format!("csrf={csrf}&kind=referral"),
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("вид помощи уже указан"), "{body}");
    let (code, _, _) = http_with(senim.http, "POST", "/me/wrap-up", &form, "kind=referral");
    assert_eq!(code, 403);
    assert_eq!(
        last_kind(&senim, "dana").await,
        Some(Some("information".into()))
    );
    d.close().await.expect("close");

    // Audited as the API's change is.
    let pool = senim.db().await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE token_name = 'dana' AND action = 'wrap-up-call' AND target = 'dana'",
    )
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(audited, 1);

    // The coordinator's report by kind counts the call.
    let c = driver.browser("en").await;
    sign_in(&c, &base, "aida").await;
    c.goto(&format!("{base}/reports?by=kind"))
        .await
        .expect("reports");
    assert!(wait_for(&c, "#report", Duration::from_secs(5)).await);
    assert!(
        page_text(&c).await.contains("information"),
        "{}",
        page_text(&c).await
    );
    let cookie = format!("senim_session={}", session_cookie(&c).await);
    let (code, _, csv) = http_with(
        senim.http,
        "GET",
        "/reports.csv?by=kind",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(code, 200, "{csv}");
    assert!(csv.contains("\r\ninformation,1,"), "{csv}");
    c.close().await.expect("close");
}
