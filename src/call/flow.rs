//! The fixed call flow: a pure state machine, events in, actions out.
//!
//! Bilingual greeting; 1 selects Kazakh, 2 Russian; the main menu in that
//! language; the next key is recorded; goodbye and hang up. A silent caller
//! hears each menu up to `max_tries` times: after the greeting the flow
//! continues in Russian, after the main menu it records "no choice" and
//! says goodbye. Nobody is hung up on before that.
//!
//! The XML dialplan interpreter replaces this flow; the contract (events,
//! actions, no clock, no sockets) stays the same.

use std::time::Duration;

use senim_media::dtmf::Digit;
use senim_media::prompts::Language;

/// Something that happened to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEvent {
    /// The call is answered and media flows.
    Started,
    /// The caller pressed a key (from any DTMF source).
    Digit(Digit),
    /// The prompt last asked for has been played to the end.
    PromptFinished,
    /// The input timer asked for last has expired.
    Timeout,
}

/// What the flow wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowAction {
    /// Play a prompt from its start, replacing whatever plays.
    Play {
        prompt: &'static str,
        language: Language,
    },
    /// Stop the prompt that is playing (barge-in).
    StopPrompt,
    /// Wait for a key this long, then send `Timeout`. Replaces an earlier timer.
    StartTimer(Duration),
    /// Forget the input timer.
    CancelTimer,
    /// The caller's language is now known.
    SetLanguage(Language),
    /// A step of the caller's path through the menus, for the call record.
    Record { menu: &'static str, what: String },
    /// End the call with this outcome.
    Hangup { outcome: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Greeting { tries: u32 },
    MainMenu { tries: u32 },
    Goodbye,
    Done,
}

/// The state machine of one call's menus.
#[derive(Debug)]
pub struct Flow {
    state: State,
    language: Language,
    timeout: Duration,
    max_tries: u32,
    /// A prompt is playing (a timeout must not start before it ends).
    playing: bool,
    /// The prompt last asked for.
    current: &'static str,
}

const GREETING: &str = "greeting-bilingual";
const MAIN_MENU: &str = "main-menu";
const GOODBYE: &str = "goodbye";
const INVALID: &str = "invalid";

impl Flow {
    pub fn new(timeout: Duration, max_tries: u32) -> Self {
        Flow {
            state: State::Idle,
            language: Language::Kk,
            timeout,
            max_tries: max_tries.max(1),
            playing: false,
            current: "",
        }
    }

    /// The language the caller is served in so far.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The menu the caller is in, for the call record.
    pub fn menu(&self) -> &'static str {
        match self.state {
            State::Idle => "answer",
            State::Greeting { .. } => "greeting",
            State::MainMenu { .. } => "main",
            State::Goodbye => "goodbye",
            State::Done => "done",
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Every prompt id the flow may play (checked against the prompt library at start-up).
    pub const PROMPTS: [&'static str; 4] = [GREETING, MAIN_MENU, GOODBYE, INVALID];

    /// Feed one event; the actions are returned in the order to carry out.
    pub fn handle(&mut self, event: FlowEvent) -> Vec<FlowAction> {
        let mut out = Vec::new();
        match (self.state, event) {
            (State::Idle, FlowEvent::Started) => {
                self.state = State::Greeting { tries: 1 };
                out.push(FlowAction::Record {
                    menu: "greeting",
                    what: "enter".into(),
                });
                self.play(GREETING, &mut out);
            }
            (State::Greeting { tries }, FlowEvent::Digit(d)) => match d.as_char() {
                '1' => self.choose_language(Language::Kk, "1", &mut out),
                '2' => self.choose_language(Language::Ru, "2", &mut out),
                '*' => {
                    self.state = State::Greeting { tries };
                    self.play(GREETING, &mut out);
                }
                other => {
                    out.push(FlowAction::Record {
                        menu: "greeting",
                        what: format!("invalid {other}"),
                    });
                    self.state = State::Greeting { tries };
                    self.play(INVALID, &mut out);
                }
            },
            (State::MainMenu { tries }, FlowEvent::Digit(d)) => match d.as_char() {
                '*' => {
                    self.state = State::MainMenu { tries };
                    self.play(MAIN_MENU, &mut out);
                }
                c @ ('1' | '2' | '3' | '0') => {
                    let service = match c {
                        '1' => "legal",
                        '2' => "psychology",
                        '3' => "mediation",
                        _ => "emergency",
                    };
                    out.push(FlowAction::Record {
                        menu: "main",
                        what: format!("choice {c} {service}"),
                    });
                    self.state = State::Goodbye;
                    self.play(GOODBYE, &mut out);
                }
                other => {
                    out.push(FlowAction::Record {
                        menu: "main",
                        what: format!("invalid {other}"),
                    });
                    self.play(INVALID, &mut out);
                }
            },
            (State::Goodbye, FlowEvent::Digit(_)) => {}
            (_, FlowEvent::PromptFinished) => {
                self.playing = false;
                match self.state {
                    // After "invalid choice" the caller hears the menu again.
                    State::Greeting { .. } if self.current == INVALID => {
                        self.play(GREETING, &mut out)
                    }
                    State::MainMenu { .. } if self.current == INVALID => {
                        self.play(MAIN_MENU, &mut out)
                    }
                    State::Greeting { .. } | State::MainMenu { .. } => {
                        out.push(FlowAction::StartTimer(self.timeout))
                    }
                    State::Goodbye => {
                        self.state = State::Done;
                        out.push(FlowAction::Hangup {
                            outcome: "completed",
                        });
                    }
                    _ => {}
                }
            }
            (State::Greeting { tries }, FlowEvent::Timeout) if !self.playing => {
                if tries < self.max_tries {
                    self.state = State::Greeting { tries: tries + 1 };
                    out.push(FlowAction::Record {
                        menu: "greeting",
                        what: "timeout".into(),
                    });
                    self.play(GREETING, &mut out);
                } else {
                    out.push(FlowAction::Record {
                        menu: "greeting",
                        what: "no input, continuing in ru".into(),
                    });
                    self.choose_language(Language::Ru, "", &mut out);
                }
            }
            (State::MainMenu { tries }, FlowEvent::Timeout) if !self.playing => {
                if tries < self.max_tries {
                    self.state = State::MainMenu { tries: tries + 1 };
                    out.push(FlowAction::Record {
                        menu: "main",
                        what: "timeout".into(),
                    });
                    self.play(MAIN_MENU, &mut out);
                } else {
                    out.push(FlowAction::Record {
                        menu: "main",
                        what: "no input".into(),
                    });
                    self.state = State::Goodbye;
                    self.play(GOODBYE, &mut out);
                }
            }
            _ => {}
        }
        out
    }

    fn choose_language(&mut self, language: Language, digit: &str, out: &mut Vec<FlowAction>) {
        self.language = language;
        out.push(FlowAction::SetLanguage(language));
        if !digit.is_empty() {
            out.push(FlowAction::Record {
                menu: "greeting",
                what: format!("choice {digit} {}", language.code()),
            });
        }
        self.state = State::MainMenu { tries: 1 };
        self.play(MAIN_MENU, out);
    }

    fn play(&mut self, prompt: &'static str, out: &mut Vec<FlowAction>) {
        out.push(FlowAction::CancelTimer);
        if self.playing {
            out.push(FlowAction::StopPrompt);
        }
        self.playing = true;
        self.current = prompt;
        out.push(FlowAction::Play {
            prompt,
            language: self.language,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit(c: char) -> FlowEvent {
        FlowEvent::Digit(Digit::from_char(c).unwrap())
    }

    fn plays(actions: &[FlowAction]) -> Vec<(&'static str, Language)> {
        actions
            .iter()
            .filter_map(|a| match a {
                FlowAction::Play { prompt, language } => Some((*prompt, *language)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn kazakh_caller_chooses_and_is_said_goodbye() {
        let mut f = Flow::new(Duration::from_secs(6), 3);
        let a = f.handle(FlowEvent::Started);
        assert_eq!(plays(&a), vec![(GREETING, Language::Kk)]);
        // Barge-in: the digit stops the greeting.
        let a = f.handle(digit('1'));
        assert!(a.contains(&FlowAction::StopPrompt));
        assert!(a.contains(&FlowAction::SetLanguage(Language::Kk)));
        assert_eq!(plays(&a), vec![(MAIN_MENU, Language::Kk)]);
        let a = f.handle(FlowEvent::PromptFinished);
        assert_eq!(a, vec![FlowAction::StartTimer(Duration::from_secs(6))]);
        let a = f.handle(digit('2'));
        assert!(a.contains(&FlowAction::Record {
            menu: "main",
            what: "choice 2 psychology".into()
        }));
        assert_eq!(plays(&a), vec![(GOODBYE, Language::Kk)]);
        let a = f.handle(FlowEvent::PromptFinished);
        assert_eq!(
            a,
            vec![FlowAction::Hangup {
                outcome: "completed"
            }]
        );
        assert!(f.is_done());
    }

    #[test]
    fn silent_caller_hears_greeting_three_times_then_russian_menu() {
        let mut f = Flow::new(Duration::from_secs(6), 3);
        f.handle(FlowEvent::Started);
        for _ in 0..2 {
            f.handle(FlowEvent::PromptFinished);
            let a = f.handle(FlowEvent::Timeout);
            assert_eq!(plays(&a), vec![(GREETING, Language::Kk)]);
            assert!(!a.iter().any(|a| matches!(a, FlowAction::Hangup { .. })));
        }
        f.handle(FlowEvent::PromptFinished);
        let a = f.handle(FlowEvent::Timeout);
        assert!(a.contains(&FlowAction::SetLanguage(Language::Ru)));
        assert_eq!(plays(&a), vec![(MAIN_MENU, Language::Ru)]);
        assert_eq!(f.language(), Language::Ru);
    }

    #[test]
    fn silent_caller_in_main_menu_is_not_cut_off_before_max_tries() {
        let mut f = Flow::new(Duration::from_secs(6), 3);
        f.handle(FlowEvent::Started);
        f.handle(digit('2'));
        for _ in 0..2 {
            f.handle(FlowEvent::PromptFinished);
            let a = f.handle(FlowEvent::Timeout);
            assert_eq!(plays(&a), vec![(MAIN_MENU, Language::Ru)]);
        }
        f.handle(FlowEvent::PromptFinished);
        let a = f.handle(FlowEvent::Timeout);
        assert_eq!(plays(&a), vec![(GOODBYE, Language::Ru)]);
    }

    #[test]
    fn timeout_while_a_prompt_plays_is_ignored() {
        let mut f = Flow::new(Duration::from_secs(6), 3);
        f.handle(FlowEvent::Started);
        assert!(f.handle(FlowEvent::Timeout).is_empty());
    }

    #[test]
    fn star_repeats_and_invalid_digit_is_recorded() {
        let mut f = Flow::new(Duration::from_secs(6), 3);
        f.handle(FlowEvent::Started);
        f.handle(digit('1'));
        let a = f.handle(digit('*'));
        assert_eq!(plays(&a), vec![(MAIN_MENU, Language::Kk)]);
        let a = f.handle(digit('9'));
        assert_eq!(plays(&a), vec![(INVALID, Language::Kk)]);
        let a = f.handle(FlowEvent::PromptFinished);
        assert_eq!(plays(&a), vec![(MAIN_MENU, Language::Kk)]);
        let a = f.handle(FlowEvent::PromptFinished);
        assert_eq!(a, vec![FlowAction::StartTimer(Duration::from_secs(6))]);
    }
}
