//! The prompts and the default dialplan embedded in the binary at build time
//! (see `build.rs`): the defaults when no folder or file is configured.

use std::path::Path;

use senim_media::prompts::{PromptError, PromptLibrary};

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// Where messages say the bundled prompts come from.
pub const PROMPTS_NAME: &str = "voice-prompts (bundled)";
/// Where messages say the bundled dialplan comes from.
pub const DIALPLAN_NAME: &str = "dialplans/centre.xml (bundled)";

/// The bundled prompt library.
pub fn prompts() -> Result<PromptLibrary, PromptError> {
    PromptLibrary::from_memory(Path::new(PROMPTS_NAME), PROMPTS_MANIFEST, |language, id| {
        let code = language.code();
        PROMPT_FILES
            .iter()
            .find(|(l, i, _)| *l == code && *i == id)
            .map(|(_, _, bytes)| *bytes)
    })
}
