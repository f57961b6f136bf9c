//! Runs one call through a plan: a pure state machine, events in, actions out.
//!
//! No clock and no sockets: a timer is asked for with
//! [`Action::StartTimer`] and comes back as [`Event::Timeout`]; the schedule,
//! the routing and the transfer are done by the driver, which reports their
//! result as an event. Events that do not fit the current state (a digit
//! while a call is being routed, a `PromptFinished` after a barge-in, a
//! timeout nobody asked for) are ignored.
//!
//! The interpreter holds an `Arc<Plan>`: a reload gives new calls the new
//! plan and leaves calls in progress on the one they started with.

use std::sync::Arc;
use std::time::Duration;

use crate::model::{Menu, NodeKind, Plan, Prompts, Remember, Survey};

/// Most nodes entered in a row without one that waits for the caller
/// (menu, survey, route, transfer, callback, voicemail). Past this the plan
/// is looping: the call goes to the emergency node once, then hangs up with
/// outcome "dialplan-loop".
pub const MAX_STEPS: u32 = 100;

/// Something that happened to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The call is answered and media flows.
    Started,
    /// The caller pressed a key (0-9, *, #, A-D; anything else is ignored).
    Digit(char),
    /// The prompts of the last [`Action::Play`] have been played to the end.
    PromptFinished,
    /// The timer of the last [`Action::StartTimer`] expired.
    Timeout,
    /// Answer to [`Action::CheckHours`].
    HoursResult { open: bool },
    /// Answer to [`Action::Route`].
    RouteResult(RouteOutcome),
    /// The specialist the caller was connected to hung up; the caller is still on the line.
    PeerHungUp,
    /// Answer to [`Action::Transfer`].
    TransferResult(TransferOutcome),
    /// Answer to [`Action::Callback`].
    CallbackResult { recorded: bool },
    /// Answer to [`Action::Voicemail`].
    VoicemailResult { recorded: bool },
}

/// How routing to a service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteOutcome {
    /// The caller talks to a specialist; [`Event::PeerHungUp`] follows.
    Connected,
    /// The service is closed (outside its hours, or nobody on duty).
    Closed,
    /// Nobody answered within the ring and queue limits.
    NoAnswer,
    /// Routing could not be done.
    Failed,
    /// The caller pressed the plan's emergency key while waiting for a
    /// specialist: the plan's emergency node (else the overflow).
    Emergency,
}

/// How a transfer to a partner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferOutcome {
    /// The partner answered a call Senim bridged; the interpreter is done
    /// (outcome `transferred`).
    Transferred,
    /// The upstream took the call over (REFER accepted and its 2xx
    /// reported); whether the partner answered is not known to Senim. The
    /// interpreter is done (outcome `handed-over`).
    HandedOver,
    Failed,
}

/// What the interpreter wants done, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play these prompt ids in sequence in `language` (already resolved
    /// through the plan's fallback order: play exactly this). Exactly one
    /// `PromptFinished` is expected after the last. Replaces whatever plays.
    Play {
        prompts: Vec<String>,
        language: String,
    },
    /// Stop the prompt that plays (barge-in). No `PromptFinished` is expected for it.
    StopPrompt,
    /// Send [`Event::Timeout`] after this long (replaces an earlier timer).
    StartTimer(Duration),
    /// Forget the timer.
    CancelTimer,
    /// The caller's language is now this.
    SetLanguage(String),
    /// A step of the caller's path, for the call record.
    Record { node: String, what: String },
    /// Is the schedule open now? Answer with [`Event::HoursResult`].
    CheckHours { schedule: String },
    /// Connect the caller to a specialist. Answer with [`Event::RouteResult`].
    Route {
        node: String,
        service: String,
        strategy: String,
        ring: Duration,
        max_wait: Duration,
        other_language: bool,
        /// Ring the remembered caller's last specialist first (`prefer="last-specialist"`).
        prefer_last: bool,
    },
    /// Hand the caller to a partner (an id in the partner directory).
    /// Answer with [`Event::TransferResult`].
    Transfer { node: String, partner: String },
    /// Take a callback request. Answer with [`Event::CallbackResult`].
    Callback { node: String },
    /// Record a message (the prompt has been played). Answer with [`Event::VoicemailResult`].
    Voicemail { node: String, max_length: Duration },
    /// End the call.
    Hangup { outcome: String },
    /// The caller rated the call in the survey (1 to 5): store it.
    SurveyScore { node: String, score: u8 },
    /// The caller pressed the consent key of a `<remember>`: remember them
    /// (if the call allows it: a usable number, a specialist reached).
    Remember { node: String },
    /// The caller asked to be forgotten (`<forget>`).
    Forget { node: String },
}

