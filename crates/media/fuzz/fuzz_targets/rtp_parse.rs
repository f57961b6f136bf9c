#![no_main]

use libfuzzer_sys::fuzz_target;
use senim_media::dtmf::Rfc4733Receiver;
use senim_media::rtp;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, payload)) = rtp::parse(data) {
        assert!(payload.len() + 12 <= data.len());
        let mut r = Rfc4733Receiver::new();
        let _ = r.handle(header.timestamp, payload);
        // Re-writing the header and payload gives a packet that parses the same way.
        let mut buf = vec![0u8; 12 + payload.len()];
        header.write(&mut buf);
        buf[12..].copy_from_slice(payload);
        let (h2, p2) = rtp::parse(&buf).unwrap();
        assert_eq!(h2, header);
        assert_eq!(p2, payload);
    }
});
