//! `GET /metrics` in the Prometheus text format (version 0.0.4), written by
//! hand: a few counters and gauges need no metrics library. No personal
//! data and no specialist ids: counts only.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::state::HttpState;

/// The states a specialist can be in (see the routing status view).
pub const SPECIALIST_STATES: [&str; 9] = [
    "available",
    "busy",
    "ringing",
    "paused",
    "wrap-up",
    "break",
    "daily-cap",
    "off-schedule",
    "offline",
];

/// Accumulates metric families in the text format.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// A family with one sample without labels.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.family(name, kind, help, &[(&[], value)]);
    }

    /// A family with samples, each with its labels.
    pub fn family(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: &[(&[(&str, &str)], u64)],
    ) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            self.out.push_str(name);
            if !labels.is_empty() {
                self.out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
                }
                self.out.push('}');
            }
            let _ = writeln!(self.out, " {value}");
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub async fn metrics(State(state): State<Arc<HttpState>>) -> impl IntoResponse {
    let ctx = &state.calls;
    let sip = &ctx.sip_stats;
    let media = ctx.media.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut m = Exposition::default();
    m.single(
        "senim_up",
        "gauge",
        "1 when Senim is taking calls, 0 while starting or stopping.",
        u64::from(state.ready.load(Ordering::Relaxed)),
    );
    let backlog = ctx.recorder.backlog();
    m.single(
        "senim_record_spool_changes",
        "gauge",
        "Call record changes waiting in the spool file because the database refused them.",
        load(&backlog.spooled),
    );
    m.single(
        "senim_record_spool_bytes",
        "gauge",
        "Size of the spool file of call record changes.",
        load(&backlog.spool_bytes),
    );
    m.single(
        "senim_record_spool_full",
        "gauge",
        "1 while the spool of call record changes is full or cannot be written (changes wait in memory).",
        u64::from(backlog.spool_full.load(Ordering::Relaxed)),
    );
    m.single(
        "senim_record_changes_held",
        "gauge",
        "Call record changes waiting in memory (neither the database nor the spool took them yet).",
        load(&backlog.held),
    );
    m.single(
        "senim_record_changes_spooled_total",
        "counter",
        "Call record changes that went to the spool since start.",
        load(&backlog.spooled_total),
    );
    m.single(
        "senim_record_changes_dropped_total",
        "counter",
        "Call record changes lost since start (the database, the spool and the memory queue all full, or an unreadable spool line).",
        load(&backlog.dropped),
    );
    m.single(
        "senim_calls_active",
        "gauge",
        "Calls in progress.",
        load(&sip.calls_active),
    );
    m.single(
        "senim_calls_total",
        "counter",
        "Calls taken since start.",
        load(&sip.calls_total),
    );
    let queues = ctx.router.queue_lengths().await.unwrap_or_default();
    let queued: u64 = queues.iter().map(|(_, n)| *n as u64).sum();
    m.family(
        "senim_calls",
        "gauge",
        "Calls in progress by state: waiting in the queue, or connected to a specialist or partner (the rest are in the menus or being routed).",
        &[
            (&[("state", "queued")], queued),
            (&[("state", "connected")], load(&sip.calls_connected)),
        ],
    );
    let queue_samples: Vec<([(&str, &str); 1], u64)> = queues
        .iter()
        .map(|(skill, n)| ([("service", skill.as_str())], *n as u64))
        .collect();
    let queue_samples: Vec<(&[(&str, &str)], u64)> = queue_samples
        .iter()
        .map(|(l, n)| (l.as_slice(), *n))
        .collect();
    m.family(
        "senim_queue_length",
        "gauge",
        "Callers waiting for a specialist, by service.",
        &queue_samples,
    );
    let alerts = ctx.router.alerts();
    let alert_samples: Vec<([(&str, &str); 1], u64)> = senim_routing::limits::AlertKind::ALL
        .iter()
        .map(|k| ([("kind", k.as_str())], alerts.get(*k)))
        .collect();
    let alert_samples: Vec<(&[(&str, &str)], u64)> = alert_samples
        .iter()
        .map(|(l, n)| (l.as_slice(), *n))
        .collect();
    m.family(
        "senim_specialist_alerts_total",
        "counter",
        "Alerts about specialists since start, by kind: a call longer than alert_after, an automatic break after crisis or long calls in a row, the day's cap of answered calls reached.",
        &alert_samples,
    );
    m.single(
        "senim_rtp_packets_received_total",
        "counter",
        "RTP packets received on the ports of callers and outbound legs since start, those dropped included.",
        load(&media.packets_received),
    );
    m.single(
        "senim_rtp_packets_dropped_total",
        "counter",
        "RTP packets dropped since start because they did not come from the far end the call's SDP and signalling name (strict RTP), came while its source was still being learned, or found their call with 256 packets waiting already (a call that fell behind, or a flood on its port).",
        load(&sip.rtp_packets_dropped) + load(&media.packets_dropped),
    );
    m.family(
        "senim_dtmf_total",
        "counter",
        "Keys received since start, by how they arrived.",
        &[
            (&[("source", "rfc4733")], load(&sip.dtmf_rfc4733)),
            (&[("source", "sip-info")], load(&sip.dtmf_sip_info)),
            (&[("source", "inband")], load(&sip.dtmf_inband)),
        ],
    );
    m.family(
        "senim_callers_memory_total",
        "counter",
        "Callers remembered with consent, since start: recognised when they called again, agreed to be remembered, asked to be forgotten in a call (counts only, no identities).",
        &[
            (&[("event", "recognised")], load(&sip.callers_recognised)),
            (&[("event", "remembered")], load(&sip.callers_remembered)),
            (&[("event", "forgotten")], load(&sip.callers_forgotten)),
        ],
    );
    m.single(
        "senim_sip_messages_received_total",
        "counter",
        "SIP messages received since start.",
        load(&sip.messages_in),
    );
    m.family(
        "senim_sip_refused_total",
        "counter",
        "SIP traffic refused since start, by reason: messages over the per-source rate limit (dropped), new requests answered 503 for a full transaction table, TCP and TLS connections closed at accept (too many), TLS connections whose handshake failed or took too long, new calls answered 503 because [sip] max_calls were in progress.",
        &[
            (&[("reason", "rate-limit")], load(&sip.rate_limited)),
            (&[("reason", "overload")], load(&sip.overload_refused)),
            (&[("reason", "tcp-connections")], load(&sip.tcp_refused)),
            (&[("reason", "tls-handshake")], load(&sip.tls_handshakes_failed)),
            (&[("reason", "max-calls")], load(&sip.calls_refused_full)),
        ],
    );
    m.family(
        "senim_sip_requests_refused_total",
        "counter",
        "SIP requests refused since start: from strangers (neither a trunk, nor a registered softphone, nor a call in progress; answered 403 or not at all, by [sip] unknown_sources) and from known scanners (never answered).",
        &[
            (&[("reason", "unknown-source")], load(&sip.refused_unknown_source)),
            (&[("reason", "scanner")], load(&sip.dropped_scanners)),
        ],
    );
    m.single(
        "senim_registrar_failures_total",
        "counter",
        "REGISTERs with wrong credentials (wrong password, unknown user) since start.",
        load(&sip.register_failures),
    );
    m.family(
        "senim_registrar_lockouts_total",
        "counter",
        "Lock-outs after repeated wrong passwords since start, of a user name or a source address.",
        &[
            (&[("of", "user")], load(&sip.register_lockouts_user)),
            (&[("of", "source")], load(&sip.register_lockouts_source)),
        ],
    );
    m.single(
        "senim_rtp_streams",
        "gauge",
        "RTP streams being sent.",
        load(&media.streams),
    );
    m.single(
        "senim_rtp_packets_sent_total",
        "counter",
        "RTP packets sent since start (streams; relayed packets are counted apart).",
        load(&media.packets_sent),
    );
    m.single(
        "senim_rtp_packets_handled_total",
        "counter",
        "RTP packets the media engine handled itself since start (a call's audio run through the in-band detector or relayed across a bridge), not handed to the call.",
        load(&media.packets_handled),
    );
    m.single(
        "senim_rtp_packets_relayed_total",
        "counter",
        "RTP packets the media engine relayed across bridges since start.",
        load(&media.packets_relayed),
    );
    m.single(
        "senim_rtp_send_errors_total",
        "counter",
        "RTP packets that could not be sent.",
        load(&media.send_errors),
    );
    m.single(
        "senim_rtp_late_ticks_total",
        "counter",
        "Pacing slots (1 ms of streams) sent more than 2 ms after their deadline.",
        load(&media.late_ticks),
    );
    // What a leak would show as growth at the same number of calls.
    m.single(
        "senim_tasks",
        "gauge",
        "Tasks alive in Senim's runtime (calls, their legs' readers, servers).",
        u64::try_from(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        )
        .unwrap_or(0),
    );
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        m.single(
            "process_open_fds",
            "gauge",
            "File descriptors open (sockets included: one per RTP port).",
            u64::try_from(fds.count()).unwrap_or(0),
        );
    }
    let config = ctx.config();
    let trunks = &config.outbound.trunks;
    let reports: Vec<_> = trunks.iter().map(|t| (t, t.load.report())).collect();
    let labels: Vec<[(&str, &str); 1]> =
        trunks.iter().map(|t| [("trunk", t.id.as_str())]).collect();
    let per_trunk = |value: &dyn Fn(usize) -> u64| -> Vec<(&[(&str, &str)], u64)> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_slice(), value(i)))
            .collect()
    };
    m.family(
        "senim_trunk_up",
        "gauge",
        "1 while the trunk answers its OPTIONS probes (or is not probed and no call found it silent), by trunk.",
        &per_trunk(&|i| u64::from(reports[i].0.load.is_up())),
    );
    m.family(
        "senim_trunk_registered",
        "gauge",
        "1 while Senim is registered to the trunk, by trunk (registering trunks only count).",
        &per_trunk(&|i| u64::from(reports[i].1.registration.as_deref() == Some("registered"))),
    );
    m.family(
        "senim_trunk_calls",
        "gauge",
        "Outbound calls on the trunk now, by trunk.",
        &per_trunk(&|i| u64::from(reports[i].0.load.active())),
    );
    let mut counts = [0u64; SPECIALIST_STATES.len()];
    let live = ctx.router.snapshot().await;
    if let Some(live) = &live {
        for s in &live.specialists {
            if let Some(i) = SPECIALIST_STATES.iter().position(|x| *x == s.state) {
                counts[i] += 1;
            }
        }
    }
    let samples: Vec<[(&str, &str); 1]> =
        SPECIALIST_STATES.iter().map(|s| [("state", *s)]).collect();
    let samples: Vec<(&[(&str, &str)], u64)> = samples
        .iter()
        .zip(counts)
        .map(|(l, n)| (l.as_slice(), n))
        .collect();
    m.family(
        "senim_specialists",
        "gauge",
        "Specialists by state.",
        &samples,
    );
    m.single(
        "senim_specialists_configured",
        "gauge",
        "Specialists in the configuration.",
        config.specialists.iter().count() as u64,
    );
    let plan = ctx.plans.status();
    m.single(
        "senim_dialplan_reloads_total",
        "counter",
        "Dialplan reloads accepted since start.",
        plan.reloads,
    );
    m.single(
        "senim_dialplan_last_reload_ok",
        "gauge",
        "1 when the last dialplan load or reload was accepted.",
        u64::from(plan.last_ok),
    );
    let reloads = state.reloads.config_reloads();
    m.family(
        "senim_config_reloads_total",
        "counter",
        "Configuration reloads since start (SIGHUP, senim reload, POST /config/reload): accepted, or refused with the running configuration kept.",
        &[
            (&[("result", "accepted")], reloads.accepted),
            (&[("result", "refused")], reloads.refused),
        ],
    );
    m.single(
        "senim_config_last_reload_ok",
        "gauge",
        "0 when the last configuration reload was refused; 1 otherwise.",
        u64::from(reloads.last_ok),
    );
    m.family(
        "senim_api_requests_refused_total",
        "counter",
        "API requests refused: 401 (no or unknown token) and 403 (role).",
        &[
            (&[("status", "401")], load(&state.api.unauthenticated)),
            (&[("status", "403")], load(&state.api.forbidden)),
        ],
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut m = Exposition::default();
        m.single("senim_x_total", "counter", "An x.\nTwo lines.", 3);
        m.family(
            "senim_y",
            "gauge",
            "A y.",
            &[
                (&[("state", "a\"b"), ("k", "v")], 1),
                (&[("state", "c")], 0),
            ],
        );
        assert_eq!(
            m.finish(),
            "# HELP senim_x_total An x.\\nTwo lines.\n# TYPE senim_x_total counter\nsenim_x_total 3\n\
             # HELP senim_y A y.\n# TYPE senim_y gauge\nsenim_y{state=\"a\\\"b\",k=\"v\"} 1\nsenim_y{state=\"c\"} 0\n"
        );
    }
}
