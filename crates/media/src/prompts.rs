//! Voice prompts: loaded once at start-up from `voice-prompts/`, converted to 8 kHz,
//! encoded once in both G.711 codecs as 20 ms frames, and shared by all calls.

use crate::g711::{Codec, SAMPLES_PER_FRAME};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

mod silence;
mod wav;

pub use silence::{silences, Silences, SILENCE_WARNING};
pub use wav::{decode_wav_8k, load_wav_8k};

/// Output sample rate of every prompt.
pub const SAMPLE_RATE: u32 = 8000;
/// Longest accepted prompt file, in seconds (a guard against corrupt headers).
pub const MAX_SECONDS: u32 = 600;

/// A caller's language.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Kazakh.
    Kk,
    /// Russian.
    Ru,
}

impl Language {
    /// Every language Senim speaks.
    pub const ALL: [Language; 2] = [Language::Kk, Language::Ru];

    /// `"kk"` or `"ru"` (also the prompt sub-directory).
    pub fn code(self) -> &'static str {
        match self {
            Language::Kk => "kk",
            Language::Ru => "ru",
        }
    }

    /// The language for a code, case-insensitive.
    pub fn from_code(s: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(s.trim()))
    }
}

/// Errors while loading prompts. Every variant names the file.
#[derive(Debug, Error)]
pub enum PromptError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not valid TOML or does not match the expected shape.
    #[error("{path}:{line}:{column}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// 1-based column of the error (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The same prompt id appears twice in the manifest.
    #[error("{path}: prompt id {id:?} appears more than once")]
    DuplicateId {
        /// The manifest file.
        path: PathBuf,
        /// The repeated id.
        id: String,
    },
    /// A prompt id that cannot be a file name.
    #[error("{path}: invalid prompt id {id:?} (use letters, digits, '-' and '_')")]
    InvalidId {
        /// The manifest file.
        path: PathBuf,
        /// The bad id.
        id: String,
    },
    /// The WAV file is missing, unreadable or malformed.
    #[error("{path}: {source}")]
    Wav {
        /// The WAV file.
        path: PathBuf,
        /// The decoder's error.
        source: hound::Error,
    },
    /// The WAV file is readable but not usable (rate, length, channels).
    #[error("{path}: {message}")]
    Format {
        /// The WAV file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Several of the above, every fault found (one per line).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<PromptError>),
    /// Resampling to 8 kHz failed.
    #[error("{path}: resampling to 8 kHz failed: {message}")]
    Resample {
        /// The WAV file.
        path: PathBuf,
        /// The resampler's message.
        message: String,
    },
}

/// `voice-prompts/prompts.toml`. Unknown keys (e.g. `[[prompt.part]]`, used only by
/// `scripts/make-prompts`) are ignored; a manifest without any `[[prompt]]` is an error.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PromptManifest {
    /// One entry per prompt id.
    pub prompt: Vec<PromptText>,
}

/// The texts of one prompt, for the announcer (and the placeholder generator).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PromptText {
    /// Prompt id, also the WAV file name without `.wav`.
    pub id: String,
    /// Kazakh text.
    pub kk: String,
    /// Russian text.
    pub ru: String,
    /// Notes for the announcer.
    #[serde(default)]
    pub notes: String,
}

impl PromptText {
    /// The text in a language.
    pub fn text(&self, language: Language) -> &str {
        match language {
            Language::Kk => &self.kk,
            Language::Ru => &self.ru,
        }
    }
}

/// One prompt in one language: 8 kHz PCM and 20 ms frames (160 bytes) pre-encoded in
/// both codecs; the last frame is padded with silence.
#[derive(Debug)]
pub struct Prompt {
    id: String,
    language: Language,
    samples: Vec<i16>,
    pcmu: Bytes,
    pcma: Bytes,
}

impl Prompt {
    /// Build a prompt from 8 kHz mono PCM.
    pub fn from_samples(id: impl Into<String>, language: Language, samples: Vec<i16>) -> Prompt {
        let frames = samples.len().div_ceil(SAMPLES_PER_FRAME);
        let encode = |codec: Codec| {
            let mut out = vec![codec.silence_byte(); frames * SAMPLES_PER_FRAME];
            codec.encode(&samples, &mut out);
            Bytes::from(out)
        };
        Prompt {
            id: id.into(),
            language,
            pcmu: encode(Codec::Pcmu),
            pcma: encode(Codec::Pcma),
            samples,
        }
    }

    /// The prompt id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The prompt's language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Number of 20 ms frames (the audio length rounded up).
    pub fn frame_count(&self) -> usize {
        self.pcmu.len() / SAMPLES_PER_FRAME
    }

    /// Frame `index` (160 bytes) in `codec`, or `None` past the end.
    pub fn frame(&self, codec: Codec, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(SAMPLES_PER_FRAME)?;
        self.encoded(codec).get(start..start + SAMPLES_PER_FRAME)
    }

    /// Frame `index` as a shared `Bytes` handle (no copy, no allocation).
    pub fn frame_bytes(&self, codec: Codec, index: usize) -> Option<Bytes> {
        let start = index.checked_mul(SAMPLES_PER_FRAME)?;
        let all = self.encoded(codec);
        (start + SAMPLES_PER_FRAME <= all.len())
            .then(|| all.slice(start..start + SAMPLES_PER_FRAME))
    }

    fn encoded(&self, codec: Codec) -> &Bytes {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }

    /// Length of the audio (not rounded up to whole frames).
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
    }

    /// The 8 kHz PCM samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }
}

