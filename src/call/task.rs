//! The tokio task around one call core: it owns the call's RTP sockets and
//! pacing streams, the channels from the endpoint, the router and the legs'
//! readers, the timer and the clock, and nothing else. Every input goes to
//! the core with the time; every [`Output`] becomes a send, a socket write
//! or a stream command.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use senim_call::core::CallCore;
use senim_call::io::{
    LegId, MediaCommand, MediaId, Metric, Output, PreparedLeg, ReceiveRule, RouterRequest,
};
use senim_media::dtmf::{Digit, DtmfSource, InbandDetector};
use senim_media::srtp::SrtpContext;
use senim_routing::router::Action as RouterAction;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::voicemail_file::PartialMessage;
use super::CallContext;
use crate::driver::media::{
    event_channel, EventReceiver, EventSender, ListenHandle, MediaEngine, MediaEvent, Relay,
    RtpSocket, Rule, StreamHandle,
};
use crate::driver::messages::{ToCall, ToEndpoint};
use crate::driver::router::ToRouter;

/// Most outputs one input may yield before the task looks at its inputs
/// again (a handful in practice; a bound against a runaway core).
const MAX_OUTPUTS: usize = 100_000;

/// One RTP port of the call: its socket (the pacing engine reads it and
/// sends on it; the call sends what the core relays), its stream, what the
/// engine reads from it, and where the engine reports packets, digits and
/// the end of a prompt.
pub struct Port {
    socket: Arc<std::net::UdpSocket>,
    stream: Option<StreamHandle>,
    events: EventSender,
    /// The engine reads the port while this is held.
    listen: ListenHandle,
    /// A leg's forwarder of its events to the call's task (the caller's
    /// events are read by the call's task itself).
    reader: Option<JoinHandle<()>>,
}

impl Drop for Port {
    fn drop(&mut self) {
        if let Some(r) = &self.reader {
            r.abort();
        }
    }
}

impl Port {
    fn open(
        socket: std::net::UdpSocket,
        events: EventSender,
        media: &MediaEngine,
    ) -> std::io::Result<(Port, u16)> {
        let port = socket.local_addr()?.port();
        socket.set_nonblocking(true)?;
        let socket = Arc::new(socket);
        let listen = media.listen(socket.clone(), events.clone());
        Ok((
            Port {
                socket,
                stream: None,
                events,
                listen,
                reader: None,
            },
            port,
        ))
    }
}

/// The caller's RTP port, bound: its prompt events come to the call's task.
pub struct CallerPort {
    port: Option<Port>,
    events: EventReceiver,
}

impl CallerPort {
    /// No caller (a call Senim places itself).
    pub fn none() -> CallerPort {
        let (_, events) = event_channel();
        CallerPort { port: None, events }
    }
}

/// Bind the caller's RTP port: the port, or why none could be bound.
pub(super) fn bind_caller(ctx: &CallContext) -> (CallerPort, Result<u16, String>) {
    let (tx, events) = event_channel();
    let bound = ctx
        .rtp_ports
        .bind(ctx.rtp_ip)
        .and_then(|s| Port::open(s, tx, &ctx.media));
    match bound {
        Ok((p, port)) => (
            CallerPort {
                port: Some(p),
                events,
            },
            Ok(port),
        ),
        Err(e) => (CallerPort { port: None, events }, Err(e.to_string())),
    }
}

/// Most requests a finished call answers from its closed inbox (they can
/// only be those queued before it closed).
const MAX_QUEUED: usize = 10_000;

/// The core is finished, but the endpoint may have queued SIP for it (a
/// NOTIFY right after the caller's BYE) before it hears the call ended.
/// Close the inbox, so the endpoint answers whatever comes later itself
/// (481), and give the core what is already queued: a finished call answers
/// 481. Dropped unread, such a request would never be answered and its
/// retransmissions would be absorbed by its server transaction.
fn answer_queued<C: CallCore>(core: &mut C, rx: &mut mpsc::UnboundedReceiver<ToCall>) {
    rx.close();
    for _ in 0..MAX_QUEUED {
        match rx.try_recv() {
            Ok(m) => core.handle_sip(Instant::now(), m),
            Err(_) => return,
        }
    }
}

