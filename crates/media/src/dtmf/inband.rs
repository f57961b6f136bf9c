//! In-band DTMF detection on 8 kHz linear audio.
//!
//! Design: the signal is cut into sub-blocks of 26 samples (3.25 ms). For each
//! sub-block the complex DFT value at the eight DTMF frequencies is accumulated
//! sample by sample (a table of cos/sin, 16 multiply-adds per sample), unless
//! the sub-block is quiet: below a gate 20 dB under a tone pair at the minimum
//! level its values are taken as zero and only its energy is counted (one
//! multiply-add per sample), so silence and the pauses of speech cost little. A window is
//! the last four sub-blocks (104 samples, 13 ms; the row frequencies 73 Hz apart
//! land near each other's first null), and its DFT values are the sub-block values
//! combined with a phase rotation, so a sliding window with a 26-sample hop costs
//! little more than non-overlapping blocks.
//!
//! Each window is classified (all of these must hold, ITU-T Q.24 style):
//! * minimum level of each tone,
//! * twist: the low (row) tone at most `normal_twist_db` above the high (column)
//!   tone, the column tone at most `reverse_twist_db` above the row tone,
//! * each tone dominant in its group by `relative_peak_db`,
//! * the pair carries at least `pair_ratio` of the window's total energy (this
//!   also rejects windows that are only partly filled by a tone, which is what
//!   makes the minimum duration sharp),
//! * second harmonics of the two tones at least `harmonic_db` below them,
//! * both halves of the window have similar energy (a steady tone).
//!
//! A digit is reported once when `confirm_windows` consecutive windows agree
//! (8 windows span 7 * 26 + 104 = 286 samples, about 36 ms of steady tone: 40 ms
//! tones are accepted, 30 ms tones are not). The same digit is reported again only
//! after `pause_windows` consecutive windows without it.

use super::digit::Digit;
use std::sync::OnceLock;

const SUB: usize = 26;
const SUBS: usize = 4;
const WINDOW: usize = SUB * SUBS;
const RATE: f32 = 8000.0;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Frequency hypotheses (relative offsets) tried for the two strongest tones, so a
/// generator that is off by the 1.5% Q.24 allows is not penalised by the long
/// window's narrow main lobe. The first entry is the nominal frequency.
const OFFSETS: [f32; 3] = [0.0, -0.01, 0.01];
/// Peak amplitude of a 0 dBm0 sine in 16-bit linear G.711 (mu-law +3.17 dBm0 = 32124).
const DBM0_PEAK: f32 = 22_300.0;

fn freqs() -> [f32; 8] {
    [
        ROWS[0], ROWS[1], ROWS[2], ROWS[3], COLS[0], COLS[1], COLS[2], COLS[3],
    ]
}

struct Tables {
    /// Per sample position in a sub-block: (cos, sin) of w*n for the 8 frequencies.
    sub: [[(f32, f32); 8]; SUB],
    /// Per frequency hypothesis, per sub-block index in a window: (cos, sin) of
    /// w'*SUB*i, where w' is the nominal frequency shifted by `OFFSETS[h]`.
    rot: [[[(f32, f32); 8]; SUBS]; OFFSETS.len()],
    /// Per sample position in a window: (cos, sin) of 2w*n (second harmonics),
    /// times a Hann window (so the nearby column tone does not leak in), times 2 (the
    /// Hann window's coherent gain is 0.5), to compare with unwindowed fundamentals.
    harm: [[(f32, f32); 8]; WINDOW],
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let f = freqs();
        let mut t = Tables {
            sub: [[(0.0, 0.0); 8]; SUB],
            rot: [[[(0.0, 0.0); 8]; SUBS]; OFFSETS.len()],
            harm: [[(0.0, 0.0); 8]; WINDOW],
        };
        for (k, &fk) in f.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * f64::from(fk) / f64::from(RATE);
            for n in 0..SUB {
                let a = w * n as f64;
                t.sub[n][k] = (a.cos() as f32, a.sin() as f32);
            }
            for (h, off) in OFFSETS.iter().enumerate() {
                for i in 0..SUBS {
                    let a = w * (1.0 + f64::from(*off)) * (SUB * i) as f64;
                    t.rot[h][i][k] = (a.cos() as f32, a.sin() as f32);
                }
            }
            for n in 0..WINDOW {
                let a = 2.0 * w * n as f64;
                let hann = 1.0 - (2.0 * std::f64::consts::PI * n as f64 / WINDOW as f64).cos();
                t.harm[n][k] = ((hann * a.cos()) as f32, (hann * a.sin()) as f32);
            }
        }
        t
    })
}

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Acceptance thresholds of the in-band detector. The defaults are tuned against
/// synthetic tones (G.711 round trip, noise) and speech prompts (talk-off tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InbandConfig {
    /// Minimum level of each of the two tones, in dBm0.
    pub min_tone_dbm0: f32,
    /// Maximum amount by which the row (low) tone may exceed the column tone, dB.
    pub normal_twist_db: f32,
    /// Maximum amount by which the column (high) tone may exceed the row tone, dB.
    pub reverse_twist_db: f32,
    /// Each tone must exceed the other tones of its group by this much, dB.
    pub relative_peak_db: f32,
    /// Minimum share of the window's energy carried by the tone pair (0..1).
    pub pair_ratio: f32,
    /// Second harmonics must be at least this far below their fundamental, dB.
    pub harmonic_db: f32,
    /// Maximum energy ratio between the two halves of a window, dB.
    pub stability_db: f32,
    /// Consecutive agreeing windows (26-sample hop) needed to report a digit.
    pub confirm_windows: u32,
    /// Consecutive windows without the digit needed before it can be reported again.
    pub pause_windows: u32,
}