/// What the node's prompt leads to when it has played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Route,
    Transfer,
    Voicemail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    Menu { failures: u32, input: String },
    Play,
    Prelude(Then),
    AwaitHours,
    AwaitRoute,
    InCall,
    AwaitTransfer,
    AwaitCallback,
    CallbackConfirm,
    AwaitVoicemail,
    Survey { invalid: bool },
    Remember,
    Done,
}

/// One call's walk through a plan.
#[derive(Debug)]
pub struct Interpreter {
    plan: Arc<Plan>,
    /// The node [`Event::Started`] enters (the plan's `start`, or a line's).
    entry: String,
    state: State,
    at: Option<usize>,
    language: String,
    playing: bool,
    timer: bool,
    steps: u32,
    escaped: bool,
    outcome: Option<String>,
    /// The language of a caller remembered from an earlier call (see
    /// [`Interpreter::set_remembered`]); `None`: not remembered.
    remembered: Option<String>,
}

impl Interpreter {
    /// A call that starts at the plan's `start` node.
    pub fn new(plan: Arc<Plan>) -> Self {
        let entry = plan.start().to_string();
        Self::with_entry(plan, entry)
    }

    /// A call that starts at `node` instead of the plan's `start` (the
    /// start of the line the caller dialled); `None` when the plan has no
    /// such node. Everything else (language, emergency, the loop guard) is
    /// as for a call from `start`.
    pub fn starting_at(plan: Arc<Plan>, node: &str) -> Option<Self> {
        plan.node(node)?;
        Some(Self::with_entry(plan, node.to_string()))
    }

    fn with_entry(plan: Arc<Plan>, entry: String) -> Self {
        let language = plan.default_language().to_string();
        Interpreter {
            plan,
            entry,
            state: State::Idle,
            at: None,
            language,
            playing: false,
            timer: false,
            steps: 0,
            escaped: false,
            outcome: None,
            remembered: None,
        }
    }

    /// The caller is remembered from an earlier call, in `language`: a
    /// `<recognise>` takes its `known` branch. Give it before [`Event::Started`].
    pub fn set_remembered(&mut self, language: &str) {
        self.remembered = Some(language.to_string());
    }

    /// Whether the caller is remembered (and has not asked to be forgotten).
    pub fn is_remembered(&self) -> bool {
        self.remembered.is_some()
    }

