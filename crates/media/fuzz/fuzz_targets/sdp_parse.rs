#![no_main]

use libfuzzer_sys::fuzz_target;
use senim_media::g711::Codec;
use senim_media::sdp;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(sd) = sdp::parse(&text) {
        if let Ok(n) = sdp::negotiate_offer(&sd, &Codec::ALL) {
            let ip = "192.0.2.1".parse().unwrap();
            let answer = sdp::build_answer_to_offer(&sd, ip, 4000, 1, 1, &n);
            // Our own answers always parse.
            assert!(sdp::parse(&answer).is_ok());
        }
        let _ = sdp::negotiate_answer(&sd, &[Codec::Pcma]);
    }
});