/// What a leg's reader task reports.
enum LegInput {
    Rtp {
        leg: LegId,
        data: Vec<u8>,
        from: SocketAddr,
    },
    PromptFinished {
        leg: LegId,
        token: u64,
    },
    Digit {
        leg: LegId,
        digit: Digit,
    },
}

/// The driver of one call.
pub struct Shell {
    ctx: Arc<CallContext>,
    endpoint: mpsc::UnboundedSender<ToEndpoint>,
    /// The Call-ID the endpoint knows the call by.
    owner: String,
    /// The call record's id (the voicemail file's name).
    record_id: String,
    caller: Option<Port>,
    caller_events: EventReceiver,
    legs: HashMap<LegId, Port>,
    leg_tx: mpsc::UnboundedSender<LegInput>,
    leg_rx: mpsc::UnboundedReceiver<LegInput>,
    router: Option<mpsc::UnboundedReceiver<RouterAction>>,
    /// The voice message's writer, while one is being recorded or written.
    message: Option<std::sync::mpsc::Sender<MessageJob>>,
    /// Where the writer reports a message completed (its path) or not.
    written_tx: mpsc::UnboundedSender<Result<String, String>>,
    written_rx: mpsc::UnboundedReceiver<Result<String, String>>,
}

/// What the voice message's writer is asked to do, in order.
enum MessageJob {
    Audio(Vec<i16>),
    Complete { rest: Vec<i16>, length: usize },
    Discard,
}

/// The voice message's writer, on tokio's blocking pool: it owns the
/// partial file, appends each second of audio as it comes (flushed to disk),
/// and completes or removes it. It ends when the call's task drops its
/// sender; a message left open then (the task ended without its end) stays
/// as a partial file, which the next start completes.
fn message_writer(
    dir: std::path::PathBuf,
    call: String,
    jobs: std::sync::mpsc::Receiver<MessageJob>,
    written: mpsc::UnboundedSender<Result<String, String>>,
) {
    let mut file: Option<PartialMessage> = None;
    // Once a write has failed, the rest of the message is not written.
    let mut broken: Option<String> = None;
    while let Ok(job) = jobs.recv() {
        match job {
            MessageJob::Audio(samples) => {
                if broken.is_some() {
                    continue;
                }
                let result = match &mut file {
                    Some(f) => f.append(&samples),
                    None => PartialMessage::create(&dir, &call).and_then(|mut f| {
                        let r = f.append(&samples);
                        file = Some(f);
                        r
                    }),
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "voicemail: the message cannot be written as it is recorded");
                    broken = Some(e.to_string());
                }
            }
            MessageJob::Complete { rest, length } => {
                let result = match (broken.take(), file.take()) {
                    (Some(e), f) => {
                        if let Some(f) = f {
                            f.discard();
                        }
                        Err(e)
                    }
                    (None, Some(f)) => f.complete(&rest, length).map_err(|e| e.to_string()),
                    (None, None) => PartialMessage::create(&dir, &call)
                        .and_then(|f| f.complete(&rest, length))
                        .map_err(|e| e.to_string()),
                };
                let _ = written.send(result.map(|p| p.display().to_string()));
            }
            MessageJob::Discard => {
                broken = None;
                if let Some(f) = file.take() {
                    f.discard();
                }
            }
        }
    }
}

impl Shell {
    pub(super) fn new(
        ctx: Arc<CallContext>,
        endpoint: mpsc::UnboundedSender<ToEndpoint>,
        owner: String,
        record_id: String,
        caller: CallerPort,
    ) -> Shell {
        let (leg_tx, leg_rx) = mpsc::unbounded_channel();
        let (written_tx, written_rx) = mpsc::unbounded_channel();
        Shell {
            ctx,
            endpoint,
            owner,
            record_id,
            caller: caller.port,
            caller_events: caller.events,
            legs: HashMap::new(),
            leg_tx,
            leg_rx,
            router: None,
            message: None,
            written_tx,
            written_rx,
        }
    }

