#![no_main]

use libfuzzer_sys::fuzz_target;
use senim_media::prompts::{decode_wav_8k, silences};

// Any bytes as a prompt file: audio or an error naming the file, never a
// panic; what decodes is 8 kHz audio no longer than the limit.
fuzz_target!(|data: &[u8]| {
    if let Ok(pcm) = decode_wav_8k(data, std::path::Path::new("fuzz.wav")) {
        assert!(pcm.len() <= 8000 * 600 + 8000);
        let _ = silences(&pcm);
    }
});
