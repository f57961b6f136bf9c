//! Fuzz the parser, the framer, the stateless 400 builder and the transaction layer.
//! Run: `cd crates/sip/fuzz && cargo +nightly fuzz run parse` (seeds in corpus/parse).
#![no_main]
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use senim_sip::message::{self, Peer};
use senim_sip::transaction::{TimerConfig, TransactionLayer};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = message::parse(data) {
        // Whatever parses must print and parse again with the same body.
        let wire = message::to_bytes(&msg);
        let again = message::parse(&wire).expect("printed message must parse");
        assert_eq!(again.body(), msg.body());
    }
    let _ = message::frame_len(data);
    let _ = message::bad_request_for_raw(data, "fuzz");

    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let peer = Peer::udp("192.0.2.10:5060".parse().expect("literal address"));
    layer.handle_bytes(t0, data, peer);
    // The same bytes again: the retransmission path.
    layer.handle_bytes(t0 + Duration::from_millis(500), data, peer);
    layer.handle_timeout(t0 + Duration::from_secs(64));
    while layer.poll_transmit().is_some() {}
    while layer.poll_event().is_some() {}
});