/// A tone generated in code (e.g. the voicemail beep): `freq_hz` for `millis` ms at
/// -10 dBm0, with 5 ms fades. Its language is nominal ([`Language::Kk`]); it is the
/// same in every language.
pub fn beep(id: &str, freq_hz: f32, millis: u32) -> Prompt {
    let n = (millis as usize) * (SAMPLE_RATE as usize) / 1000;
    let amplitude = crate::dtmf::dbm0_to_amplitude(-10.0);
    let fade = 40usize;
    let samples = (0..n)
        .map(|i| {
            let ramp = (i.min(n - 1 - i).min(fade) as f32) / fade as f32;
            let phase = 2.0 * std::f32::consts::PI * freq_hz * i as f32 / SAMPLE_RATE as f32;
            (amplitude * ramp * phase.sin()) as i16
        })
        .collect();
    Prompt::from_samples(id, Language::Kk, samples)
}

/// All prompts, loaded once; cheap to share (`Arc<Prompt>`).
#[derive(Debug)]
pub struct PromptLibrary {
    manifest: PromptManifest,
    prompts: BTreeMap<(String, Language), Arc<Prompt>>,
    /// The folder the prompts came from, for messages.
    dir: PathBuf,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl PromptLibrary {
    /// Read `dir/prompts.toml` and, for every id and every language,
    /// `dir/<lang>/<id>.wav`. Any missing or unreadable file or a bad manifest is an
    /// error naming the path (and, for the manifest, the line and column).
    pub fn load(dir: &Path) -> Result<PromptLibrary, PromptError> {
        let path = dir.join("prompts.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| PromptError::Io {
            path: path.clone(),
            source,
        })?;
        let library = Self::load_with(&path, &text, |language, id| {
            load_wav_8k(&dir.join(language.code()).join(format!("{id}.wav")))
        })?;
        tracing::info!(dir = %dir.display(), prompts = library.manifest.prompt.len(), "prompts loaded");
        Ok(library)
    }

    /// Build the library from prompts kept in memory (for example embedded in
    /// the binary): `manifest` is the text of `prompts.toml` and `file` gives
    /// the bytes of `<lang>/<id>.wav`. `dir` is only used in messages.
    pub fn from_memory<'a>(
        dir: &Path,
        manifest: &str,
        file: impl Fn(Language, &str) -> Option<&'a [u8]>,
    ) -> Result<PromptLibrary, PromptError> {
        Self::load_with(&dir.join("prompts.toml"), manifest, |language, id| {
            let path = dir.join(language.code()).join(format!("{id}.wav"));
            match file(language, id) {
                Some(bytes) => decode_wav_8k(std::io::Cursor::new(bytes), &path),
                None => Err(PromptError::Io {
                    path,
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "not bundled"),
                }),
            }
        })
    }

    /// The manifest's prompts, each in every language, read by `wav`.
    /// Every fault is reported, not only the first.
    fn load_with(
        path: &Path,
        text: &str,
        wav: impl Fn(Language, &str) -> Result<Vec<i16>, PromptError>,
    ) -> Result<PromptLibrary, PromptError> {
        let manifest = Self::parse_manifest(path, text)?;
        let mut prompts = BTreeMap::new();
        let mut faults = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for p in &manifest.prompt {
            if !valid_id(&p.id) {
                faults.push(PromptError::InvalidId {
                    path: path.to_path_buf(),
                    id: p.id.clone(),
                });
                continue;
            }
            if !seen.insert(p.id.as_str()) {
                faults.push(PromptError::DuplicateId {
                    path: path.to_path_buf(),
                    id: p.id.clone(),
                });
                continue;
            }
            for language in Language::ALL {
                match wav(language, &p.id) {
                    Ok(samples) => {
                        prompts.insert(
                            (p.id.clone(), language),
                            Arc::new(Prompt::from_samples(p.id.clone(), language, samples)),
                        );
                    }
                    Err(e) => faults.push(e),
                }
            }
        }
        match faults.len() {
            0 => Ok(PromptLibrary {
                manifest,
                prompts,
                dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            }),
            1 => Err(faults.remove(0)),
            _ => Err(PromptError::Several(faults)),
        }
    }

    /// Prompts with more than half a second of silence at either end, as
    /// `file: what` lines (for `senim check`).
    pub fn silence_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ((id, language), prompt) in &self.prompts {
            let s = silences(prompt.samples());
            if !s.too_long() {
                continue;
            }
            let file = self.dir.join(language.code()).join(format!("{id}.wav"));
            let mut parts = Vec::new();
            if s.leading > SILENCE_WARNING {
                parts.push(format!(
                    "{:.1} s of silence before the first sound",
                    s.leading.as_secs_f64()
                ));
            }
            if s.trailing > SILENCE_WARNING {
                parts.push(format!(
                    "{:.1} s of silence after the last sound",
                    s.trailing.as_secs_f64()
                ));
            }
            out.push(format!(
                "{}: {} (over {} s: trim it in the audio editor)",
                file.display(),
                parts.join(" and "),
                SILENCE_WARNING.as_secs_f64()
            ));
        }
        out
    }

    /// Parse a manifest's text; errors carry `path:line:column`.
    pub fn parse_manifest(path: &Path, text: &str) -> Result<PromptManifest, PromptError> {
        toml::from_str::<PromptManifest>(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| line_column(text, span.start));
            PromptError::Manifest {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })
    }

    /// The prompt `id` in `language`.
    pub fn get(&self, id: &str, language: Language) -> Option<Arc<Prompt>> {
        self.prompts.get(&(id.to_string(), language)).cloned()
    }

    /// Every prompt id, in manifest order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.manifest.prompt.iter().map(|p| p.id.as_str())
    }

    /// The manifest (texts and notes).
    pub fn manifest(&self) -> &PromptManifest {
        &self.manifest
    }
}