impl Default for InbandConfig {
    fn default() -> Self {
        InbandConfig {
            min_tone_dbm0: -32.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            relative_peak_db: 8.0,
            pair_ratio: 0.87,
            harmonic_db: 20.0,
            stability_db: 3.0,
            confirm_windows: 8,
            pause_windows: 6,
        }
    }
}

/// Thresholds converted to the detector's internal units.
#[derive(Debug, Clone, Copy)]
struct Limits {
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    pair_ratio: f32,
    harmonic: f32,
    stability: f32,
    confirm: u32,
    pause: u32,
    /// A sub-block with less energy than this gets no DFT (its values are
    /// taken as zero): 20 dB below a tone pair at the minimum level.
    gate: f32,
}

impl Limits {
    fn new(c: &InbandConfig) -> Self {
        // A tone of peak amplitude A gives |X|^2 = (A * N / 2)^2.
        let a = DBM0_PEAK * 10f32.powf(c.min_tone_dbm0 / 20.0);
        let half_n = WINDOW as f32 / 2.0;
        Limits {
            min_power: (a * half_n) * (a * half_n),
            normal_twist: db_to_power(c.normal_twist_db),
            reverse_twist: db_to_power(c.reverse_twist_db),
            relative_peak: db_to_power(c.relative_peak_db),
            pair_ratio: c.pair_ratio,
            harmonic: db_to_power(-c.harmonic_db),
            stability: db_to_power(c.stability_db),
            confirm: c.confirm_windows.max(1),
            pause: c.pause_windows.max(1),
            // Two tones of amplitude a carry SUB * a^2 over a sub-block.
            gate: SUB as f32 * a * a / 100.0,
        }
    }
}

/// In-band DTMF detector for one 8 kHz audio stream (decode G.711 first).
/// Allocation-free; about 16 multiply-adds per sample plus a small per-window step.
#[derive(Clone)]
pub struct InbandDetector {
    limits: Limits,
    /// Energy of the current sub-block so far.
    acc_energy: f32,
    pos: usize,
    /// Completed sub-blocks (ring): DFT values and energies.
    subs: [[(f32, f32); 8]; SUBS],
    sub_energy: [f32; SUBS],
    sub_head: usize,
    sub_count: usize,
    /// The last WINDOW samples (ring), for the harmonic check.
    ring: [f32; WINDOW],
    ring_head: usize,
    candidate: Option<Digit>,
    run: u32,
    reported: Option<Digit>,
    misses: u32,
    longest_run: u32,
}

