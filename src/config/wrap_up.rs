//! The `[wrap_up]` section: the wrap-up menu on a specialist's phone after
//! the caller hangs up, the kinds of help it offers, and the centre's
//! limits that protect specialists (each specialist's entry may change the
//! limits, see `senim_routing::specialists`).
//!
//! ```toml
//! [wrap_up]
//! menu = true              # play the menu on the specialist's phone
//! timeout = "10s"          # time to press a key (1 to 20 s)
//! crisis_in_a_row = 3      # crisis or long calls in a row before a break (0: off)
//! break = "20m"            # the automatic break
//! daily_calls = 25         # answered calls a day per specialist (0: no cap)
//! long_call = "30m"        # a call this long counts as a crisis call (0: none)
//! alert_after = "45m"      # alert when a call runs this long (0: never)
//!
//! [[wrap_up.kind]]         # without any: consultation 1, referral 2,
//! id = "consultation"      # crisis-intervention 3 (crisis, 10 min), information 4
//! digit = "1"
//! prompt = "wrap-up-consultation"   # default: wrap-up-<id>
//! wrap_up = "1m"           # rest after such a call (default: the specialist's wrap_up)
//! crisis = false           # counts towards crisis_in_a_row
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use senim_call::config::WrapUpMenu;
use senim_routing::limits::{self, Limits, WrapUpKind, WrapUpPolicy};
use serde::Deserialize;

use crate::util::duration::parse_duration;

/// The longest the menu may wait for a key: the call's legs are drained
/// within `LEG_DRAIN` (35 s) of the caller's hang-up, the menu's prompts
/// (at most 12 s) and the confirmation (at most 5 s) included.
pub const MAX_MENU_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest rest after a call of one kind.
const MAX_KIND_WRAP_UP: Duration = Duration::from_secs(3600);
/// The longest break, call and alert threshold.
const MAX_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// How long the router holds a specialist for the menu beyond its timeout:
/// the prompts before it and the confirmation after (see
/// `senim_call::leg::WRAP_UP_PROMPTS_MAX` and `WRAP_UP_CONFIRM_MAX`).
const MENU_PROMPTS_ALLOWANCE: Duration = Duration::from_secs(17);

/// The `[wrap_up]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WrapUpConfig {
    /// Play the wrap-up menu on the specialist's phone when the caller
    /// hangs up a routed call.
    pub menu: bool,
    /// How long the specialist has to press a key.
    pub timeout: String,
    /// Crisis or long calls in a row before an automatic break (0: off).
    pub crisis_in_a_row: u32,
    /// The automatic break.
    #[serde(rename = "break")]
    pub break_for: String,
    /// Answered calls a day per specialist (0: no cap).
    pub daily_calls: u32,
    /// A call this long counts towards `crisis_in_a_row` ("0s": none).
    pub long_call: String,
    /// Alert when a call runs this long ("0s": never).
    pub alert_after: String,
    /// The kinds of help, in menu order; empty: the four defaults.
    #[serde(rename = "kind")]
    pub kinds: Vec<KindConfig>,
}

/// One `[[wrap_up.kind]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    pub id: String,
    pub digit: String,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub wrap_up: Option<String>,
    #[serde(default)]
    pub crisis: bool,
}

impl Default for WrapUpConfig {
    fn default() -> Self {
        WrapUpConfig {
            menu: true,
            timeout: "10s".into(),
            crisis_in_a_row: limits::DEFAULT_CRISIS_IN_A_ROW,
            break_for: "20m".into(),
            daily_calls: limits::DEFAULT_DAILY_CALLS,
            long_call: "30m".into(),
            alert_after: "45m".into(),
            kinds: Vec::new(),
        }
    }
}

/// `[wrap_up]` checked: what the router applies and what the calls play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapUpSettings {
    /// For the router's roster.
    pub policy: WrapUpPolicy,
    /// For the calls; `None` when `menu = false`.
    pub menu: Option<WrapUpMenu>,
}

impl Default for WrapUpSettings {
    fn default() -> Self {
        WrapUpConfig::default()
            .settings()
            .unwrap_or_else(|_| WrapUpSettings {
                policy: WrapUpPolicy::default(),
                menu: None,
            })
    }
}

/// The prompt that asks for the kind, before each kind's own.
pub const MENU_PROMPT: &str = "wrap-up-menu";
/// The prompt that confirms a kind.
pub const CONFIRM_PROMPT: &str = "wrap-up-thanks";

