//! Silence at the ends of a prompt: half a second of it before the first
//! word sounds to a frightened caller like a dead line, and after the last
//! word it delays every menu. `senim check` reports both.

use std::time::Duration;

use super::SAMPLE_RATE;

/// More silence than this at either end of a prompt is reported.
pub const SILENCE_WARNING: Duration = Duration::from_millis(500);

/// Windows of 10 ms are judged one by one.
const WINDOW: usize = (SAMPLE_RATE as usize) / 100;

/// A window whose RMS is under -45 dBFS is silence (studio noise floors are
/// well under it; the quietest speech is well over it).
const SILENT_RMS: f64 = 32768.0 * 0.005_623; // 10^(-45/20)

/// The silence at the start and at the end of a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Silences {
    /// Before the first sound.
    pub leading: Duration,
    /// After the last sound.
    pub trailing: Duration,
}

impl Silences {
    /// Either end over [`SILENCE_WARNING`].
    pub fn too_long(&self) -> bool {
        self.leading > SILENCE_WARNING || self.trailing > SILENCE_WARNING
    }
}

fn silent(window: &[i16]) -> bool {
    let sum: f64 = window.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / window.len().max(1) as f64).sqrt() < SILENT_RMS
}

/// Measure the silence at both ends of 8 kHz PCM, to 10 ms. An all-silent
/// prompt is all leading silence.
pub fn silences(samples: &[i16]) -> Silences {
    let windows: Vec<&[i16]> = samples.chunks(WINDOW).collect();
    let lead = windows.iter().take_while(|w| silent(w)).count();
    let trail = if lead == windows.len() {
        0
    } else {
        windows.iter().rev().take_while(|w| silent(w)).count()
    };
    let ms = |n: usize| Duration::from_millis(n as u64 * 10);
    Silences {
        leading: ms(lead),
        trailing: ms(trail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: usize) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| (8000.0 * (i as f64 * 0.3).sin()) as i16)
            .collect()
    }

    #[test]
    fn silence_at_each_end_is_measured() {
        let mut samples = vec![0i16; 8 * 700];
        samples.extend(tone(1000));
        samples.extend(vec![3i16; 8 * 200]);
        let s = silences(&samples);
        assert_eq!(s.leading, Duration::from_millis(700));
        assert_eq!(s.trailing, Duration::from_millis(200));
        assert!(s.too_long());
        let s = silences(&tone(300));
        assert_eq!(s, Silences::default());
        assert!(!s.too_long());
        let s = silences(&[0; 8000]);
        assert_eq!(
            (s.leading, s.trailing),
            (Duration::from_secs(1), Duration::ZERO)
        );
    }
}
