//! Prompt files as studios deliver them, read into 8 kHz mono 16-bit PCM:
//! WAV in integer PCM of any depth (1 to 32 bits), 32-bit float, µ-law or
//! A-law (format tags 7 and 6, plain or as WAVE_FORMAT_EXTENSIBLE), at any
//! rate, with any number of channels (averaged).
//!
//! hound reads PCM and float; it does not read G.711, so those files are
//! taken apart here (the RIFF chunks are simple) and decoded with Senim's
//! own G.711 tables.

use std::io::Read;
use std::path::Path;

use super::{PromptError, MAX_SECONDS, SAMPLE_RATE};
use crate::g711::{alaw_decode, ulaw_decode};

/// The largest prompt file read: 600 s of 32-bit 8-channel audio at 48 kHz
/// is well under it; anything larger is a corrupt or wrong file.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Read a prompt file and return 8 kHz mono 16-bit PCM. Resampling uses
/// rubato's sinc resampler and is skipped at 8 kHz.
pub fn load_wav_8k(path: &Path) -> Result<Vec<i16>, PromptError> {
    let file = std::fs::File::open(path).map_err(|source| PromptError::Wav {
        path: path.to_path_buf(),
        source: hound::Error::IoError(source),
    })?;
    decode_wav_8k(std::io::BufReader::new(file), path)
}

/// As [`load_wav_8k`], from any reader; `path` is only used in messages.
pub fn decode_wav_8k<R: Read>(input: R, path: &Path) -> Result<Vec<i16>, PromptError> {
    let format_err = |message: String| PromptError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut bytes = Vec::new();
    input
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| PromptError::Wav {
            path: path.to_path_buf(),
            source: hound::Error::IoError(source),
        })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format_err(format!(
            "larger than {MAX_FILE_BYTES} bytes: not a prompt"
        )));
    }
    let audio = match g711_wav(&bytes).map_err(format_err)? {
        Some(audio) => audio,
        None => pcm_wav(&bytes, path)?,
    };
    to_8k_mono(audio, path)
}

/// Interleaved samples in [-1, 1] with their rate and channel count.
struct Audio {
    rate: u32,
    channels: usize,
    interleaved: Vec<f32>,
}

/// Which G.711 law a WAV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Law {
    Mu,
    A,
}

