//! Which prompts a test caller heard: every 20 ms frame Senim sends is a
//! frame of a prompt, encoded once at start, so a frame received is looked
//! up among the prompts' frames. Frames of silence and of fades match
//! nothing and are skipped; a prompt counts as heard after a fifth of a
//! second of its own frames.

use std::collections::HashMap;

use senim_media::prompts::{Language, PromptLibrary};
use senim_media::Codec;

/// Frames of a prompt received in a row before it counts as heard.
const HEARD_AFTER: u32 = 10;

/// A prompt in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptHeard {
    pub id: String,
    pub language: Language,
}

/// The frames of every prompt in one codec.
pub struct PromptIndex {
    codec: Codec,
    frames: HashMap<Vec<u8>, usize>,
    prompts: Vec<PromptHeard>,
}

impl PromptIndex {
    /// Index `library` as Senim sends it in `codec`.
    pub fn new(library: &PromptLibrary, codec: Codec) -> PromptIndex {
        let mut frames = HashMap::new();
        let mut prompts = Vec::new();
        for id in library.ids() {
            for language in Language::ALL {
                let Some(prompt) = library.get(id, language) else {
                    continue;
                };
                let n = prompts.len();
                prompts.push(PromptHeard {
                    id: id.to_string(),
                    language,
                });
                for i in 0..prompt.frame_count() {
                    let Some(frame) = prompt.frame(codec, i) else {
                        break;
                    };
                    if distinct(frame) {
                        frames.entry(frame.to_vec()).or_insert(n);
                    }
                }
            }
        }
        PromptIndex {
            codec,
            frames,
            prompts,
        }
    }

    /// The codec indexed.
    pub fn codec(&self) -> Codec {
        self.codec
    }
}

/// A frame with some sound in it: at least a few different bytes (silence
/// and near-silence are shared by every prompt).
fn distinct(frame: &[u8]) -> bool {
    let mut seen = [false; 256];
    let mut n = 0;
    for &b in frame {
        if !seen[usize::from(b)] {
            seen[usize::from(b)] = true;
            n += 1;
        }
    }
    n >= 8
}

/// The prompts heard so far, in order.
pub struct Heard<'a> {
    index: &'a PromptIndex,
    current: Option<(usize, u32)>,
    /// Audio frames received, matched or not.
    pub frames: u64,
}

impl<'a> Heard<'a> {
    pub fn new(index: &'a PromptIndex) -> Self {
        Heard {
            index,
            current: None,
            frames: 0,
        }
    }

    /// One frame of audio received: the prompt it completes the hearing
    /// of, if any (each prompt once per hearing).
    pub fn frame(&mut self, payload: &[u8]) -> Option<PromptHeard> {
        self.frames += 1;
        let n = *self.index.frames.get(payload)?;
        let count = match self.current {
            Some((current, count)) if current == n => count + 1,
            _ => 1,
        };
        self.current = Some((n, count));
        (count == HEARD_AFTER).then(|| self.index.prompts[n].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_greeting_is_recognised_and_silence_is_not() {
        let Ok(library) = crate::bundled::prompts() else {
            panic!("the bundled prompts load");
        };
        let index = PromptIndex::new(&library, Codec::Pcmu);
        let mut heard = Heard::new(&index);
        assert_eq!(heard.frame(&[0xFF; 160]), None);
        let Some(greeting) = library.get("greeting-bilingual", Language::Kk) else {
            panic!("the greeting is bundled");
        };
        let mut got = Vec::new();
        for i in 0..greeting.frame_count() {
            if let Some(p) = greeting.frame(Codec::Pcmu, i).and_then(|f| heard.frame(f)) {
                got.push(p);
            }
        }
        assert_eq!(
            got,
            vec![PromptHeard {
                id: "greeting-bilingual".into(),
                language: Language::Kk
            }]
        );
    }
}