impl std::fmt::Debug for InbandDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InbandDetector")
            .field("candidate", &self.candidate)
            .field("run", &self.run)
            .field("reported", &self.reported)
            .finish_non_exhaustive()
    }
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    /// A detector with the default thresholds.
    pub fn new() -> Self {
        Self::with_config(InbandConfig::default())
    }

    /// A detector with custom thresholds.
    pub fn with_config(config: InbandConfig) -> Self {
        let _ = tables();
        InbandDetector {
            limits: Limits::new(&config),
            acc_energy: 0.0,
            pos: 0,
            subs: [[(0.0, 0.0); 8]; SUBS],
            sub_energy: [0.0; SUBS],
            sub_head: 0,
            sub_count: 0,
            ring: [0.0; WINDOW],
            ring_head: 0,
            candidate: None,
            run: 0,
            reported: None,
            misses: 0,
            longest_run: 0,
        }
    }

    /// Diagnostics: the longest run of consecutive windows that passed every
    /// per-window check for one digit (the digit is reported at `confirm_windows`).
    /// Talk-off tests use it to show the margin speech leaves.
    pub fn longest_run(&self) -> u32 {
        self.longest_run
    }

    /// Forget the signal history (e.g. after a gap in the stream).
    pub fn reset(&mut self) {
        let limits = self.limits;
        *self = InbandDetector {
            limits,
            ..Self::new()
        };
    }

    /// Feed audio. Returns the digit whose confirmation completed in this chunk; with
    /// 20 ms frames there is at most one. If a long chunk completes several, the
    /// first is returned; use [`push_each`](Self::push_each) to get all of them.
    pub fn push(&mut self, samples: &[i16]) -> Option<Digit> {
        let mut first = None;
        self.push_each(samples, |d| {
            if first.is_none() {
                first = Some(d);
            }
        });
        first
    }

    /// Feed audio and call `on_digit` for every digit found.
    pub fn push_each(&mut self, samples: &[i16], mut on_digit: impl FnMut(Digit)) {
        let t = tables();
        let mut rest = samples;
        // Bounded: each round takes at least one sample.
        while !rest.is_empty() {
            // The rest of the current sub-block, copied into the ring in one
            // slice: the ring holds whole sub-blocks and `ring_head` moves
            // with `pos`, so `ring_head - pos` is a sub-block's start.
            let take = (SUB - self.pos).min(rest.len());
            let (now, later) = rest.split_at(take);
            rest = later;
            let at = self.ring_head;
            match self.ring.get_mut(at..at + take) {
                Some(dst) => {
                    for (d, &s) in dst.iter_mut().zip(now) {
                        let x = f32::from(s);
                        *d = x;
                        self.acc_energy += x * x;
                    }
                }
                None => {
                    for (i, &s) in now.iter().enumerate() {
                        let x = f32::from(s);
                        self.ring[(at + i) % WINDOW] = x;
                        self.acc_energy += x * x;
                    }
                }
            }
            self.ring_head = (at + take) % WINDOW;
            self.pos += take;
            if self.pos == SUB {
                self.pos = 0;
                // A quiet sub-block (silence, line noise, the pauses of
                // speech) cannot be part of a window that holds a tone pair
                // at the minimum level: its DFT is skipped.
                self.subs[self.sub_head] = if self.acc_energy >= self.limits.gate {
                    self.sub_dft(t)
                } else {
                    [(0.0, 0.0); 8]
                };
                self.sub_energy[self.sub_head] = self.acc_energy;
                self.sub_head = (self.sub_head + 1) % SUBS;
                self.sub_count = (self.sub_count + 1).min(SUBS);
                self.acc_energy = 0.0;
                if self.sub_count == SUBS {
                    let w = self.classify_window(t);
                    if let Some(d) = self.decide(w) {
                        on_digit(d);
                    }
                }
            }
        }
    }

    /// The DFT values at the eight frequencies of the sub-block that just
    /// ended (the last SUB samples of the ring), in sample order.
    fn sub_dft(&self, t: &Tables) -> [(f32, f32); 8] {
        let mut acc = [(0f32, 0f32); 8];
        // Sub-blocks end on multiples of SUB in the ring, so the block is
        // one slice; the index form is kept for any other position.
        let start = (self.ring_head + WINDOW - SUB) % WINDOW;
        let add = |acc: &mut [(f32, f32); 8], n: usize, x: f32| {
            for (a, &(c, si)) in acc.iter_mut().zip(&t.sub[n]) {
                a.0 += x * c;
                a.1 -= x * si;
            }
        };
        match self.ring.get(start..start + SUB) {
            Some(block) => {
                for (n, &x) in block.iter().enumerate() {
                    add(&mut acc, n, x);
                }
            }
            None => {
                for n in 0..SUB {
                    add(&mut acc, n, self.ring[(start + n) % WINDOW]);
                }
            }
        }
        acc
    }

    fn classify_window(&self, t: &Tables) -> Option<Digit> {
        let l = &self.limits;
        let energy: f32 = self.sub_energy.iter().sum();
        // No tone reaches the minimum level in a window with less energy
        // than this (|X|^2 <= N * energy at any frequency).
        if energy * (WINDOW as f32) < l.min_power {
            return None;
        }
        let mut power = [0f32; 8];
        for (k, p) in power.iter_mut().enumerate() {
            *p = self.window_power(t, 0, k);
        }
        let (r, pr0) = best(&power[..4]);
        let (c, pc0) = best(&power[4..]);
        if pr0 < l.min_power * 0.25 || pc0 < l.min_power * 0.25 {
            return None;
        }
        // Refine the two strongest tones over the frequency hypotheses.
        let refine = |k: usize, p0: f32| {
            (1..OFFSETS.len()).fold(p0, |m, h| m.max(self.window_power(t, h, k)))
        };
        let pr = refine(r, pr0);
        let pc = refine(4 + c, pc0);
        if pr < l.min_power || pc < l.min_power {
            return None;
        }
        if pr > pc * l.normal_twist || pc > pr * l.reverse_twist {
            return None;
        }
        let dominant = |group: &[f32], b: usize, pb: f32| {
            group
                .iter()
                .enumerate()
                .all(|(i, &p)| i == b || p * l.relative_peak <= pb)
        };
        if !dominant(&power[..4], r, pr) || !dominant(&power[4..], c, pc) {
            return None;
        }
        // Energy of a tone is 2 |X|^2 / N.
        let pair = 2.0 * (pr + pc) / WINDOW as f32;
        if pair < l.pair_ratio * energy {
            return None;
        }
        let e_first = self.sub_energy[self.sub_head] + self.sub_energy[(self.sub_head + 1) % SUBS];
        let e_second = self.sub_energy[(self.sub_head + 2) % SUBS]
            + self.sub_energy[(self.sub_head + 3) % SUBS];
        if e_first > e_second * l.stability || e_second > e_first * l.stability {
            return None;
        }
        // Second harmonics (Hann-windowed). The row harmonic (1394-1882 Hz) is
        // skipped when it lies within the Hann main lobe (160 Hz) of the column tone.
        let hc = self.harmonic_power(t, 4 + c);
        if hc > pc * l.harmonic {
            return None;
        }
        if (2.0 * ROWS[r] - COLS[c]).abs() > 160.0 {
            let hr = self.harmonic_power(t, r);
            if hr > pr * l.harmonic {
                return None;
            }
        }
        Digit::from_char(KEYS[r][c])
    }

    /// |X|^2 of the window at frequency `k` shifted by hypothesis `h`: the
    /// sub-block DFT values combined with a phase rotation.
    fn window_power(&self, t: &Tables, h: usize, k: usize) -> f32 {
        let (mut re, mut im) = (0f32, 0f32);
        for i in 0..SUBS {
            let (sr, si) = self.subs[(self.sub_head + i) % SUBS][k];
            let (c, s) = t.rot[h][i][k];
            // (sr + j si) * (c - j s)
            re += sr * c + si * s;
            im += si * c - sr * s;
        }
        re * re + im * im
    }

    fn harmonic_power(&self, t: &Tables, k: usize) -> f32 {
        let (mut re, mut im) = (0f32, 0f32);
        for n in 0..WINDOW {
            let x = self.ring[(self.ring_head + n) % WINDOW];
            let (c, s) = t.harm[n][k];
            re += x * c;
            im -= x * s;
        }
        re * re + im * im
    }

    fn decide(&mut self, w: Option<Digit>) -> Option<Digit> {
        if w.is_some() && w == self.candidate {
            self.run = self.run.saturating_add(1);
            self.longest_run = self.longest_run.max(self.run);
        } else {
            self.candidate = w;
            self.run = u32::from(w.is_some());
        }
        if let Some(rep) = self.reported {
            if w == Some(rep) {
                self.misses = 0;
            } else {
                self.misses = self.misses.saturating_add(1);
                if self.misses >= self.limits.pause {
                    self.reported = None;
                }
            }
        }
        match self.candidate {
            Some(d) if self.run >= self.limits.confirm && self.reported != Some(d) => {
                self.reported = Some(d);
                self.misses = 0;
                Some(d)
            }
            _ => None,
        }
    }
}

fn best(p: &[f32]) -> (usize, f32) {
    let mut b = (0, f32::MIN);
    for (i, &v) in p.iter().enumerate() {
        if v > b.1 {
            b = (i, v);
        }
    }
    b
}

/// Frequencies (row, column) in Hz of a key, for generating test tones.
pub fn tone_frequencies(digit: Digit) -> (f32, f32) {
    for (r, row) in KEYS.iter().enumerate() {
        for (c, &k) in row.iter().enumerate() {
            if k == digit.as_char() {
                return (ROWS[r], COLS[c]);
            }
        }
    }
    (0.0, 0.0)
}

/// Peak amplitude (16-bit linear) of a sine at `dbm0`.
pub fn dbm0_to_amplitude(dbm0: f32) -> f32 {
    DBM0_PEAK * 10f32.powf(dbm0 / 20.0)
}