    /// Drive the core until it is finished.
    /// The core and the shell are borrowed, not moved in: the task's future
    /// then holds each once (moved in, they would take their room twice).
    pub async fn run<C: CallCore>(
        &mut self,
        core: &mut C,
        mut rx: mpsc::UnboundedReceiver<ToCall>,
    ) {
        self.flush(core);
        loop {
            if core.is_finished(Instant::now()) {
                break;
            }
            let wake = core.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => core.handle_sip(Instant::now(), m),
                    None => {
                        core.handle_sip(Instant::now(), ToCall::Shutdown);
                        self.flush(core);
                        break;
                    }
                },
                // Open while the caller's port is: it holds the sender.
                ev = self.caller_events.recv(), if self.caller.is_some() => match ev {
                    Some(MediaEvent::Rtp { data, from }) => {
                        core.handle_rtp(Instant::now(), MediaId::Caller, &data, from);
                    }
                    Some(MediaEvent::PromptFinished { token }) => {
                        core.handle_prompt_finished(Instant::now(), MediaId::Caller, token);
                    }
                    Some(MediaEvent::Digit(digit)) => {
                        core.handle_digit(Instant::now(), MediaId::Caller, digit);
                    }
                    None => {}
                },
                a = recv_opt(self.router.as_mut()) => match a {
                    Some(a) => core.handle_router(Instant::now(), a),
                    None => {
                        // The router forgot the call (it stopped, or the call is over).
                        self.router = None;
                        core.handle_router_released(Instant::now());
                    }
                },
                input = self.leg_rx.recv() => match input {
                    Some(LegInput::Rtp { leg, data, from }) => {
                        core.handle_rtp(Instant::now(), MediaId::Leg(leg), &data, from);
                    }
                    Some(LegInput::Digit { leg, digit }) => {
                        core.handle_digit(Instant::now(), MediaId::Leg(leg), digit);
                    }
                    Some(LegInput::PromptFinished { leg, token }) => {
                        core.handle_prompt_finished(Instant::now(), MediaId::Leg(leg), token);
                    }
                    None => {}
                },
                Some(result) = self.written_rx.recv() => {
                    core.handle_voicemail_written(Instant::now(), result);
                }
                _ = sleep_opt(wake) => core.handle_timeout(Instant::now()),
            }
            self.flush(core);
        }
        answer_queued(core, &mut rx);
        self.flush(core);
        // Dropping the ports stops their streams and readers; dropping the
        // message's sender ends its writer.
        self.message = None;
        self.caller = None;
        self.legs.clear();
    }

    /// Carry out what the core asks.
    fn flush<C: CallCore>(&mut self, core: &mut C) {
        for _ in 0..MAX_OUTPUTS {
            let Some(output) = core.poll_output() else {
                return;
            };
            self.output(core, output);
        }
        tracing::error!("the call core did not settle; its remaining outputs wait");
    }

    fn output<C: CallCore>(&mut self, core: &mut C, output: Output) {
        match output {
            Output::Respond { key, response } => {
                let _ = self.endpoint.send(ToEndpoint::Respond { key, response });
            }
            Output::Request { request, peer } => {
                let _ = self.endpoint.send(ToEndpoint::Request {
                    call_id: self.owner.clone(),
                    request: *request,
                    peer,
                });
            }
            Output::Stateless { message, peer } => {
                let _ = self.endpoint.send(ToEndpoint::Stateless {
                    message: *message,
                    peer,
                });
            }
            Output::Alias { leg_call_id } => {
                let _ = self.endpoint.send(ToEndpoint::Alias {
                    leg: leg_call_id,
                    call_id: self.owner.clone(),
                });
            }
            Output::PrepareLeg { leg, softphone } => {
                let result = self.prepare_leg(leg, softphone.as_deref());
                core.handle_leg_prepared(Instant::now(), leg, result);
            }
            Output::Media { id, command } => self.media(id, command),
            Output::SendRtp { from, to, data } => {
                if let Some(p) = self.port(from) {
                    let _ = p.socket.send_to(&data, to);
                }
            }
            Output::Record(op) => {
                self.ctx.live.apply(&op);
                self.ctx.recorder.record(*op)
            }
            Output::Router(request) => self.router(*request),
            Output::Metric(m) => {
                let s = &self.ctx.sip_stats;
                match m {
                    Metric::Digit(DtmfSource::Rfc4733) => {
                        s.dtmf_rfc4733.fetch_add(1, Ordering::Relaxed)
                    }
                    Metric::Digit(DtmfSource::SipInfo) => {
                        s.dtmf_sip_info.fetch_add(1, Ordering::Relaxed)
                    }
                    Metric::Digit(DtmfSource::Inband) => {
                        s.dtmf_inband.fetch_add(1, Ordering::Relaxed)
                    }
                    Metric::RtpDropped => s.rtp_packets_dropped.fetch_add(1, Ordering::Relaxed),
                    Metric::Recognised => s.callers_recognised.fetch_add(1, Ordering::Relaxed),
                    Metric::Remembered => s.callers_remembered.fetch_add(1, Ordering::Relaxed),
                    Metric::Forgotten => s.callers_forgotten.fetch_add(1, Ordering::Relaxed),
                    Metric::Connected => s.calls_connected.fetch_add(1, Ordering::Relaxed),
                    Metric::Disconnected => s
                        .calls_connected
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .unwrap_or(0),
                };
            }
            Output::VoicemailAudio { samples } => self.message(MessageJob::Audio(samples)),
            Output::WriteVoicemail { rest, length } => {
                self.message(MessageJob::Complete { rest, length })
            }
            Output::DiscardVoicemail => {
                if self.message.is_some() {
                    self.message(MessageJob::Discard);
                }
            }
        }
    }

    /// Hand a job to the message's writer, starting it first if needed.
    fn message(&mut self, job: MessageJob) {
        let tx = self.message.get_or_insert_with(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            let dir = self.ctx.voicemail_dir.clone();
            let call = self.record_id.clone();
            let written = self.written_tx.clone();
            let span = tracing::Span::current();
            tokio::task::spawn_blocking(move || {
                let _g = span.enter();
                message_writer(dir, call, rx, written)
            });
            tx
        });
        if tx.send(job).is_err() {
            let _ = self
                .written_tx
                .send(Err("the voicemail writer has stopped".into()));
        }
    }

    fn port(&self, id: MediaId) -> Option<&Port> {
        match id {
            MediaId::Caller => self.caller.as_ref(),
            MediaId::Leg(leg) => self.legs.get(&leg),
        }
    }

    fn port_mut(&mut self, id: MediaId) -> Option<&mut Port> {
        match id {
            MediaId::Caller => self.caller.as_mut(),
            MediaId::Leg(leg) => self.legs.get_mut(&leg),
        }
    }

    fn media(&mut self, id: MediaId, command: MediaCommand) {
        if let MediaCommand::Receive(rule) = command {
            let rule = rule.and_then(|r| self.engine_rule(r));
            if let Some(p) = self.port(id) {
                p.listen.set_rule(rule);
            }
            return;
        }
        if let MediaCommand::Close = command {
            match id {
                MediaId::Caller => self.caller = None,
                MediaId::Leg(leg) => {
                    self.legs.remove(&leg);
                }
            }
            return;
        }
        let ctx = self.ctx.clone();
        let Some(port) = self.port_mut(id) else {
            return;
        };
        match command {
            MediaCommand::Start {
                remote,
                codec,
                srtp,
            } => {
                let send: Arc<dyn RtpSocket> = port.socket.clone();
                let events = port.events.clone();
                let srtp = srtp.map(|s| SrtpContext::new(s.suite, &s.key));
                port.stream = Some(ctx.media.add_stream(send, remote, codec, srtp, events));
            }
            MediaCommand::SetSrtp(srtp) => {
                if let Some(s) = &port.stream {
                    s.set_srtp(srtp.map(|s| SrtpContext::new(s.suite, &s.key)));
                }
            }
            MediaCommand::Play { prompt, token } => {
                if let Some(s) = &port.stream {
                    s.play(prompt, token);
                }
            }
            MediaCommand::StopPrompt => {
                if let Some(s) = &port.stream {
                    s.stop();
                }
            }
            MediaCommand::SetRemote(a) => {
                if let Some(s) = &port.stream {
                    s.set_remote(a);
                }
            }
            MediaCommand::StopStream => port.stream = None,
            MediaCommand::Receive(_) | MediaCommand::Close => {}
        }
    }

    /// The engine's form of the core's rule: the relay's port as its
    /// socket. None (every packet to the core) if that port is gone.
    fn engine_rule(&self, rule: ReceiveRule) -> Option<Rule> {
        let relay = match rule.relay {
            Some(r) => {
                let to = self.port(r.to)?;
                let socket: Arc<dyn RtpSocket> = to.socket.clone();
                Some(Relay {
                    socket,
                    remote: r.remote,
                    from_telephone_event: r.from_telephone_event,
                    to_codec: r.to_codec,
                    to_telephone_event: r.to_telephone_event,
                })
            }
            None => None,
        };
        Some(Rule {
            source: rule.source,
            codec: rule.codec,
            inband: rule.inband.then(InbandDetector::new),
            relay,
        })
    }

    /// Bind a leg's RTP port and start its reader; find a softphone's contact.
    fn prepare_leg(&mut self, leg: LegId, softphone: Option<&str>) -> Result<PreparedLeg, String> {
        let softphone = match softphone {
            Some(user) => Some(
                self.ctx
                    .registrations
                    .latest(user)
                    .ok_or_else(|| "softphone not registered".to_string())?,
            ),
            None => None,
        };
        let socket = self
            .ctx
            .rtp_ports
            .bind(self.ctx.rtp_ip)
            .map_err(|e| format!("no RTP port: {e}"))?;
        let (events_tx, events) = event_channel();
        let (mut p, port) = Port::open(socket, events_tx, &self.ctx.media)
            .map_err(|e| format!("RTP socket: {e}"))?;
        p.reader = Some(tokio::spawn(read_leg(leg, events, self.leg_tx.clone())));
        self.legs.insert(leg, p);
        Ok(PreparedLeg { port, softphone })
    }

    fn router(&mut self, request: RouterRequest) {
        let actions = match request {
            RouterRequest::Start { .. } => {
                let (tx, rx) = mpsc::unbounded_channel();
                self.router = Some(rx);
                Some(tx)
            }
            _ => None,
        };
        self.ctx
            .router
            .send(ToRouter::FromCall { request, actions });
    }
}

