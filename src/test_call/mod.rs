//! `senim call`: a test call to a running Senim, for the operator's first
//! minutes and every check after a change. It calls over UDP from loopback
//! (or the address that reaches Senim), listens, presses the keys it is
//! given, and says what it heard: each prompt by name, recognised from the
//! audio Senim sends. The call itself is a sans-IO state machine
//! ([`machine::TestCall`]); this module is its sockets and clock.

pub mod heard;
pub mod machine;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use senim_media::prompts::PromptLibrary;
use senim_media::Codec;
use tokio::net::UdpSocket;

use self::heard::{Heard, PromptIndex};
use self::machine::{Note, Outcome, Output, Setup, TestCall};

/// Why a test call could not be made or did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TestCallError {
    /// A socket could not be opened or used.
    #[error("{0}")]
    Socket(#[from] std::io::Error),
    /// Senim did not answer, refused, or answered with something unusable.
    #[error("{0}")]
    NotAnswered(String),
    /// The call went through but no audio came back.
    #[error(
        "answered, but no audio came from Senim (RTP blocked by a firewall, or [media] ip wrong?)"
    )]
    Silent,
}

/// What the call heard, for the summary.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub prompts: Vec<String>,
    pub audio: Duration,
}

/// Place the call and print what happens as it happens.
pub async fn run(
    target: SocketAddr,
    keys: Vec<senim_media::dtmf::Digit>,
    listen: Duration,
    prompts: &PromptLibrary,
) -> Result<Summary, TestCallError> {
    let any: IpAddr = if target.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    // Bind to the address that reaches Senim (loopback for a local Senim).
    let probe = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    probe.connect(target)?;
    let ip = probe.local_addr()?.ip();
    let sip = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let setup = Setup {
        target,
        local_sip: sip.local_addr()?,
        local_rtp: rtp.local_addr()?,
        from_user: "senim-call".into(),
        keys: keys.clone(),
        listen,
    };
    println!("calling sip:senim@{target} from {}", setup.local_sip);
    let started = Instant::now();
    let mut call = TestCall::start(started, setup);
    let pcmu = PromptIndex::new(prompts, Codec::Pcmu);
    let pcma = PromptIndex::new(prompts, Codec::Pcma);
    let mut heard_u = Heard::new(&pcmu);
    let mut heard_a = Heard::new(&pcma);
    let mut summary = Summary::default();
    // Bounded in time: the longest call is the answer wait (Timer B, 32 s),
    // every pause, the keys and the BYE.
    let limit = started
        + Duration::from_secs(70)
        + listen.saturating_mul(u32::try_from(keys.len() + 1).unwrap_or(u32::MAX));
    let mut sip_buf = vec![0u8; 65_535];
    let mut rtp_buf = vec![0u8; 2048];
    while call.outcome().is_none() && Instant::now() < limit {
        while let Some(o) = call.poll_output() {
            match o {
                Output::Sip { to, data } => {
                    sip.send_to(&data, to).await?;
                }
                Output::Rtp { to, data } => {
                    rtp.send_to(&data, to).await?;
                }
            }
        }
        while let Some(note) = call.poll_note() {
            print_note(&note, started);
        }
        let wake = call.poll_timeout().unwrap_or(limit).min(limit);
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake));
        tokio::select! {
            r = sip.recv_from(&mut sip_buf) => {
                let (n, from) = r?;
                call.handle_sip(Instant::now(), &sip_buf[..n], from);
            }
            r = rtp.recv_from(&mut rtp_buf) => {
                let (n, _) = r?;
                let Ok((header, payload)) = senim_media::rtp::parse(&rtp_buf[..n]) else {
                    continue;
                };
                let heard = match Codec::from_payload_type(header.payload_type) {
                    Some(Codec::Pcmu) => heard_u.frame(payload),
                    Some(Codec::Pcma) => heard_a.frame(payload),
                    None => None,
                };
                if let Some(p) = heard {
                    let name = format!("{} ({})", p.id, p.language.code());
                    println!("{:>6.1} s  heard {name}", started.elapsed().as_secs_f64());
                    summary.prompts.push(name);
                }
            }
            () = sleep => call.handle_timeout(Instant::now()),
        }
    }
    // The last BYE or 200 still to go out.
    while let Some(o) = call.poll_output() {
        if let Output::Sip { to, data } = o {
            sip.send_to(&data, to).await?;
        }
    }
    while let Some(note) = call.poll_note() {
        print_note(&note, started);
    }
    summary.audio = FRAME_TIME
        .saturating_mul(u32::try_from(heard_u.frames + heard_a.frames).unwrap_or(u32::MAX));
    match call.outcome() {
        Some(Outcome::Completed) if summary.audio.is_zero() => Err(TestCallError::Silent),
        Some(Outcome::Completed) => Ok(summary),
        Some(Outcome::Refused { status, reason }) => Err(TestCallError::NotAnswered(format!(
            "Senim answered {status} {reason}"
        ))),
        Some(Outcome::NoAnswer) => Err(TestCallError::NotAnswered(format!(
            "no answer from {target}: is Senim running there, and does it accept this address?"
        ))),
        Some(Outcome::BadAnswer(why)) => Err(TestCallError::NotAnswered(why.clone())),
        None => Err(TestCallError::NotAnswered(
            "the call did not end in time".into(),
        )),
    }
}

const FRAME_TIME: Duration = Duration::from_millis(20);

fn print_note(note: &Note, started: Instant) {
    let at = started.elapsed().as_secs_f64();
    let text = match note {
        Note::Ringing(code) => format!("{code} (ringing)"),
        Note::Answered { codec, media } => {
            format!("answered: {} audio from {media}", codec.name())
        }
        Note::Pressed { key, how } => format!("pressed {key} ({how})"),
        Note::SenimHungUp => "Senim hung up".into(),
        Note::HungUp(Some(code)) => format!("hung up ({code})"),
        Note::HungUp(None) => "hung up (no answer to the BYE)".into(),
    };
    println!("{at:>6.1} s  {text}");
}
