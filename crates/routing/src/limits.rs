//! Wrap-up codes and the limits that protect specialists.
//!
//! After a routed call the specialist says, with one key, what kind of help
//! was given ([`WrapUpKind`]: consultation, referral, crisis intervention,
//! information by default). The kind decides the rest before the next call
//! (a crisis intervention earns a longer one). [`Limits`] are the centre's
//! defaults (`[wrap_up]`), which a specialist's own entry may change
//! ([`SpecialistLimits`]); the roster applies them so that the router never
//! rings someone who should rest, however long the queue:
//!
//! * wrap-up time by kind (the kind's time, or the specialist's `wrap_up`);
//! * after `crisis_in_a_row` crisis or long calls in a row, an automatic
//!   break of `break_for`, which ends by itself;
//! * at most `daily_calls` answered calls per day (Asia/Almaty);
//! * an alert when a call runs longer than `alert_after`, and when a
//!   specialist reaches a cap.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// One kind of help, as the wrap-up menu offers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrapUpKind {
    /// The id stored on the call (`consultation`).
    pub id: String,
    /// The key the specialist presses.
    pub digit: char,
    /// The prompt that names the kind in the menu (kk and ru).
    pub prompt: String,
    /// The rest after a call of this kind; `None`: the specialist's `wrap_up`.
    pub wrap_up: Option<Duration>,
    /// Counts towards the crisis cap (`crisis_in_a_row`).
    pub crisis: bool,
}

impl WrapUpKind {
    fn new(id: &str, digit: char, wrap_up: Option<Duration>, crisis: bool) -> WrapUpKind {
        WrapUpKind {
            id: id.to_string(),
            digit,
            prompt: format!("wrap-up-{id}"),
            wrap_up,
            crisis,
        }
    }
}

/// The default kinds: consultation 1, referral 2, crisis intervention 3
/// (crisis, 10 minutes' rest), information 4.
pub fn default_kinds() -> Vec<WrapUpKind> {
    vec![
        WrapUpKind::new("consultation", '1', None, false),
        WrapUpKind::new("referral", '2', None, false),
        WrapUpKind::new(
            "crisis-intervention",
            '3',
            Some(DEFAULT_CRISIS_WRAP_UP),
            true,
        ),
        WrapUpKind::new("information", '4', None, false),
    ]
}

/// The rest after a crisis intervention by default.
pub const DEFAULT_CRISIS_WRAP_UP: Duration = Duration::from_secs(600);
/// Crisis or long calls in a row before an automatic break, by default.
pub const DEFAULT_CRISIS_IN_A_ROW: u32 = 3;
/// The automatic break's length by default.
pub const DEFAULT_BREAK: Duration = Duration::from_secs(20 * 60);
/// Answered calls per day by default.
pub const DEFAULT_DAILY_CALLS: u32 = 25;
/// A call this long counts towards the crisis cap, by default.
pub const DEFAULT_LONG_CALL: Duration = Duration::from_secs(30 * 60);
/// A call this long raises an alert, by default.
pub const DEFAULT_ALERT_AFTER: Duration = Duration::from_secs(45 * 60);

/// The limits of one specialist (the centre's defaults with their own
/// changes). A zero count or duration turns that limit off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The rest after a call, by kind id, where it differs from the kind's.
    pub wrap_up_by_kind: BTreeMap<String, Duration>,
    /// Crisis or long calls in a row before an automatic break (0: never).
    pub crisis_in_a_row: u32,
    /// The automatic break.
    pub break_for: Duration,
    /// Answered calls per day (0: no cap).
    pub daily_calls: u32,
    /// A call at least this long counts towards `crisis_in_a_row` (0: none does).
    pub long_call: Duration,
    /// Alert when a call runs this long (0: never).
    pub alert_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wrap_up_by_kind: BTreeMap::new(),
            crisis_in_a_row: DEFAULT_CRISIS_IN_A_ROW,
            break_for: DEFAULT_BREAK,
            daily_calls: DEFAULT_DAILY_CALLS,
            long_call: DEFAULT_LONG_CALL,
            alert_after: DEFAULT_ALERT_AFTER,
        }
    }
}

/// A specialist's own changes to the centre's [`Limits`] (`None`: the
/// centre's value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialistLimits {
    /// Rest by kind id (`wrap_up_by_kind = { crisis-intervention = "15m" }`).
    pub wrap_up_by_kind: BTreeMap<String, Duration>,
    /// `crisis_in_a_row`.
    pub crisis_in_a_row: Option<u32>,
    /// `break`.
    pub break_for: Option<Duration>,
    /// `daily_calls`.
    pub daily_calls: Option<u32>,
    /// `long_call`.
    pub long_call: Option<Duration>,
    /// `alert_after`.
    pub alert_after: Option<Duration>,
}

impl SpecialistLimits {
    /// The centre's `base` with these changes.
    pub fn over(&self, base: &Limits) -> Limits {
        let mut by_kind = base.wrap_up_by_kind.clone();
        by_kind.extend(self.wrap_up_by_kind.iter().map(|(k, v)| (k.clone(), *v)));
        Limits {
            wrap_up_by_kind: by_kind,
            crisis_in_a_row: self.crisis_in_a_row.unwrap_or(base.crisis_in_a_row),
            break_for: self.break_for.unwrap_or(base.break_for),
            daily_calls: self.daily_calls.unwrap_or(base.daily_calls),
            long_call: self.long_call.unwrap_or(base.long_call),
            alert_after: self.alert_after.unwrap_or(base.alert_after),
        }
    }
}

/// The wrap-up kinds and the centre's limits, as the roster applies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrapUpPolicy {
    /// The kinds, in menu order.
    pub kinds: Vec<WrapUpKind>,
    /// The centre's limits (a specialist's entry may change them).
    pub limits: Limits,
    /// After a call, the specialist is not rung before their wrap-up code
    /// (or word that none came) arrives, for at most this long: the wrap-up
    /// menu is still on their phone. Zero: no menu is expected.
    pub menu_hold: Duration,
}

impl Default for WrapUpPolicy {
    fn default() -> Self {
        WrapUpPolicy {
            kinds: default_kinds(),
            limits: Limits::default(),
            menu_hold: Duration::ZERO,
        }
    }
}

impl WrapUpPolicy {
    /// The kind with this id.
    pub fn kind(&self, id: &str) -> Option<&WrapUpKind> {
        self.kinds.iter().find(|k| k.id == id)
    }

    /// The kind chosen with this key.
    pub fn kind_for_digit(&self, digit: char) -> Option<&WrapUpKind> {
        self.kinds.iter().find(|k| k.digit == digit)
    }
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// A call runs longer than `alert_after`.
    LongCall,
    /// The specialist reached `crisis_in_a_row`: an automatic break started.
    CrisisCap,
    /// The specialist reached `daily_calls`: not rung again today.
    DailyCap,
}

impl AlertKind {
    /// `long-call`, `crisis-cap`, `daily-cap` (logs, metrics, the board).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::LongCall => "long-call",
            AlertKind::CrisisCap => "crisis-cap",
            AlertKind::DailyCap => "daily-cap",
        }
    }

    /// Every kind, for metrics.
    pub const ALL: [AlertKind; 3] = [
        AlertKind::LongCall,
        AlertKind::CrisisCap,
        AlertKind::DailyCap,
    ];
}
