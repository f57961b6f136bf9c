//! Taking a safe callback request from the caller: a sans-IO state machine
//! the call controller drives with the caller's keys, the end of prompts and
//! its timer, like the dialplan interpreter.
//!
//! 0. The day's limit: a caller who has left as many requests as the centre
//!    takes in a day (per keyed hash of their number, see
//!    [`crate::callback_limit`]) hears so and the flow ends without a
//!    request (the plan's `failed` branch); the number left is checked the
//!    same way once it is confirmed. The flow asks with
//!    [`Output::CheckLimit`]; the controller answers with
//!    [`CallbackFlow::limit_checked`].
//! 1. The number: "we will call you back on the number ending in 4 5 6 7:
//!    1 yes, 2 another number" (when the call shows a number in
//!    Kazakhstan), else, or on 2: "type the number, then #"; the number
//!    typed is read back ("1 correct, 2 type again"). Only numbers in
//!    Kazakhstan are taken ([`KazakhNumber`]): another one is refused with a
//!    prompt ("this number cannot be accepted; a number in Kazakhstan,
//!    please") and the caller types again.
//! 2. When: 1 as soon as possible, 2 this evening, 3 tomorrow.
//! 3. Safety: may we leave a message (1 yes, 2 no)? May we say the centre's
//!    name (1 yes, 2 no)? A caller who does not answer is taken as "no":
//!    the safe choice.
//!
//! Three unanswered, invalid or refused tries on the number give up (the
//! plan's `failed` branch, e.g. a voicemail). The number kept is in E.164
//! (`+77011234567`), whichever way it was typed.

use std::time::Duration;

use crate::kazakh_number::{AreaCode, KazakhNumber};

/// When the caller wants to be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// As soon as possible.
    Soon,
    /// This evening.
    Evening,
    /// Tomorrow.
    Tomorrow,
}

impl Window {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Soon => "soon",
            Window::Evening => "evening",
            Window::Tomorrow => "tomorrow",
        }
    }
}

/// Where the number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberSource {
    /// The number the call came from, confirmed by the caller.
    CallerId,
    /// Typed by the caller and confirmed after the read-back.
    Typed,
}

impl NumberSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberSource::CallerId => "caller-id",
            NumberSource::Typed => "typed",
        }
    }
}

/// A complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    /// The number in E.164 (`+77011234567`): always a number in Kazakhstan.
    pub number: String,
    pub source: NumberSource,
    pub window: Window,
    /// May the centre leave a message (voicemail, SMS) if nobody answers?
    pub leave_message: bool,
    /// May the centre say its name when calling?
    pub say_centre_name: bool,
}

/// What the controller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Play these prompts in order (replaces what plays); one `PromptFinished` after the last.
    Play(Vec<String>),
    /// Stop the prompt (the caller pressed a key).
    StopPrompt,
    StartTimer(Duration),
    CancelTimer,
    /// A step for the call record (never the number).
    Record(String),
    /// Is another request allowed today for each of these numbers? Answer
    /// with [`CallbackFlow::limit_checked`] before anything else.
    CheckLimit(Vec<String>),
    /// Finished: the request, or None when the caller could not give one.
    Done(Option<CallbackRequest>),
}

/// Tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Wait for a key after a question, and between typed digits.
    pub timeout: Duration,
    /// Tries per question.
    pub max_tries: u32,
    /// Longest number that can be typed: one more digit ends it.
    pub max_digits: usize,
    /// The centre's area code: local numbers of its city may be typed.
    pub area_code: Option<AreaCode>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(8),
            max_tries: 3,
            max_digits: 15,
            area_code: None,
        }
    }
}

/// The prompt for a typed number that is not taken.
const REFUSED: &str = "callback-number-refused";
/// The prompt for a caller or number over the day's limit.
const LIMIT: &str = "callback-limit-reached";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Waiting for the answer to the limit check of the caller's own number.
    CheckCaller,
    ConfirmCallerId,
    EnterNumber {
        digits: String,
    },
    /// `typed` is read back; `number` is its E.164 form.
    ReadBack {
        typed: String,
        number: String,
    },
    /// Waiting for the answer to the limit check of the confirmed number.
    CheckNumber {
        number: String,
        source: NumberSource,
    },
    Window,
    LeaveMessage,
    SayName,
    /// Over the day's limit: the prompt plays, then the flow ends.
    LimitReached,
    Done,
}