const WAVE_FORMAT_ALAW: u16 = 6;
const WAVE_FORMAT_MULAW: u16 = 7;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// The chunks of a RIFF/WAVE file: (id, body), bounded by the file.
fn chunks(bytes: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 12usize;
    // A WAV file has a handful of chunks; 64 is far more than any real one.
    for _ in 0..64 {
        let Some(head) = bytes.get(at..at + 8) else {
            break;
        };
        let id: [u8; 4] = head[0..4].try_into().ok()?;
        let size = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
        let start = at + 8;
        // A data chunk cut short (a file still being written, or a size of
        // 0xFFFFFFFF from a streaming recorder) is read up to the file's end.
        let end = start.saturating_add(size).min(bytes.len());
        out.push((id, &bytes[start..end]));
        at = end.saturating_add(size & 1);
    }
    Some(out)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A µ-law or A-law WAV file decoded; `Ok(None)` for any other file (left
/// to hound, which names what is wrong with it).
fn g711_wav(bytes: &[u8]) -> Result<Option<Audio>, String> {
    let Some(chunks) = chunks(bytes) else {
        return Ok(None);
    };
    let Some((_, fmt)) = chunks.iter().find(|(id, _)| id == b"fmt ") else {
        return Ok(None);
    };
    let Some(tag) = u16_at(fmt, 0) else {
        return Ok(None);
    };
    // WAVE_FORMAT_EXTENSIBLE keeps the real format in the first two bytes of
    // its sub-format GUID, at offset 24 of the fmt chunk.
    let tag = if tag == WAVE_FORMAT_EXTENSIBLE {
        u16_at(fmt, 24).unwrap_or(tag)
    } else {
        tag
    };
    let law = match tag {
        WAVE_FORMAT_MULAW => Law::Mu,
        WAVE_FORMAT_ALAW => Law::A,
        _ => return Ok(None),
    };
    let channels = usize::from(u16_at(fmt, 2).unwrap_or(0));
    let rate = u32_at(fmt, 4).unwrap_or(0);
    let bits = u16_at(fmt, 14).unwrap_or(0);
    if bits != 8 {
        return Err(format!(
            "{} WAV with {bits} bits per sample; G.711 has 8",
            law_name(law)
        ));
    }
    if channels == 0 {
        return Err("WAV file has zero channels".into());
    }
    let Some((_, data)) = chunks.iter().find(|(id, _)| id == b"data") else {
        return Err(format!("{} WAV file without a data chunk", law_name(law)));
    };
    let decode = match law {
        Law::Mu => ulaw_decode,
        Law::A => alaw_decode,
    };
    let interleaved = data
        .iter()
        .map(|&b| f32::from(decode(b)) / 32768.0)
        .collect();
    Ok(Some(Audio {
        rate,
        channels,
        interleaved,
    }))
}

fn law_name(law: Law) -> &'static str {
    match law {
        Law::Mu => "µ-law",
        Law::A => "A-law",
    }
}

/// A PCM or float WAV file, read by hound.
fn pcm_wav(bytes: &[u8], path: &Path) -> Result<Audio, PromptError> {
    let wav_err = |source| PromptError::Wav {
        path: path.to_path_buf(),
        source,
    };
    let format_err = |message: String| PromptError::Format {
        path: path.to_path_buf(),
        message,
    };
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(wav_err)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => {
            if spec.bits_per_sample != 32 {
                return Err(format_err(format!(
                    "unsupported float width {} bits",
                    spec.bits_per_sample
                )));
            }
            reader
                .into_samples::<f32>()
                .map(|s| {
                    s.map(|v| {
                        if v.is_finite() {
                            v.clamp(-1.0, 1.0)
                        } else {
                            0.0
                        }
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(wav_err)?
        }
        hound::SampleFormat::Int => {
            let bits = spec.bits_per_sample;
            if !(1..=32).contains(&bits) {
                return Err(format_err(format!("unsupported integer width {bits} bits")));
            }
            let scale = 1.0 / (2f64.powi(i32::from(bits) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(wav_err)?
        }
    };
    Ok(Audio {
        rate: spec.sample_rate,
        channels,
        interleaved,
    })
}

/// Check rate, channels and length; average the channels; resample to 8 kHz.
fn to_8k_mono(audio: Audio, path: &Path) -> Result<Vec<i16>, PromptError> {
    let format_err = |message: String| PromptError::Format {
        path: path.to_path_buf(),
        message,
    };
    let Audio {
        rate,
        channels,
        interleaved,
    } = audio;
    if channels == 0 {
        return Err(format_err("WAV file has zero channels".into()));
    }
    if !(1000..=768_000).contains(&rate) {
        return Err(format_err(format!("unsupported sample rate {rate} Hz")));
    }
    let frames = interleaved.len() / channels;
    if frames as u64 / u64::from(rate) > u64::from(MAX_SECONDS) {
        return Err(format_err(format!(
            "longer than {MAX_SECONDS} s ({frames} frames at {rate} Hz)"
        )));
    }
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    let resampled = if rate == SAMPLE_RATE || mono.is_empty() {
        mono
    } else {
        resample(&mono, rate).map_err(|message| PromptError::Resample {
            path: path.to_path_buf(),
            message,
        })?
    };
    Ok(resampled
        .into_iter()
        .map(|v| (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

fn resample(mono: &[f32], rate_in: u32) -> Result<Vec<f32>, String> {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Async, FixedAsync, Resampler, SincInterpolationParameters, WindowFunction};
    let ratio = f64::from(SAMPLE_RATE) / f64::from(rate_in);
    let params = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2);
    let mut resampler = Async::<f32>::new_sinc(ratio, 1.0, &params, 1024, 1, FixedAsync::Input)
        .map_err(|e| e.to_string())?;
    let input = InterleavedSlice::new(mono, 1, mono.len()).map_err(|e| e.to_string())?;
    let out = resampler
        .process_all(&input, mono.len(), None)
        .map_err(|e| e.to_string())?;
    Ok(out.take_data())
}

#[cfg(test)]
mod tests;
