//! Status codes and their reason phrases.

use rsip::StatusCode;

/// Standard reason phrase for a status code ("" when unknown).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "",
    }
}

/// The rsip status code for `code`: rsip's named variant when the code is known and `reason`
/// is empty or the standard phrase (so `== StatusCode::OK` comparisons work), otherwise
/// `StatusCode::Other(code, reason)` so that the custom phrase goes on the wire.
pub fn status_code(code: u16, reason: &str) -> StatusCode {
    let known = StatusCode::from(code);
    match known {
        StatusCode::Other(..) => StatusCode::Other(code, reason.to_string()),
        named if reason.is_empty() || reason.eq_ignore_ascii_case(reason_phrase(code)) => named,
        _ => StatusCode::Other(code, reason.to_string()),
    }
}

/// The reason phrase to print for a status: the custom phrase if any, else the standard one.
pub(super) fn status_reason(status: &StatusCode) -> String {
    match status {
        StatusCode::Other(code, reason) => {
            if reason.is_empty() || reason == "Other" {
                reason_phrase(*code).to_string()
            } else {
                reason.clone()
            }
        }
        named => reason_phrase(named.code()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_keep_custom_phrases() {
        assert_eq!(status_code(200, "OK"), StatusCode::OK);
        assert_eq!(status_code(200, ""), StatusCode::OK);
        assert_eq!(
            status_code(200, "Fine"),
            StatusCode::Other(200, "Fine".into())
        );
        assert_eq!(status_code(299, "x"), StatusCode::Other(299, "x".into()));
        assert_eq!(status_reason(&StatusCode::BadRequest), "Bad Request");
    }
}