/// A leg's packets, digits and prompt events, handed to the call's task.
async fn read_leg(leg: LegId, mut events: EventReceiver, inputs: mpsc::UnboundedSender<LegInput>) {
    while let Some(ev) = events.recv().await {
        let input = match ev {
            MediaEvent::Rtp { data, from } => LegInput::Rtp { leg, data, from },
            MediaEvent::PromptFinished { token } => LegInput::PromptFinished { leg, token },
            MediaEvent::Digit(digit) => LegInput::Digit { leg, digit },
        };
        if inputs.send(input).is_err() {
            return;
        }
    }
}

/// Receive from a channel that may not exist (then wait forever).
async fn recv_opt<T>(rx: Option<&mut mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core that is already finished and counts the SIP it is given.
    #[derive(Default)]
    struct Finished {
        sip: usize,
    }

    impl CallCore for Finished {
        fn handle_sip(&mut self, _now: Instant, _input: ToCall) {
            self.sip += 1;
        }
        fn handle_rtp(&mut self, _: Instant, _: MediaId, _: &[u8], _: SocketAddr) {}
        fn handle_prompt_finished(&mut self, _: Instant, _: MediaId, _: u64) {}
        fn handle_leg_prepared(&mut self, _: Instant, _: LegId, _: Result<PreparedLeg, String>) {}
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_output(&mut self) -> Option<Output> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn is_finished(&self, _: Instant) -> bool {
            true
        }
    }

    /// SIP queued for a call as it finished reaches the core (which answers
    /// it), and SIP sent later is refused, so the endpoint answers it.
    #[test]
    fn a_finished_call_answers_what_was_queued_and_refuses_the_rest() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for _ in 0..2 {
            assert!(tx.send(ToCall::Shutdown).is_ok());
        }
        let mut core = Finished::default();
        answer_queued(&mut core, &mut rx);
        assert_eq!(core.sip, 2);
        assert!(tx.send(ToCall::Shutdown).is_err());
    }
}
