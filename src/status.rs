//! `senim status`: the line at a glance, read from a running Senim's
//! `/healthz` and `/metrics` on its HTTP listener: whether it takes calls,
//! calls now, the call records, the specialists, the trunks, the dialplan,
//! what was refused since the start, and the log's last warnings and
//! errors (their messages). Nothing here needs a token: both
//! routes carry counts only, never a number, an address or a name of a
//! caller.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No connection, or no answer in time.
    #[error("{addr}: {message} (is Senim running, and is [http] listen this address?)")]
    Unreachable { addr: SocketAddr, message: String },
    /// An answer that is not what Senim sends.
    #[error("{addr}{path}: {message}")]
    Answer {
        addr: SocketAddr,
        path: &'static str,
        message: String,
    },
}

/// One plain HTTP/1.1 GET on loopback (or the listener's address): the
/// status code and the body. Bounded in time and size.
async fn get(addr: SocketAddr, path: &'static str) -> Result<(u16, String), StatusError> {
    let unreachable = |message: String| StatusError::Unreachable { addr, message };
    let answer = |message: String| StatusError::Answer {
        addr,
        path,
        message,
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: senim status\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut bytes = Vec::new();
        stream.take(4 << 20).read_to_end(&mut bytes).await?;
        Ok::<_, std::io::Error>(bytes)
    };
    let bytes = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| unreachable("no answer in 5 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| answer("not an HTTP answer".into()))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| answer("no status code".into()))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .replace(' ', "")
            .starts_with("transfer-encoding:chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((code, body))
}

/// A chunked body's data.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    // A body of at most 4 MiB has fewer chunks than this.
    for _ in 0..100_000 {
        let Some((size, rest)) = body.split_once("\r\n") else {
            break;
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Read `/healthz` and `/metrics` and say what they mean, a line each.
pub async fn read(addr: SocketAddr) -> Result<Vec<String>, StatusError> {
    let (code, health) = get(addr, "/healthz").await?;
    let health: serde_json::Value =
        serde_json::from_str(&health).map_err(|e| StatusError::Answer {
            addr,
            path: "/healthz",
            message: format!("{code}: not Senim's health ({e})"),
        })?;
    let (_, metrics) = get(addr, "/metrics").await?;
    Ok(summarise(&health, &metrics))
}

/// Samples of `/metrics`: name, labels as written, value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of every sample of `name`, by its one label's value.
fn by_label(all: &BTreeMap<String, f64>, name: &str, label: &str) -> Vec<(String, f64)> {
    let prefix = format!("{name}{{{label}=\"");
    all.iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(&prefix)?;
            let (value, _) = rest.split_once('"')?;
            Some((value.to_string(), *v))
        })
        .collect()
}

/// The lines of `senim status`, from the health JSON and the metrics text.
pub fn summarise(health: &serde_json::Value, metrics: &str) -> Vec<String> {
    let all = samples(metrics);
    let one = |name: &str| all.get(name).copied().unwrap_or(0.0) as u64;
    let mut out = Vec::new();
    let status = health["status"].as_str().unwrap_or("unknown");
    out.push(format!("Senim: {status}"));
    out.push(format!(
        "calls: {} now, {} since start",
        health["calls_active"].as_u64().unwrap_or(0),
        health["calls_total"].as_u64().unwrap_or(0)
    ));
    let records = &health["call_records"];
    let mut line = format!(
        "call records: {}",
        records["state"].as_str().unwrap_or("unknown")
    );
    for (key, what) in [
        ("spooled", "waiting in the spool"),
        ("held", "waiting in memory"),
        ("dropped", "LOST"),
    ] {
        let n = records[key].as_u64().unwrap_or(0);
        if n > 0 {
            line.push_str(&format!(", {n} {what}"));
        }
    }
    out.push(line);
    let states: Vec<String> = by_label(&all, "senim_specialists", "state")
        .into_iter()
        .filter(|(_, n)| *n > 0.0)
        .map(|(state, n)| format!("{} {state}", n as u64))
        .collect();
    out.push(format!(
        "specialists: {} configured{}{}",
        one("senim_specialists_configured"),
        if states.is_empty() { "" } else { "; " },
        states.join(", ")
    ));
    let up = by_label(&all, "senim_trunk_up", "trunk");
    if up.is_empty() {
        out.push(
            "trunks: none configured (emergency transfers and calls to numbers need one)".into(),
        );
    } else {
        let registered: BTreeMap<String, f64> = by_label(&all, "senim_trunk_registered", "trunk")
            .into_iter()
            .collect();
        let trunks: Vec<String> = up
            .iter()
            .map(|(t, v)| {
                let mut s = format!("{t} {}", if *v > 0.0 { "up" } else { "DOWN" });
                if registered.get(t).is_some_and(|r| *r > 0.0) {
                    s.push_str(", registered");
                }
                s
            })
            .collect();
        out.push(format!("trunks: {}", trunks.join("; ")));
    }
    out.push(format!(
        "dialplan: {} ({} reloads accepted)",
        if one("senim_dialplan_last_reload_ok") > 0 {
            "the last load was accepted"
        } else {
            "the LAST RELOAD WAS REFUSED (the previous plan runs; see the log)"
        },
        one("senim_dialplan_reloads_total")
    ));
    let reloads = by_label(&all, "senim_config_reloads_total", "result");
    let reloads_of = |result: &str| {
        reloads
            .iter()
            .find(|(r, _)| r == result)
            .map_or(0, |(_, v)| *v as u64)
    };
    if !reloads.is_empty() {
        out.push(format!(
            "configuration: {} ({} reloads accepted, {} refused)",
            if one("senim_config_last_reload_ok") > 0 {
                "the configuration in service is the last one read"
            } else {
                "the LAST RELOAD WAS REFUSED (the previous configuration runs; see the log)"
            },
            reloads_of("accepted"),
            reloads_of("refused")
        ));
    }
    let refused: u64 = by_label(&all, "senim_sip_refused_total", "reason")
        .iter()
        .map(|(_, v)| *v as u64)
        .sum();
    out.push(format!(
        "refused since start: {refused} SIP messages, {} wrong softphone passwords, {} lock-outs",
        one("senim_registrar_failures_total"),
        by_label(&all, "senim_registrar_lockouts_total", "of")
            .iter()
            .map(|(_, v)| *v as u64)
            .sum::<u64>()
    ));
    match health["last_warnings"].as_array() {
        Some(recent) if !recent.is_empty() => {
            out.push(format!("last warnings and errors ({}):", recent.len()));
            for r in recent {
                out.push(format!(
                    "  {} {:5} {}",
                    r["at"].as_str().unwrap_or("?"),
                    r["level"].as_str().unwrap_or("?"),
                    r["message"].as_str().unwrap_or("")
                ));
            }
        }
        _ => out.push("last warnings and errors: none since start".into()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_at_a_glance() {
        let health = serde_json::json!({
            "status": "ok", "calls_active": 2, "calls_total": 150, "rtp_streams": 2,
            "call_records": {"state": "spooling", "spooled": 4, "held": 0, "dropped": 0},
            "last_warnings": [
                {"at": "2026-12-02T09:15:02Z", "level": "WARN", "message": "trunk provider is down"}
            ]
        });
        let metrics = "# HELP x\n\
            senim_specialists{state=\"available\"} 3\n\
            senim_specialists{state=\"on-call\"} 1\n\
            senim_specialists{state=\"offline\"} 0\n\
            senim_specialists_configured 6\n\
            senim_trunk_up{trunk=\"provider\"} 1\n\
            senim_trunk_up{trunk=\"asterisk\"} 0\n\
            senim_trunk_registered{trunk=\"provider\"} 1\n\
            senim_dialplan_last_reload_ok 1\n\
            senim_dialplan_reloads_total 3\n\
            senim_config_reloads_total{result=\"accepted\"} 2\n\
            senim_config_reloads_total{result=\"refused\"} 1\n\
            senim_config_last_reload_ok 0\n\
            senim_sip_refused_total{reason=\"unknown-source\"} 100\n\
            senim_sip_refused_total{reason=\"rate\"} 20\n\
            senim_registrar_failures_total 4\n";
        let lines = summarise(&health, metrics);
        assert_eq!(
            lines,
            vec![
                "Senim: ok",
                "calls: 2 now, 150 since start",
                "call records: spooling, 4 waiting in the spool",
                "specialists: 6 configured; 3 available, 1 on-call",
                "trunks: asterisk DOWN; provider up, registered",
                "dialplan: the last load was accepted (3 reloads accepted)",
                "configuration: the LAST RELOAD WAS REFUSED (the previous configuration runs; see the log) (2 reloads accepted, 1 refused)",
                "refused since start: 120 SIP messages, 4 wrong softphone passwords, 0 lock-outs",
                "last warnings and errors (1):",
                "  2026-12-02T09:15:02Z WARN  trunk provider is down",
            ]
        );
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
        assert_eq!(dechunk("zz\r\n"), "");
    }
}