impl WrapUpConfig {
    /// Checks the section; every fault as (key under `wrap_up`, message).
    pub fn settings(&self) -> Result<WrapUpSettings, Vec<(String, String)>> {
        let mut faults = Vec::new();
        let mut duration = |key: &str, text: &str, max: Duration| -> Duration {
            match parse_duration(text) {
                Some(d) if d <= max => d,
                Some(_) => {
                    faults.push((
                        format!("wrap_up.{key}"),
                        format!("{text:?} is longer than {}s", max.as_secs()),
                    ));
                    Duration::ZERO
                }
                None => {
                    faults.push((
                        format!("wrap_up.{key}"),
                        format!("{text:?} is not a duration like \"10s\" or \"20m\""),
                    ));
                    Duration::ZERO
                }
            }
        };
        let timeout = duration("timeout", &self.timeout, MAX_MENU_TIMEOUT);
        let break_for = duration("break", &self.break_for, MAX_LIMIT);
        let long_call = duration("long_call", &self.long_call, MAX_LIMIT);
        let alert_after = duration("alert_after", &self.alert_after, MAX_LIMIT);
        if self.menu && parse_duration(&self.timeout) == Some(Duration::ZERO) {
            faults.push((
                "wrap_up.timeout".into(),
                "must be at least 1s (or set menu = false)".into(),
            ));
        }
        let kinds = if self.kinds.is_empty() {
            limits::default_kinds()
        } else {
            self.check_kinds(&mut faults)
        };
        if !faults.is_empty() {
            return Err(faults);
        }
        let menu = self.menu.then(|| WrapUpMenu {
            prompts: std::iter::once(MENU_PROMPT.to_string())
                .chain(kinds.iter().map(|k| k.prompt.clone()))
                .collect(),
            kinds: kinds.iter().map(|k| (k.digit, k.id.clone())).collect(),
            timeout,
            confirm: CONFIRM_PROMPT.to_string(),
        });
        let policy = WrapUpPolicy {
            kinds,
            limits: Limits {
                wrap_up_by_kind: Default::default(),
                crisis_in_a_row: self.crisis_in_a_row,
                break_for,
                daily_calls: self.daily_calls,
                long_call,
                alert_after,
            },
            menu_hold: if self.menu {
                timeout + MENU_PROMPTS_ALLOWANCE
            } else {
                Duration::ZERO
            },
        };
        Ok(WrapUpSettings { policy, menu })
    }