/// The state machine. Feed `start`, then `digit`, `prompt_finished` and
/// `timeout`; each returns the outputs in order.
#[derive(Debug, Clone)]
pub struct CallbackFlow {
    settings: Settings,
    /// The caller's own number, when the call shows one (any country): the
    /// limit counts it.
    caller: Option<String>,
    /// The caller's number in E.164 when it is a number in Kazakhstan: it is
    /// offered for the callback.
    caller_id: Option<String>,
    step: Step,
    tries: u32,
    playing: bool,
    number: Option<(String, NumberSource)>,
    window: Option<Window>,
    leave_message: bool,
}

/// Prompt ids for the digits of `number` (other characters are skipped).
fn digit_prompts(number: &str) -> Vec<String> {
    number
        .chars()
        .filter(char::is_ascii_digit)
        .map(|d| format!("digit-{d}"))
        .collect()
}

/// A caller id usable for a callback: digits, optionally a leading `+`,
/// 5 to 15 digits; anything else (anonymous, SIP user names) is not.
pub fn usable_caller_id(user: &str) -> Option<String> {
    let digits = user.strip_prefix('+').unwrap_or(user);
    let ok = (5..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
    ok.then(|| user.to_string())
}

impl CallbackFlow {
    pub fn new(settings: Settings, caller_id: Option<String>) -> CallbackFlow {
        let caller = caller_id.as_deref().and_then(usable_caller_id);
        let caller_id = caller
            .as_deref()
            .and_then(|c| KazakhNumber::parse(c, settings.area_code.as_ref()).ok())
            .map(|n| n.e164());
        CallbackFlow {
            settings,
            caller,
            caller_id,
            step: Step::ConfirmCallerId,
            tries: 0,
            playing: false,
            number: None,
            window: None,
            leave_message: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// Is the caller typing a number now? Their keys are personal data then:
    /// not to be recorded one by one.
    pub fn is_entering_number(&self) -> bool {
        matches!(self.step, Step::EnterNumber { .. })
    }

    /// The caller hung up before the end: once a number was confirmed the
    /// request stands, with the safe answers for what was not asked (no
    /// message, no name; as soon as possible).
    pub fn abandon(&mut self) -> Option<CallbackRequest> {
        if self.step == Step::Done {
            return None;
        }
        self.step = Step::Done;
        let (number, source) = self.number.clone()?;
        let say_centre_name = false;
        let leave_message = self.leave_message && self.window.is_some();
        Some(CallbackRequest {
            number,
            source,
            window: self.window.unwrap_or(Window::Soon),
            leave_message,
            say_centre_name,
        })
    }

    /// Begin: the caller's limit is checked (when the call shows a
    /// number), then the first question.
    pub fn start(&mut self) -> Vec<Output> {
        let mut out = vec![Output::Record("callback: start".into())];
        match self.caller.clone() {
            Some(caller) => {
                self.step = Step::CheckCaller;
                out.push(Output::CheckLimit(vec![caller]));
            }
            None => self.first_question(&mut out),
        }
        out
    }

    /// The caller's number if it is one in Kazakhstan, else "type it".
    fn first_question(&mut self, out: &mut Vec<Output>) {
        match self.caller_id {
            Some(_) => self.enter(Step::ConfirmCallerId, out),
            None => self.enter(
                Step::EnterNumber {
                    digits: String::new(),
                },
                out,
            ),
        }
    }

    /// The answer to [`Output::CheckLimit`]: may another request be taken?
    pub fn limit_checked(&mut self, allowed: bool) -> Vec<Output> {
        let mut out = Vec::new();
        match (self.step.clone(), allowed) {
            (Step::CheckCaller, true) => self.first_question(&mut out),
            (Step::CheckNumber { number, source }, true) => {
                let what = match source {
                    NumberSource::CallerId => "callback: caller id confirmed",
                    NumberSource::Typed => "callback: typed number confirmed",
                };
                self.number = Some((number, source));
                out.push(Output::Record(what.into()));
                self.enter(Step::Window, &mut out);
            }
            (Step::CheckCaller | Step::CheckNumber { .. }, false) => {
                out.push(Output::Record(
                    "callback: the day's limit is reached".into(),
                ));
                self.step = Step::LimitReached;
                self.playing = true;
                out.push(Output::Play(vec![LIMIT.into()]));
            }
            _ => {}
        }
        out
    }

    /// The number is confirmed: check its limit before going on.
    fn confirmed(&mut self, number: String, source: NumberSource, out: &mut Vec<Output>) {
        self.step = Step::CheckNumber {
            number: number.clone(),
            source,
        };
        out.push(Output::CheckLimit(vec![number]));
    }

    /// The limit prompt ended (or a key cut it): no request.
    fn limit_done(&mut self, out: &mut Vec<Output>) {
        self.step = Step::Done;
        self.playing = false;
        out.push(Output::Done(None));
    }

    fn prompts_for(&self, step: &Step) -> Vec<String> {
        let mut p = Vec::new();
        match step {
            Step::ConfirmCallerId => {
                let id = self.caller_id.clone().unwrap_or_default();
                let digits: Vec<char> = id.chars().filter(char::is_ascii_digit).collect();
                let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
                p.push("callback-number-ending".to_string());
                p.extend(digit_prompts(&last4));
                p.push("callback-number-confirm".to_string());
            }
            Step::EnterNumber { .. } => p.push("callback-enter-number".into()),
            Step::ReadBack { typed, .. } => {
                p.push("callback-you-entered".into());
                p.extend(digit_prompts(typed));
                p.push("callback-number-confirm".into());
            }
            Step::Window => p.push("callback-window".into()),
            Step::LeaveMessage => p.push("callback-leave-message".into()),
            Step::SayName => p.push("callback-say-name".into()),
            Step::LimitReached => p.push(LIMIT.into()),
            Step::CheckCaller | Step::CheckNumber { .. } | Step::Done => {}
        }
        p
    }

    fn enter(&mut self, step: Step, out: &mut Vec<Output>) {
        if std::mem::discriminant(&step) != std::mem::discriminant(&self.step) {
            self.tries = 0;
        }
        self.step = step;
        self.ask(out);
    }

    fn ask(&mut self, out: &mut Vec<Output>) {
        let prompts = self.prompts_for(&self.step);
        self.playing = true;
        out.push(Output::Play(prompts));
    }

    /// A try failed (timeout, an invalid key, a number refused): ask again,
    /// after `before` when given (the "invalid" or "refused" prompt), or
    /// give up.
    fn retry(&mut self, why: &str, before: Option<&str>, out: &mut Vec<Output>) {
        self.tries += 1;
        out.push(Output::Record(format!("callback: {why}")));
        if self.tries >= self.settings.max_tries {
            match self.step {
                // Safety questions unanswered: take the safe answer.
                Step::LeaveMessage => {
                    self.leave_message = false;
                    self.enter(Step::SayName, out);
                }
                Step::SayName => self.finish(false, out),
                // No time chosen: as soon as possible.
                Step::Window => {
                    self.window = Some(Window::Soon);
                    self.enter(Step::LeaveMessage, out);
                }
                _ => {
                    self.step = Step::Done;
                    out.push(Output::Record("callback: no number given".into()));
                    out.push(Output::Done(None));
                }
            }
            return;
        }
        match before {
            Some(first) => {
                self.playing = true;
                let mut p = vec![first.to_string()];
                p.extend(self.prompts_for(&self.step));
                out.push(Output::Play(p));
            }
            None => self.ask(out),
        }
    }

    fn finish(&mut self, say_centre_name: bool, out: &mut Vec<Output>) {
        self.step = Step::Done;
        let Some((number, source)) = self.number.clone() else {
            out.push(Output::Done(None));
            return;
        };
        let request = CallbackRequest {
            number,
            source,
            window: self.window.unwrap_or(Window::Soon),
            leave_message: self.leave_message,
            say_centre_name,
        };
        out.push(Output::Record(format!(
            "callback: recorded ({}, {}, message {}, name {})",
            request.source.as_str(),
            request.window.as_str(),
            if request.leave_message { "yes" } else { "no" },
            if say_centre_name { "yes" } else { "no" }
        )));
        out.push(Output::Done(Some(request)));
    }

    /// The prompts of the last `Play` finished: wait for a key.
    pub fn prompt_finished(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        if self.step == Step::LimitReached {
            self.limit_done(&mut out);
            return out;
        }
        if self.playing && self.step != Step::Done {
            self.playing = false;
            out.push(Output::StartTimer(self.settings.timeout));
        }
        out
    }

    /// The timer ran out.
    pub fn timeout(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        match self.step.clone() {
            Step::Done | Step::CheckCaller | Step::CheckNumber { .. } => {}
            Step::LimitReached => self.limit_done(&mut out),
            Step::EnterNumber { digits } if !digits.is_empty() => {
                // A pause after some digits ends the number, as `#` does.
                self.number_typed(digits, &mut out);
            }
            _ => self.retry("no key", None, &mut out),
        }
        out
    }

    /// The caller pressed a key.
    pub fn digit(&mut self, c: char) -> Vec<Output> {
        let mut out = Vec::new();
        if matches!(
            self.step,
            Step::Done | Step::CheckCaller | Step::CheckNumber { .. }
        ) {
            return out;
        }
        if self.playing {
            self.playing = false;
            out.push(Output::StopPrompt);
        }
        out.push(Output::CancelTimer);
        match self.step.clone() {
            Step::LimitReached => self.limit_done(&mut out),
            Step::ConfirmCallerId => match c {
                '1' => {
                    let id = self.caller_id.clone().unwrap_or_default();
                    self.confirmed(id, NumberSource::CallerId, &mut out);
                }
                '2' => self.enter(
                    Step::EnterNumber {
                        digits: String::new(),
                    },
                    &mut out,
                ),
                _ => self.retry("invalid key", Some("invalid"), &mut out),
            },
            Step::EnterNumber { mut digits } => match c {
                '#' => self.number_typed(digits, &mut out),
                '*' => {
                    out.push(Output::Record("callback: number cleared".into()));
                    self.enter(
                        Step::EnterNumber {
                            digits: String::new(),
                        },
                        &mut out,
                    );
                }
                d if d.is_ascii_digit() => {
                    digits.push(d);
                    if digits.len() >= self.settings.max_digits {
                        self.number_typed(digits, &mut out);
                    } else {
                        self.step = Step::EnterNumber { digits };
                        out.push(Output::StartTimer(self.settings.timeout));
                    }
                }
                _ => out.push(Output::StartTimer(self.settings.timeout)),
            },
            Step::ReadBack { number, .. } => match c {
                '1' => self.confirmed(number, NumberSource::Typed, &mut out),
                '2' => self.enter(
                    Step::EnterNumber {
                        digits: String::new(),
                    },
                    &mut out,
                ),
                _ => self.retry("invalid key", Some("invalid"), &mut out),
            },
            Step::Window => {
                let w = match c {
                    '1' => Some(Window::Soon),
                    '2' => Some(Window::Evening),
                    '3' => Some(Window::Tomorrow),
                    _ => None,
                };
                match w {
                    Some(w) => {
                        self.window = Some(w);
                        self.enter(Step::LeaveMessage, &mut out);
                    }
                    None => self.retry("invalid key", Some("invalid"), &mut out),
                }
            }
            Step::LeaveMessage => match c {
                '1' | '2' => {
                    self.leave_message = c == '1';
                    self.enter(Step::SayName, &mut out);
                }
                _ => self.retry("invalid key", Some("invalid"), &mut out),
            },
            Step::SayName => match c {
                '1' | '2' => self.finish(c == '1', &mut out),
                _ => self.retry("invalid key", Some("invalid"), &mut out),
            },
            Step::CheckCaller | Step::CheckNumber { .. } | Step::Done => {}
        }
        out
    }

    /// A number typed: read back when it is one in Kazakhstan, else
    /// refused with a prompt and asked again (a try). The record says why,
    /// never the digits.
    fn number_typed(&mut self, digits: String, out: &mut Vec<Output>) {
        match KazakhNumber::parse(&digits, self.settings.area_code.as_ref()) {
            Ok(number) => {
                out.push(Output::Record(format!(
                    "callback: number typed ({} digits)",
                    digits.len()
                )));
                self.enter(
                    Step::ReadBack {
                        typed: digits,
                        number: number.e164(),
                    },
                    out,
                );
            }
            Err(why) => {
                self.step = Step::EnterNumber {
                    digits: String::new(),
                };
                let why = format!("number refused ({})", why.as_str());
                self.retry(&why, Some(REFUSED), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plays(out: &[Output]) -> Vec<Vec<String>> {
        out.iter()
            .filter_map(|o| match o {
                Output::Play(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    fn done(out: &[Output]) -> Option<Option<CallbackRequest>> {
        out.iter().find_map(|o| match o {
            Output::Done(r) => Some(r.clone()),
            _ => None,
        })
    }

    /// `out` with every `CheckLimit` in it answered `allowed`.
    fn answer(f: &mut CallbackFlow, out: Vec<Output>, allowed: bool) -> Vec<Output> {
        let mut all = Vec::new();
        for o in out {
            let check = matches!(o, Output::CheckLimit(_));
            all.push(o);
            if check {
                let more = f.limit_checked(allowed);
                all.extend(answer(f, more, allowed));
            }
        }
        all
    }

    /// Start, every limit check allowed.
    fn start(f: &mut CallbackFlow) -> Vec<Output> {
        let out = f.start();
        answer(f, out, true)
    }

    /// A key, every limit check allowed.
    fn key(f: &mut CallbackFlow, c: char) -> Vec<Output> {
        let out = f.digit(c);
        answer(f, out, true)
    }

    fn feed(f: &mut CallbackFlow, keys: &str) -> Vec<Output> {
        let mut all = Vec::new();
        for c in keys.chars() {
            all.extend(key(f, c));
            all.extend(f.prompt_finished());
        }
        all
    }

    fn records(out: &[Output]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Record(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn checks(out: &[Output]) -> Vec<Vec<String>> {
        out.iter()
            .filter_map(|o| match o {
                Output::CheckLimit(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    fn oskemen() -> Settings {
        Settings {
            area_code: AreaCode::parse("7232").ok(),
            ..Settings::default()
        }
    }

    /// Type `keys` in the number step (the prompt already played).
    fn type_number(f: &mut CallbackFlow, keys: &str) -> Vec<Output> {
        let mut out = Vec::new();
        for c in keys.chars() {
            out.extend(key(f, c));
        }
        out
    }

    #[test]
    fn caller_id_confirmed_reads_only_the_last_four_digits() {
        let mut f = CallbackFlow::new(Settings::default(), Some("+77051234567".into()));
        let out = f.start();
        // The caller's own number is checked against the day's limit first.
        assert_eq!(checks(&out), vec![vec!["+77051234567".to_string()]]);
        assert!(plays(&out).is_empty());
        let out = f.limit_checked(true);
        assert_eq!(
            plays(&out),
            vec![vec![
                "callback-number-ending",
                "digit-4",
                "digit-5",
                "digit-6",
                "digit-7",
                "callback-number-confirm"
            ]]
        );
        let out = f.prompt_finished();
        assert_eq!(out, vec![Output::StartTimer(Duration::from_secs(8))]);
        let out = feed(&mut f, "1212");
        let r = done(&out).expect("done").expect("request");
        assert_eq!(r.number, "+77051234567");
        assert_eq!(r.source, NumberSource::CallerId);
        assert_eq!(r.window, Window::Evening);
        assert!(r.leave_message);
        assert!(!r.say_centre_name);
        // Records never hold the number.
        assert!(out.iter().all(|o| match o {
            Output::Record(t) => !t.contains("7051234567"),
            _ => true,
        }));
    }

    #[test]
    fn another_number_is_typed_read_back_and_confirmed() {
        let mut f = CallbackFlow::new(Settings::default(), Some("+77051234567".into()));
        start(&mut f);
        f.prompt_finished();
        let out = f.digit('2');
        assert_eq!(plays(&out), vec![vec!["callback-enter-number"]]);
        f.prompt_finished();
        let mut out = Vec::new();
        for c in "87011112233#".chars() {
            out.extend(f.digit(c));
        }
        let p = plays(&out);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].first().map(String::as_str),
            Some("callback-you-entered")
        );
        assert_eq!(p[0].len(), 11 + 2);
        f.prompt_finished();
        let out = feed(&mut f, "1311");
        let r = done(&out).expect("done").expect("request");
        // Kept in E.164, whichever way it was typed.
        assert_eq!(r.number, "+77011112233");
        assert_eq!(r.source, NumberSource::Typed);
        assert_eq!(r.window, Window::Tomorrow);
        assert!(r.say_centre_name);
    }

    #[test]
    fn without_a_caller_id_the_number_is_asked_and_a_pause_ends_it() {
        let mut f = CallbackFlow::new(Settings::default(), Some("anonymous".into()));
        let out = f.start();
        assert_eq!(plays(&out), vec![vec!["callback-enter-number"]]);
        f.prompt_finished();
        for c in "7051234567".chars() {
            f.digit(c);
        }
        let out = f.timeout();
        assert_eq!(plays(&out)[0][0], "callback-you-entered");
    }

    #[test]
    fn too_short_or_silent_three_times_gives_up() {
        let mut f = CallbackFlow::new(Settings::default(), None);
        f.start();
        f.prompt_finished();
        f.digit('1');
        f.digit('#');
        f.prompt_finished();
        f.timeout();
        f.prompt_finished();
        let out = f.timeout();
        assert_eq!(done(&out), Some(None));
        assert!(f.is_done());
        assert!(f.digit('1').is_empty());
    }

    #[test]
    fn unanswered_safety_questions_take_the_safe_answer() {
        let mut f = CallbackFlow::new(Settings::default(), Some("87051234567".into()));
        start(&mut f);
        f.prompt_finished();
        feed(&mut f, "11");
        let mut last = Vec::new();
        for _ in 0..6 {
            f.prompt_finished();
            last = f.timeout();
            if f.is_done() {
                break;
            }
        }
        let r = done(&last).expect("done").expect("request");
        assert!(!r.leave_message);
        assert!(!r.say_centre_name);
    }

    #[test]
    fn a_caller_who_hangs_up_after_confirming_keeps_a_safe_request() {
        let mut f = CallbackFlow::new(Settings::default(), Some("87051234567".into()));
        start(&mut f);
        f.prompt_finished();
        key(&mut f, '1');
        let r = f.abandon().expect("request");
        assert_eq!(r.number, "+77051234567");
        assert_eq!(r.window, Window::Soon);
        assert!(!r.leave_message && !r.say_centre_name);
        assert!(f.abandon().is_none(), "once");
        let mut g = CallbackFlow::new(Settings::default(), None);
        g.start();
        assert!(g.abandon().is_none(), "no number, no request");
    }

    #[test]
    fn caller_ids_that_are_not_numbers_are_not_used() {
        assert_eq!(usable_caller_id("anonymous"), None);
        assert_eq!(usable_caller_id("1234"), None);
        assert_eq!(
            usable_caller_id("+77051234567").as_deref(),
            Some("+77051234567")
        );
        assert_eq!(usable_caller_id("1234567890123456"), None);
    }

    #[test]
    fn a_caller_id_outside_kazakhstan_is_not_offered_but_still_counted() {
        let mut f = CallbackFlow::new(Settings::default(), Some("+79161234567".into()));
        let out = f.start();
        assert_eq!(checks(&out), vec![vec!["+79161234567".to_string()]]);
        let out = f.limit_checked(true);
        assert_eq!(plays(&out), vec![vec!["callback-enter-number"]]);
    }

    #[test]
    fn numbers_outside_kazakhstan_are_refused_with_a_prompt_and_typed_again() {
        let mut f = CallbackFlow::new(oskemen(), None);
        start(&mut f);
        f.prompt_finished();
        // A Russian mobile, in the national form.
        let out = type_number(&mut f, "89161234567#");
        assert_eq!(
            plays(&out),
            vec![vec!["callback-number-refused", "callback-enter-number"]]
        );
        assert_eq!(records(&out), vec!["callback: number refused (not-kazakh)"]);
        assert!(f.is_entering_number());
        f.prompt_finished();
        // An international prefix.
        let out = type_number(&mut f, "81049301234567#");
        assert_eq!(plays(&out)[0][0], "callback-number-refused");
        assert_eq!(
            records(&out),
            vec!["callback: number refused (international)"]
        );
        f.prompt_finished();
        // Then a local number of Oskemen: read back as typed, kept in E.164.
        let out = type_number(&mut f, "771922#");
        assert_eq!(
            plays(&out),
            vec![vec![
                "callback-you-entered",
                "digit-7",
                "digit-7",
                "digit-1",
                "digit-9",
                "digit-2",
                "digit-2",
                "callback-number-confirm"
            ]]
        );
        f.prompt_finished();
        let out = feed(&mut f, "1112");
        assert_eq!(checks(&out), vec![vec!["+77232771922".to_string()]]);
        let r = done(&out).expect("done").expect("request");
        assert_eq!(r.number, "+77232771922");
        assert_eq!(r.source, NumberSource::Typed);
    }

    #[test]
    fn three_refused_numbers_give_up() {
        let mut f = CallbackFlow::new(Settings::default(), None);
        start(&mut f);
        f.prompt_finished();
        type_number(&mut f, "0049301234567#");
        f.prompt_finished();
        type_number(&mut f, "+");
        type_number(&mut f, "88091234567#");
        f.prompt_finished();
        let out = type_number(&mut f, "84951234567#");
        assert_eq!(done(&out), Some(None));
        assert!(f.is_done());
        // Nothing of the numbers is recorded.
        assert!(records(&out).iter().all(|r| !r.contains("495")));
    }

    #[test]
    fn a_caller_over_the_days_limit_hears_so_and_leaves_no_request() {
        let mut f = CallbackFlow::new(Settings::default(), Some("+77051234567".into()));
        f.start();
        let out = f.limit_checked(false);
        assert_eq!(plays(&out), vec![vec!["callback-limit-reached"]]);
        assert_eq!(records(&out), vec!["callback: the day's limit is reached"]);
        // Keys while it plays are not taken as answers.
        assert!(done(&f.prompt_finished()) == Some(None));
        assert!(f.is_done());
        assert!(f.abandon().is_none());
    }

    #[test]
    fn a_number_left_too_often_is_refused_after_it_is_confirmed() {
        let mut f = CallbackFlow::new(oskemen(), Some("anonymous".into()));
        let out = f.start();
        assert!(checks(&out).is_empty(), "no number shown, nothing to check");
        f.prompt_finished();
        let out = type_number(&mut f, "87011234567#");
        assert!(checks(&out).is_empty());
        f.prompt_finished();
        let out = f.digit('1');
        assert_eq!(checks(&out), vec![vec!["+77011234567".to_string()]]);
        let out = f.limit_checked(false);
        assert_eq!(plays(&out), vec![vec!["callback-limit-reached"]]);
        // A key cuts the prompt: the flow ends without a request.
        let out = f.digit('1');
        assert!(out.contains(&Output::StopPrompt));
        assert_eq!(done(&out), Some(None));
        assert!(f.abandon().is_none());
    }
}
