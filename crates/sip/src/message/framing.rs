//! TCP framing: cutting a byte stream into keep-alives and whole messages.

use super::error::FramingError;
use super::head::{logical_lines, parse_small_number, truncate};
use super::header_name::expand_compact;
use super::limits::{MAX_BODY, MAX_HEAD};

/// True if `data` is a non-empty run of CR/LF bytes (a RFC 5626 / RFC 3261 keep-alive).
pub fn is_keepalive(data: &[u8]) -> bool {
    !data.is_empty() && data.iter().all(|b| *b == b'\r' || *b == b'\n')
}

/// TCP framing. `Ok(Some(n))`: `buf` starts with one complete frame of `n` bytes — either a
/// keep-alive (a run of CR/LF bytes, check with [`is_keepalive`] and discard it; answer a
/// double-CRLF ping with a single CRLF pong per RFC 5626 if you like) or a whole message (head,
/// blank line and Content-Length bytes of body). `Ok(None)`: more bytes are needed.
/// `Err`: the stream cannot be framed (no blank line within [`MAX_HEAD`], missing or bad
/// Content-Length, body over [`MAX_BODY`]); close the connection.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FramingError> {
    let ws = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if ws > 0 {
        // A lone trailing CR may be the first half of a CRLF: wait for its LF.
        if ws == buf.len() && buf.last() == Some(&b'\r') {
            return Ok(if ws > 1 { Some(ws - 1) } else { None });
        }
        return Ok(Some(ws));
    }
    let search = &buf[..buf.len().min(MAX_HEAD + 4)];
    let head_end = match search.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => p,
        None if buf.len() > MAX_HEAD => return Err(FramingError::HeadTooLong(MAX_HEAD)),
        None => return Ok(None),
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let (_, lines) = logical_lines(&head).map_err(|_| FramingError::MissingContentLength)?;
    let mut cl: Option<usize> = None;
    for line in &lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !expand_compact(name.trim()).eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        let n = parse_small_number(value, u32::MAX as u64)
            .ok_or_else(|| FramingError::BadContentLength(truncate(value.trim(), 40)))?
            as usize;
        if cl.is_some_and(|old| old != n) {
            return Err(FramingError::BadContentLength(
                "several different values".into(),
            ));
        }
        cl = Some(n);
    }
    let cl = cl.ok_or(FramingError::MissingContentLength)?;
    if cl > MAX_BODY {
        return Err(FramingError::BodyTooLarge(cl));
    }
    let total = head_end + 4 + cl;
    Ok((buf.len() >= total).then_some(total))
}