    fn check_kinds(&self, faults: &mut Vec<(String, String)>) -> Vec<WrapUpKind> {
        let mut ids = BTreeSet::new();
        let mut digits = BTreeSet::new();
        let mut out = Vec::new();
        for (i, k) in self.kinds.iter().enumerate() {
            let at = |key: &str| format!("wrap_up.kind[{i}].{key}");
            let id = k.id.trim();
            let id_ok = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !id_ok {
                faults.push((
                    at("id"),
                    format!("{id:?}: an id is lower-case letters, digits and `-`"),
                ));
            } else if !ids.insert(id.to_string()) {
                faults.push((at("id"), format!("kind {id:?} is listed twice")));
            }
            let mut chars = k.digit.trim().chars();
            let digit = match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Some(c),
                _ => {
                    faults.push((at("digit"), format!("{:?}: one key, 0-9, * or #", k.digit)));
                    None
                }
            };
            if let Some(d) = digit {
                if !digits.insert(d) {
                    faults.push((at("digit"), format!("key {d} is given to two kinds")));
                }
            }
            let wrap_up = match &k.wrap_up {
                None => None,
                Some(text) => match parse_duration(text) {
                    Some(d) if d <= MAX_KIND_WRAP_UP => Some(d),
                    _ => {
                        faults.push((
                            at("wrap_up"),
                            format!("{text:?} is not a duration of at most one hour"),
                        ));
                        None
                    }
                },
            };
            let prompt = k.prompt.clone().unwrap_or_else(|| format!("wrap-up-{id}"));
            if let Some(digit) = digit {
                out.push(WrapUpKind {
                    id: id.to_string(),
                    digit,
                    prompt,
                    wrap_up,
                    crisis: k.crisis,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_four_kinds_and_safe_limits() {
        let s = WrapUpConfig::default().settings().unwrap();
        let ids: Vec<&str> = s.policy.kinds.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "consultation",
                "referral",
                "crisis-intervention",
                "information"
            ]
        );
        assert_eq!(s.policy.limits.crisis_in_a_row, 3);
        assert_eq!(s.policy.limits.break_for, Duration::from_secs(1200));
        assert_eq!(s.policy.limits.daily_calls, 25);
        assert_eq!(s.policy.limits.alert_after, Duration::from_secs(2700));
        let menu = s.menu.unwrap();
        assert_eq!(
            menu.prompts.first().map(String::as_str),
            Some("wrap-up-menu")
        );
        assert_eq!(
            menu.kinds.get(2),
            Some(&('3', "crisis-intervention".into()))
        );
        assert_eq!(s.policy.menu_hold, Duration::from_secs(27));
    }

    #[test]
    fn bad_keys_are_named() {
        let c = WrapUpConfig {
            timeout: "1m".into(),
            break_for: "soon".into(),
            kinds: vec![
                KindConfig {
                    id: "Crisis".into(),
                    digit: "12".into(),
                    prompt: None,
                    wrap_up: Some("2h".into()),
                    crisis: true,
                },
                KindConfig {
                    id: "info".into(),
                    digit: "4".into(),
                    prompt: None,
                    wrap_up: None,
                    crisis: false,
                },
                KindConfig {
                    id: "info".into(),
                    digit: "4".into(),
                    prompt: None,
                    wrap_up: None,
                    crisis: false,
                },
            ],
            ..WrapUpConfig::default()
        };
        let keys: Vec<String> = c.settings().unwrap_err().into_iter().map(|f| f.0).collect();
        assert_eq!(
            keys,
            [
                "wrap_up.timeout",
                "wrap_up.break",
                "wrap_up.kind[0].id",
                "wrap_up.kind[0].digit",
                "wrap_up.kind[0].wrap_up",
                "wrap_up.kind[2].id",
                "wrap_up.kind[2].digit",
            ]
        );
    }

    #[test]
    fn no_menu_holds_nobody() {
        let c = WrapUpConfig {
            menu: false,
            ..WrapUpConfig::default()
        };
        let s = c.settings().unwrap();
        assert!(s.menu.is_none());
        assert_eq!(s.policy.menu_hold, Duration::ZERO);
    }
}

#[cfg(test)]
mod in_the_file {
    use std::path::Path;

    use crate::config::Config;

    fn faults(text: &str) -> String {
        match Config::from_toml(text, Path::new("c.toml")).and_then(|c| c.validate("c.toml")) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn faults_name_the_line_and_the_key() {
        let e = faults("[wrap_up]\ntimeout = \"1h\"\n\n[[wrap_up.kind]]\nid = \"a\"\ndigit = \"1\"\n\n[[wrap_up.kind]]\nid = \"b\"\ndigit = \"1\"\n");
        assert!(e.contains("c.toml:2:"), "{e}");
        assert!(e.contains("wrap_up.timeout"), "{e}");
        assert!(e.contains("c.toml:10:"), "{e}");
        assert!(e.contains("key 1 is given to two kinds"), "{e}");
    }

    #[test]
    fn a_specialists_kind_must_be_a_configured_one() {
        let e = faults(
            "[[specialist]]\nid = \"aru\"\nname = \"Aru\"\nskills = [\"legal\"]\nlanguages = [\"kk\"]\n\
             uri = \"sip:aru@127.0.0.1:5070\"\nwrap_up_by_kind = { tea = \"1m\" }\n",
        );
        assert!(e.contains("no wrap-up kind `tea`"), "{e}");
        assert!(e.contains("crisis-intervention"), "{e}");
    }

    #[test]
    fn the_menu_and_the_limits_are_read() {
        let s = Config::from_toml(
            "[wrap_up]\ntimeout = \"8s\"\ndaily_calls = 0\nbreak = \"30m\"\n\n\
             [[wrap_up.kind]]\nid = \"legal-aid\"\ndigit = \"5\"\nwrap_up = \"2m\"\ncrisis = true\n",
            Path::new("c.toml"),
        )
        .and_then(|c| c.validate("c.toml"))
        .unwrap();
        let w = &s.wrap_up;
        assert_eq!(w.policy.limits.daily_calls, 0);
        assert_eq!(w.policy.limits.break_for.as_secs(), 1800);
        let kind = w.policy.kind("legal-aid").unwrap();
        assert!(kind.crisis && kind.digit == '5' && kind.prompt == "wrap-up-legal-aid");
        let menu = w.menu.as_ref().unwrap();
        assert_eq!(menu.prompts, ["wrap-up-menu", "wrap-up-legal-aid"]);
        assert_eq!(menu.timeout.as_secs(), 8);
    }
}