    /// The plan this call runs on.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The node the call starts at (the plan's `start`, or a line's).
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The caller's language (the plan's default language until chosen).
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The id of the current node ("" before [`Event::Started`]).
    pub fn node(&self) -> &str {
        self.at
            .and_then(|i| self.plan.nodes.get(i))
            .map_or("", |n| n.id.as_str())
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// How the call ended ("completed", "transferred", "handed-over", a hangup node's
    /// `outcome`, "dialplan-loop"), once done.
    pub fn outcome(&self) -> Option<&str> {
        self.outcome.as_deref()
    }

    /// Feed one event; the actions are returned in the order to carry out.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        let plan = Arc::clone(&self.plan);
        let node = self.at.and_then(|i| plan.nodes.get(i));
        match (event, node.map(|n| &n.kind)) {
            (_, _) if self.state == State::Done => {}
            (Event::Started, _) if self.state == State::Idle => {
                let entry = std::mem::take(&mut self.entry);
                self.goto(&entry, &mut out);
                self.entry = entry;
            }
            (Event::Started, _) => {}
            (Event::Digit(c), Some(NodeKind::Menu(m))) if is_key(c) => {
                self.menu_digit(m, c, &mut out)
            }
            (Event::Digit(c), Some(NodeKind::Survey(s))) if is_key(c) => {
                self.survey_digit(s, c, &mut out)
            }
            (Event::Digit(c), Some(NodeKind::Remember(r)))
                if is_key(c) && self.state == State::Remember =>
            {
                self.remember_digit(r, c, &mut out)
            }
            (Event::Digit(_), _) => {}
            (Event::PromptFinished, Some(kind)) if self.playing => {
                self.playing = false;
                self.prompt_finished(kind, &mut out);
            }
            (Event::PromptFinished, _) => {}
            (Event::Timeout, Some(kind)) if self.timer => {
                self.timer = false;
                match kind {
                    NodeKind::Menu(m) => self.menu_timeout(m, &mut out),
                    NodeKind::Survey(s) => {
                        self.record(&mut out, "survey no score (timeout)".into());
                        self.goto(&s.next.target, &mut out);
                    }
                    NodeKind::Remember(r) => {
                        self.record(&mut out, "remember: no answer".into());
                        self.goto(&r.next.target, &mut out);
                    }
                    _ => {}
                }
            }
            (Event::Timeout, _) => {}
            (Event::HoursResult { open }, Some(NodeKind::Hours(h)))
                if self.state == State::AwaitHours =>
            {
                if open {
                    self.record(&mut out, "hours open".into());
                    self.goto(&h.open.target, &mut out);
                } else {
                    self.record(&mut out, "hours closed".into());
                    self.goto(&h.closed.target, &mut out);
                }
            }
            (Event::RouteResult(o), Some(NodeKind::Route(r)))
                if self.state == State::AwaitRoute =>
            {
                match o {
                    RouteOutcome::Connected => {
                        self.record(&mut out, "route connected".into());
                        self.state = State::InCall;
                    }
                    RouteOutcome::Closed => {
                        self.record(&mut out, "route closed".into());
                        self.goto(&r.closed.target, &mut out);
                    }
                    RouteOutcome::NoAnswer => {
                        self.record(&mut out, "route no-answer".into());
                        self.goto(&r.overflow.target, &mut out);
                    }
                    RouteOutcome::Failed => {
                        self.record(&mut out, "route failed".into());
                        self.goto(&r.overflow.target, &mut out);
                    }
                    RouteOutcome::Emergency => {
                        self.record(&mut out, "route emergency".into());
                        let to = self
                            .plan
                            .emergency()
                            .map_or_else(|| r.overflow.target.clone(), str::to_string);
                        self.goto(&to, &mut out);
                    }
                }
            }
            (Event::PeerHungUp, Some(NodeKind::Route(r))) if self.state == State::InCall => {
                self.record(&mut out, "peer hung up".into());
                match &r.after {
                    Some(after) => self.goto(&after.target, &mut out),
                    None => self.finish("completed", &mut out),
                }
            }
            (Event::TransferResult(o), Some(NodeKind::Transfer(t)))
                if self.state == State::AwaitTransfer =>
            {
                match o {
                    TransferOutcome::Transferred => {
                        self.record(&mut out, "transferred".into());
                        self.state = State::Done;
                        self.outcome = Some("transferred".into());
                    }
                    TransferOutcome::HandedOver => {
                        self.record(&mut out, "handed over".into());
                        self.state = State::Done;
                        self.outcome = Some("handed-over".into());
                    }
                    TransferOutcome::Failed => {
                        self.record(&mut out, "transfer failed".into());
                        self.goto(&t.fallback.target, &mut out);
                    }
                }
            }
            (Event::CallbackResult { recorded }, Some(NodeKind::Callback(c)))
                if self.state == State::AwaitCallback =>
            {
                if recorded {
                    self.record(&mut out, "callback recorded".into());
                    match &c.prompt {
                        Some(p) => {
                            self.state = State::CallbackConfirm;
                            self.play(p.ids.clone(), &mut out);
                        }
                        None => self.goto(&c.next.target, &mut out),
                    }
                } else {
                    self.record(&mut out, "callback not recorded".into());
                    let to = c.failed.as_ref().unwrap_or(&c.next);
                    self.goto(&to.target, &mut out);
                }
            }
            (Event::VoicemailResult { recorded }, Some(NodeKind::Voicemail(v)))
                if self.state == State::AwaitVoicemail =>
            {
                let what = if recorded {
                    "voicemail recorded"
                } else {
                    "voicemail not recorded"
                };
                self.record(&mut out, what.into());
                self.goto(&v.next.target, &mut out);
            }
            _ => {}
        }
        out
    }

    fn prompt_finished(&mut self, kind: &NodeKind, out: &mut Vec<Action>) {
        match (&self.state, kind) {
            (State::Menu { input, .. }, NodeKind::Menu(m)) if input.is_empty() => {
                self.start_timer(m.timeout, out);
            }
            (State::Survey { .. }, NodeKind::Survey(s)) => self.start_timer(s.timeout, out),
            (State::Remember, NodeKind::Remember(r)) => self.start_timer(r.timeout, out),
            (State::Play, NodeKind::Play(p)) => self.goto(&p.next.target, out),
            (State::CallbackConfirm, NodeKind::Callback(c)) => self.goto(&c.next.target, out),
            (State::Prelude(then), _) => {
                let then = *then;
                self.act(then, kind, out);
            }
            _ => {}
        }
    }

    /// Ask the driver to route, transfer or record (after the node's prompt, if any).
    fn act(&mut self, then: Then, kind: &NodeKind, out: &mut Vec<Action>) {
        let node = self.node().to_string();
        match (then, kind) {
            (Then::Route, NodeKind::Route(r)) => {
                self.state = State::AwaitRoute;
                out.push(Action::Route {
                    node,
                    service: r.service.clone(),
                    strategy: r.strategy.as_str().to_string(),
                    ring: r.ring,
                    max_wait: r.max_wait,
                    other_language: r.other_language,
                    prefer_last: r.prefer_last,
                });
            }
            (Then::Transfer, NodeKind::Transfer(t)) => {
                self.state = State::AwaitTransfer;
                out.push(Action::Transfer {
                    node,
                    partner: t.partner.clone(),
                });
            }
            (Then::Voicemail, NodeKind::Voicemail(v)) => {
                self.state = State::AwaitVoicemail;
                out.push(Action::Voicemail {
                    node,
                    max_length: v.max_length,
                });
            }
            _ => {}
        }
    }

    fn menu_digit(&mut self, m: &Menu, c: char, out: &mut Vec<Action>) {
        let State::Menu { input, .. } = &self.state else {
            return;
        };
        let first = input.is_empty();
        self.quiet(out);
        if first {
            if self.plan_wide_key(c, &m.prompt, out) {
                return;
            }
            if c == '#' {
                self.menu_choose(m, "#".into(), out);
                return;
            }
        } else if c == '#' {
            let input = self.take_input();
            self.menu_choose(m, input, out);
            return;
        }
        let State::Menu { input, .. } = &mut self.state else {
            return;
        };
        input.push(c);
        let typed = input.as_str();
        let longer = m
            .choices
            .iter()
            .any(|ch| ch.digits.len() > typed.len() && ch.digits.starts_with(typed));
        if typed.chars().count() >= m.max_digits || !longer {
            let input = self.take_input();
            self.menu_choose(m, input, out);
        } else {
            self.start_timer(m.inter_digit_timeout, out);
        }
    }

    fn take_input(&mut self) -> String {
        match &mut self.state {
            State::Menu { input, .. } => std::mem::take(input),
            _ => String::new(),
        }
    }

    fn menu_choose(&mut self, m: &Menu, input: String, out: &mut Vec<Action>) {
        match m.choices.iter().find(|c| c.digits == input) {
            Some(choice) => {
                self.record(out, format!("choice {input}"));
                if let Some(l) = &choice.language {
                    self.set_language(l, out);
                }
                self.goto(&choice.goto.target, out);
            }
            None => {
                let failures = self.fail();
                self.record(out, format!("invalid {input} ({failures}/{})", m.max_tries));
                if failures >= m.max_tries {
                    self.record(out, "no valid choice".into());
                    self.goto(&m.on_fail.target, out);
                } else {
                    self.play(invalid_then(m.invalid_prompt.as_ref(), &m.prompt), out);
                }
            }
        }
    }

    fn menu_timeout(&mut self, m: &Menu, out: &mut Vec<Action>) {
        let input = self.take_input();
        if !input.is_empty() {
            self.menu_choose(m, input, out);
            return;
        }
        let failures = self.fail();
        self.record(out, format!("timeout ({failures}/{})", m.max_tries));
        if failures >= m.max_tries {
            self.record(out, "no input".into());
            self.goto(&m.on_fail.target, out);
        } else {
            self.play(m.prompt.ids.clone(), out);
        }
    }

    /// Count a failed try in the current menu; returns the count.
    fn fail(&mut self) -> u32 {
        match &mut self.state {
            State::Menu { failures, .. } => {
                *failures = failures.saturating_add(1);
                *failures
            }
            _ => u32::MAX,
        }
    }

    /// The plan-wide keys, valid in every menu and the survey: the emergency
    /// key goes to the emergency node, the repeat key plays `prompt` again.
    /// True when `c` was one of them.
    fn plan_wide_key(&mut self, c: char, prompt: &Prompts, out: &mut Vec<Action>) -> bool {
        if Some(c) == self.plan.emergency_digit {
            if let Some(e) = self.plan.emergency().map(str::to_string) {
                self.record(out, format!("emergency {c}"));
                self.goto(&e, out);
                return true;
            }
        }
        if Some(c) == self.plan.repeat_digit {
            self.record(out, "repeat".into());
            self.play(prompt.ids.clone(), out);
            return true;
        }
        false
    }

    fn survey_digit(&mut self, s: &Survey, c: char, out: &mut Vec<Action>) {
        let State::Survey { invalid } = self.state else {
            return;
        };
        self.quiet(out);
        if self.plan_wide_key(c, &s.prompt, out) {
            return;
        }
        if let Some(score) = c.to_digit(10).filter(|d| (1..=5).contains(d)) {
            self.record(out, format!("survey score {c}"));
            out.push(Action::SurveyScore {
                node: self.node().to_string(),
                score: u8::try_from(score).unwrap_or(0),
            });
            self.goto(&s.next.target, out);
            return;
        }
        self.record(out, format!("invalid {c}"));
        if invalid {
            self.record(out, "survey no score".into());
            self.goto(&s.next.target, out);
        } else {
            self.state = State::Survey { invalid: true };
            self.play(invalid_then(s.invalid_prompt.as_ref(), &s.prompt), out);
        }
    }

    fn remember_digit(&mut self, r: &Remember, c: char, out: &mut Vec<Action>) {
        self.quiet(out);
        if self.plan_wide_key(c, &r.prompt, out) {
            return;
        }
        if c == r.digit {
            self.record(out, format!("remember: consent {c}"));
            out.push(Action::Remember {
                node: self.node().to_string(),
            });
        } else {
            self.record(out, format!("remember: declined {c}"));
        }
        self.goto(&r.next.target, out);
    }

    fn goto(&mut self, id: &str, out: &mut Vec<Action>) {
        match self.plan.index_of(id) {
            Some(i) => self.enter(i, out),
            None => {
                // Cannot happen with a validated plan; never strand the caller.
                self.record(out, format!("dialplan-error: no node \"{id}\""));
                match self.escape() {
                    Some(e) => self.enter(e, out),
                    None => self.finish("dialplan-error", out),
                }
            }
        }
    }

    /// Where to go when the plan misbehaves: the emergency node, once.
    fn escape(&mut self) -> Option<usize> {
        if self.escaped {
            return None;
        }
        self.escaped = true;
        self.steps = 0;
        self.plan.emergency().and_then(|e| self.plan.index_of(e))
    }

    fn enter(&mut self, mut idx: usize, out: &mut Vec<Action>) {
        let plan = Arc::clone(&self.plan);
        loop {
            let Some(node) = plan.nodes.get(idx) else {
                self.finish("dialplan-error", out);
                return;
            };
            if node.kind.waits_for_input() {
                self.steps = 0;
            } else {
                self.steps = self.steps.saturating_add(1);
                if self.steps > MAX_STEPS {
                    self.record(out, "dialplan-loop".into());
                    match self.escape() {
                        Some(e) => {
                            idx = e;
                            continue;
                        }
                        None => {
                            self.finish("dialplan-loop", out);
                            return;
                        }
                    }
                }
            }
            self.at = Some(idx);
            let next = match &node.kind {
                NodeKind::Menu(m) => {
                    self.record(out, "enter menu".into());
                    self.state = State::Menu {
                        failures: 0,
                        input: String::new(),
                    };
                    let first: Vec<String> = m
                        .intro
                        .iter()
                        .chain(std::iter::once(&m.prompt))
                        .flat_map(|p| p.ids.iter().cloned())
                        .collect();
                    self.play(first, out);
                    return;
                }
                NodeKind::Play(p) => {
                    self.record(out, "enter play".into());
                    self.state = State::Play;
                    self.play(p.prompt.ids.clone(), out);
                    return;
                }
                NodeKind::Survey(s) => {
                    self.record(out, "enter survey".into());
                    self.state = State::Survey { invalid: false };
                    self.play(s.prompt.ids.clone(), out);
                    return;
                }
                NodeKind::Remember(r) => {
                    self.record(out, "enter remember".into());
                    self.state = State::Remember;
                    self.play(r.prompt.ids.clone(), out);
                    return;
                }
                NodeKind::Recognise(r) => match self.remembered.clone() {
                    Some(language) => {
                        self.record(out, "recognised".into());
                        if self.plan.languages().contains(&language) {
                            self.set_language(&language, out);
                        }
                        &r.known.target
                    }
                    None => {
                        self.record(out, "not recognised".into());
                        &r.new.target
                    }
                },
                NodeKind::Forget(f) => {
                    self.record(out, "enter forget".into());
                    self.remembered = None;
                    out.push(Action::Forget {
                        node: node.id.clone(),
                    });
                    &f.next.target
                }
                NodeKind::Language(l) => {
                    self.record(out, format!("enter language {}", l.language));
                    self.set_language(&l.language, out);
                    &l.next.target
                }
                NodeKind::Goto(g) => {
                    self.record(out, format!("enter goto {}", g.target.target));
                    &g.target.target
                }
                NodeKind::Hangup(h) => {
                    self.record(out, format!("enter hangup {}", h.outcome));
                    self.finish(&h.outcome, out);
                    return;
                }
                NodeKind::Hours(h) => {
                    self.record(out, format!("enter hours {}", h.schedule));
                    self.quiet(out);
                    self.state = State::AwaitHours;
                    out.push(Action::CheckHours {
                        schedule: h.schedule.clone(),
                    });
                    return;
                }
                NodeKind::Route(r) => {
                    self.record(out, format!("enter route {}", r.service));
                    self.prelude(Then::Route, r.prompt.as_ref(), &node.kind, out);
                    return;
                }
                NodeKind::Transfer(t) => {
                    self.record(out, format!("enter transfer {}", t.partner));
                    self.prelude(Then::Transfer, t.prompt.as_ref(), &node.kind, out);
                    return;
                }
                NodeKind::Voicemail(v) => {
                    self.record(out, "enter voicemail".into());
                    self.prelude(Then::Voicemail, Some(&v.prompt), &node.kind, out);
                    return;
                }
                NodeKind::Callback(_) => {
                    self.record(out, "enter callback".into());
                    self.quiet(out);
                    self.state = State::AwaitCallback;
                    out.push(Action::Callback {
                        node: node.id.clone(),
                    });
                    return;
                }
            };
            match plan.index_of(next) {
                Some(i) => idx = i,
                None => {
                    self.record(out, format!("dialplan-error: no node \"{next}\""));
                    match self.escape() {
                        Some(e) => idx = e,
                        None => {
                            self.finish("dialplan-error", out);
                            return;
                        }
                    }
                }
            }
        }
    }

    fn prelude(
        &mut self,
        then: Then,
        prompt: Option<&crate::model::Prompts>,
        kind: &NodeKind,
        out: &mut Vec<Action>,
    ) {
        match prompt {
            Some(p) => {
                self.state = State::Prelude(then);
                self.play(p.ids.clone(), out);
            }
            None => {
                self.quiet(out);
                self.act(then, kind, out);
            }
        }
    }

    fn set_language(&mut self, language: &str, out: &mut Vec<Action>) {
        self.language = language.to_string();
        out.push(Action::SetLanguage(language.to_string()));
    }

    fn record(&self, out: &mut Vec<Action>, what: String) {
        out.push(Action::Record {
            node: self.node().to_string(),
            what,
        });
    }

    fn play(&mut self, prompts: Vec<String>, out: &mut Vec<Action>) {
        if self.timer {
            out.push(Action::CancelTimer);
            self.timer = false;
        }
        if self.playing {
            out.push(Action::StopPrompt);
        }
        let language = self.plan.resolve_language(&prompts, &self.language);
        out.push(Action::Play { prompts, language });
        self.playing = true;
    }

    fn start_timer(&mut self, d: Duration, out: &mut Vec<Action>) {
        out.push(Action::StartTimer(d));
        self.timer = true;
    }

    /// Stop the prompt and the timer.
    fn quiet(&mut self, out: &mut Vec<Action>) {
        if self.playing {
            out.push(Action::StopPrompt);
            self.playing = false;
        }
        if self.timer {
            out.push(Action::CancelTimer);
            self.timer = false;
        }
    }

    fn finish(&mut self, outcome: &str, out: &mut Vec<Action>) {
        self.quiet(out);
        out.push(Action::Hangup {
            outcome: outcome.to_string(),
        });
        self.state = State::Done;
        self.outcome = Some(outcome.to_string());
    }
}

fn is_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A' | 'B' | 'C' | 'D')
}

/// The "invalid choice" prompts (if any), then the menu's own prompts again.
fn invalid_then(invalid: Option<&Prompts>, prompt: &Prompts) -> Vec<String> {
    invalid
        .map(|p| p.ids.iter())
        .into_iter()
        .flatten()
        .chain(prompt.ids.iter())
        .cloned()
        .collect()
}
