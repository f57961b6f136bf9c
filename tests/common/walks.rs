//! Walks through the default plan (`dialplans/centre.xml`) that several
//! end-to-end tests share: the test caller of `caller` calls, chooses a
//! language and a service by SIP INFO, and goes on to what the route does.

use std::time::Duration;

use super::caller::Caller;
use super::{call_steps, wait_until, Senim};

/// What the test caller offers: PCMU and telephone-event.
pub const OFFER: &str = "0 101";
pub const RTPMAPS: &str =
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// Call offering `formats` (with their `rtpmaps`), then press the
/// `language` key and the `service` key by SIP INFO, 800 ms apart.
pub fn call_choosing(
    senim: &Senim,
    formats: &str,
    rtpmaps: &str,
    language: char,
    service: char,
) -> Caller {
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(formats, rtpmaps);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info(language), Some(200));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info(service), Some(200));
    c
}

/// Call, choose Kazakh (1) and psychology (2), wait for the callback
/// questions (the route must overflow to the plan's callback node).
pub fn reach_callback(senim: &Senim) -> Caller {
    let c = call_choosing(senim, OFFER, RTPMAPS, '1', '2');
    assert!(
        wait_until(Duration::from_secs(30), || call_steps(senim)
            .iter()
            .any(|s| s.ends_with("callback: start"))),
        "the callback questions did not start: {:#?}\n{}",
        call_steps(senim),
        senim.log()
    );
    c
}

/// Press `keys` by SIP INFO, 700 ms apart.
pub fn press(c: &mut Caller, keys: &str) {
    for k in keys.chars() {
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(c.press_info(k), Some(200), "INFO {k}");
    }
}

/// The id of the callback request the last caller left, once the recorder
/// has written it (at most 10 s).
pub fn callback_id(senim: &Senim) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut id = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            id = rt.block_on(async {
                let pool = senim.db().await;
                sqlx::query_scalar::<_, String>("SELECT id FROM follow_ups WHERE kind = 'callback'")
                    .fetch_optional(&pool)
                    .await
                    .expect("follow-ups")
            });
            id.is_some()
        }),
        "no callback request recorded:\n{}",
        senim.log()
    );
    id.unwrap_or_default()
}

/// A real call: Kazakh, psychology (nobody takes it), then the callback
/// questions: 1 the number is right, 2 this evening, 2 no message, 1 the
/// centre's name may be said. Returns the follow-up's id.
pub fn leave_callback_request(senim: &Senim) -> String {
    let mut c = reach_callback(senim);
    press(&mut c, "1221");
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim hangs up");
    callback_id(senim)
}
