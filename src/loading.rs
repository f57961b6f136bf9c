//! What the configuration names besides itself, read and checked against
//! each other: the prompts, the holiday table, the partner directory and
//! the dialplan. Start-up, `senim check` and every reload of a running
//! Senim load them here, in the order they depend on each other; an error in
//! any of them refuses the whole.

use senim_dialplan::{Diagnostic, Plan};
use senim_media::prompts::PromptLibrary;
use senim_routing::hours::{Calendar, Holidays};
use senim_routing::partners::PartnerDirectory;
use senim_routing::specialists::Specialists;

use crate::config::Settings;
use crate::plan::{Context, PlanHolder};

/// Why the prompts, the data files or the dialplan were refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A prompt file or the manifest is missing or unreadable.
    #[error("prompts: {0}")]
    Prompts(#[from] senim_media::prompts::PromptError),
    /// The dialplan is invalid (each line is `file:line:column: message`).
    #[error("dialplan refused:\n{}", .0.join("\n"))]
    Dialplan(Vec<String>),
    /// The holiday table could not be loaded.
    #[error("holidays: {0}")]
    Holidays(#[from] senim_routing::hours::HoursError),
    /// The partner directory could not be loaded.
    #[error("partners: {0}")]
    Partners(#[from] senim_routing::partners::PartnersError),
    /// A prompt of the wrap-up menu (`[wrap_up]`) is missing in a language.
    #[error("wrap_up: {}", .0.join("; "))]
    WrapUpPrompts(Vec<String>),
}

/// Every prompt the wrap-up menu plays must exist in Kazakh and Russian
/// (the menu speaks the caller's language).
fn check_wrap_up_prompts(settings: &Settings, prompts: &PromptLibrary) -> Result<(), LoadError> {
    use senim_media::prompts::Language;
    let Some(menu) = &settings.wrap_up.menu else {
        return Ok(());
    };
    let mut missing = Vec::new();
    for id in menu.prompts.iter().chain(std::iter::once(&menu.confirm)) {
        for (language, name) in [(Language::Kk, "kk"), (Language::Ru, "ru")] {
            if prompts.get(id, language).is_none() {
                missing.push(format!("prompt `{id}` is missing in {name}"));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LoadError::WrapUpPrompts(missing))
    }
}

/// Load the prompts (every file is read and encoded now, never mid-call).
pub fn load_prompts(settings: &Settings) -> Result<PromptLibrary, LoadError> {
    Ok(match &settings.prompts_dir {
        Some(dir) => PromptLibrary::load(dir)?,
        None => crate::bundled::prompts()?,
    })
}

/// The data a plan is checked against and calls use: holidays, partners.
pub struct Data {
    pub calendar: Calendar,
    pub partners: PartnerDirectory,
}

pub fn load_data(settings: &Settings) -> Result<Data, LoadError> {
    let holidays = match &settings.config.data.holidays {
        Some(path) => Holidays::load(path)?,
        None => Holidays::bundled()?,
    };
    let partners = match &settings.config.data.partners {
        Some(path) => PartnerDirectory::load(path)?,
        None => PartnerDirectory::bundled()?,
    };
    Ok(Data {
        calendar: Calendar::almaty(holidays),
        partners,
    })
}

/// What cannot work without a `[[trunk]]`: specialists reached by number
/// (never rung). Said by `senim check`, logged at start and at a reload.
pub fn trunk_warnings(specialists: &Specialists, has_trunk: bool) -> Vec<String> {
    if has_trunk {
        return Vec::new();
    }
    let by_number: Vec<&str> = specialists
        .iter()
        .filter(|s| s.contact.kind() == "number")
        .map(|s| s.id.as_str())
        .collect();
    if by_number.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "no [[trunk]] is configured, so the specialists reached by number ({}) are never rung: \
         add the provider's or Asterisk's trunk (docs/trunks.md)",
        by_number.join(", ")
    )]
}

/// Everything `senim check` and start-up verify, in the order they depend on
/// each other: prompts, data, dialplan.
pub fn load_all(settings: &Settings) -> Result<(PromptLibrary, Data, PlanHolder), LoadError> {
    let loaded = load_checked(settings, !settings.trunks.is_empty())?;
    let plans = PlanHolder::serving(
        settings.dialplan_file.as_deref(),
        loaded.plan,
        &loaded.plan_warnings,
    );
    Ok((loaded.prompts, loaded.data, plans))
}

/// The prompts, the data files and the dialplan, each checked against the
/// others.
pub struct Loaded {
    pub prompts: PromptLibrary,
    pub data: Data,
    pub plan: Plan,
    /// What the dialplan's check warns of (the plan is taken).
    pub plan_warnings: Vec<Diagnostic>,
}

/// Load the prompts, the data files and the dialplan of `settings`; the
/// plan is checked against them, the schedules and the lines of `settings`,
/// and `has_trunk` (whether the trunks in service can place numbers).
pub fn load_checked(settings: &Settings, has_trunk: bool) -> Result<Loaded, LoadError> {
    let prompts = load_prompts(settings)?;
    check_wrap_up_prompts(settings, &prompts)?;
    let data = load_data(settings)?;
    let (plan, plan_warnings) = crate::plan::load(
        settings.dialplan_file.as_deref(),
        &Context {
            prompts: &prompts,
            schedules: &settings.config.hours,
            partners: &data.partners,
            lines: &settings.lines,
            has_trunk,
            first_prompt_limit: settings.first_prompt_limit,
        },
    )
    .map_err(|d| LoadError::Dialplan(d.iter().map(ToString::to_string).collect()))?;
    Ok(Loaded {
        prompts,
        data,
        plan,
        plan_warnings,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::Config;

    fn first_prompt_warnings(limit: &str) -> Vec<String> {
        let text = format!("[dialplan]\nfirst_prompt_limit = \"{limit}\"\n");
        let settings = Config::from_toml(&text, std::path::Path::new("senim.toml"))
            .expect("parses")
            .validate("senim.toml")
            .expect("valid");
        let loaded = load_checked(&settings, true).expect("the bundled plan loads");
        loaded
            .plan_warnings
            .iter()
            .map(ToString::to_string)
            .filter(|w| w.contains("first_prompt_limit"))
            .collect()
    }

    #[test]
    fn the_bundled_greeting_is_within_the_default_limit_and_a_lower_limit_warns() {
        assert_eq!(first_prompt_warnings("8s"), Vec::<String>::new());
        // At 5 s both first menus warn: a new caller's greeting and a
        // remembered caller's welcome-back.
        let w = first_prompt_warnings("5s");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains(": warning: menu \"welcome-back\""), "{w:?}");
        let w = &w[1..];
        assert!(
            w[0].starts_with("dialplans/centre.xml (bundled):")
                && w[0].contains(": warning: menu \"greeting\": a caller hears ")
                && w[0].contains("(greeting-short in ")
                && w[0].contains("longer than the limit of 5.0 s"),
            "{w:?}"
        );
        // The bundled greeting itself, in each language: well under 8 s.
        let prompts = crate::bundled::prompts().expect("bundled prompts");
        for l in [
            senim_media::prompts::Language::Kk,
            senim_media::prompts::Language::Ru,
        ] {
            let d = prompts
                .get("greeting-short", l)
                .expect("bundled")
                .duration();
            assert!(d < Duration::from_millis(7500), "{l:?}: {d:?}");
        }
    }

    fn settings(text: &str) -> Settings {
        Config::from_toml(text, Path::new("c.toml"))
            .and_then(|c| c.validate("c.toml"))
            .unwrap()
    }

    #[test]
    fn the_wrap_up_menus_prompts_must_exist_in_both_languages() {
        let ok = settings("");
        assert!(check_wrap_up_prompts(&ok, &load_prompts(&ok).unwrap()).is_ok());
        let bad = settings("[[wrap_up.kind]]\nid = \"legal-aid\"\ndigit = \"5\"\n");
        let e = check_wrap_up_prompts(&bad, &load_prompts(&bad).unwrap()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("prompt `wrap-up-legal-aid` is missing in kk")
                && text.contains("missing in ru"),
            "{text}"
        );
        let off = settings(
            "[wrap_up]\nmenu = false\n[[wrap_up.kind]]\nid = \"legal-aid\"\ndigit = \"5\"\n",
        );
        assert!(check_wrap_up_prompts(&off, &load_prompts(&off).unwrap()).is_ok());
    }
}
