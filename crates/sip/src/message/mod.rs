//! The project's wrapper around `rsip`: parsing, framing, building and printing SIP messages.
//!
//! rsip 0.4 is used for the message *types* (`rsip::Request`, `rsip::Response`, `rsip::Header`,
//! `rsip::Uri`, ...). Its parser and printer have gaps (see `docs/sip.md`), so this module does
//! the wire work itself:
//!
//! * [`parse`] unfolds continuation lines, expands compact header names, splits comma-separated
//!   Via/Route/Record-Route/Contact values into one header each, normalises the whitespace of
//!   Via/From/To/Contact/Route/CSeq values, cuts the body by Content-Length, checks the
//!   mandatory headers and builds the rsip structs directly (rsip's own tokenizer is not used
//!   for headers or URIs: it mis-parses users with dots and IPv6 hosts).
//! * [`to_bytes`] prints messages with real reason phrases, bracketed IPv6 hosts, raw (binary
//!   safe) bodies and a Content-Length that always matches the body.
//!
//! A later parser swap should only touch this module.
//!
//! The files: [`Transport`] and [`Peer`] (`peer.rs`), the size limits (`limits.rs`), the errors
//! (`error.rs`), header names and compact forms (`header_name.rs`), status codes (`status.rs`),
//! the shared lexical grammar (`grammar.rs`), Via (`via.rs`), name-addr (`name_addr.rs`), URIs
//! (`uri.rs`), the message head (`head.rs`), [`parse`] (`parsing.rs`), TCP framing
//! (`framing.rs`), stateless error responses (`stateless.rs`), fresh identifiers
//! (`identifiers.rs`), responses (`responses.rs`), header and body access (`access.rs`) and
//! printing (`print.rs`).

mod access;
mod error;
mod framing;
mod grammar;
mod head;
mod header_name;
mod identifiers;
mod limits;
mod name_addr;
mod parsing;
mod peer;
mod print;
mod responses;
mod stateless;
mod status;
mod uri;
mod via;

pub use access::{
    accepts, call_id, content_type, cseq, from_tag, header_value, header_values, remove_headers,
    set_body, set_top_via, to_tag, top_via, top_via_branch, Message,
};
pub use error::{FramingError, ParseError};
pub use framing::{frame_len, is_keepalive};
pub use grammar::{parse_params, split_commas, Params};
pub use head::method_from_str;
pub use header_name::{expand_compact, header_name_value, make_header};
pub use identifiers::{new_branch, new_call_id, new_tag};
pub use limits::{MAX_BODY, MAX_HEAD};
pub use name_addr::NameAddr;
pub use parsing::parse;
pub use peer::{Peer, Transport};
pub use print::{request_to_bytes, response_to_bytes, to_bytes};
pub use responses::{response, with_tag};
pub use stateless::{bad_request_for_raw, error_response_for_raw, ALLOW};
pub use status::{reason_phrase, status_code};
pub use uri::{parse_uri, uri_to_string};
pub use via::ViaInfo;
