//! RFC 3261 §12 dialogs: identity, route set, remote target, CSeq spaces, and building
//! in-dialog requests.
//!
//! Routing: loose routing (§12.2.1.1) when the first route has `;lr` (the usual case) and
//! strict routing (the first route becomes the Request-URI, the remote target goes last in
//! Route) otherwise. DNS is outside the sans-IO core: [`Dialog::next_hop`] returns a URI and
//! the driver resolves it.

use std::net::SocketAddr;

use rsip::{Header, Headers, Method, Request, Response, Uri};

use crate::message::{self, NameAddr, Transport};

/// RFC 3261 §12 dialog id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag; empty when the peer gave none (an RFC 2543 UAC sends
    /// no From tag: RFC 3261 §12.1.1 has it read as null).
    pub remote_tag: String,
}

/// Why a dialog could not be created or a request did not fit it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header needed to build the dialog is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header needed to build the dialog is malformed.
    #[error("malformed {name} header: {detail}")]
    BadHeader {
        /// Header name.
        name: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A tag the UAC side needs is missing: its own INVITE's From tag or the response's To tag.
    #[error("missing {0} tag")]
    MissingTag(&'static str),
    /// The request's Call-ID or tags do not belong to this dialog (answer 481).
    #[error("request does not belong to this dialog")]
    NotThisDialog,
    /// The request's CSeq is not higher than the last one seen (answer 500).
    #[error("CSeq {got} is not above the last remote CSeq {last}")]
    CSeqOutOfOrder {
        /// CSeq of the request.
        got: u32,
        /// Highest CSeq seen before.
        last: u32,
    },
}

/// Dialog state (RFC 3261 §12.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID + tags.
    pub id: DialogId,
    /// Our URI (From of our requests).
    pub local_uri: Uri,
    /// The peer's URI (To of our requests).
    pub remote_uri: Uri,
    /// The peer's Contact: Request-URI of our requests.
    pub remote_target: Uri,
    /// Route set, in the order of the Route headers of our requests.
    pub route_set: Vec<Uri>,
    /// Last CSeq number we used (0 = none yet on the UAS side; the first request uses 1).
    pub local_cseq: u32,
    /// Highest CSeq number seen from the peer.
    pub remote_cseq: Option<u32>,
    /// Our Contact URI.
    pub local_contact: Uri,
    /// From header value of our requests (display name, URI, params, our tag).
    pub local_header: String,
    /// To header value of our requests (display name, URI, params, the peer's tag).
    pub remote_header: String,
}

fn required<'a>(
    req: &'a impl rsip::message::HasHeaders,
    name: &'static str,
) -> Result<&'a str, DialogError> {
    message::header_value(req, name).ok_or(DialogError::MissingHeader(name))
}

fn name_addr(value: &str, name: &'static str) -> Result<NameAddr, DialogError> {
    NameAddr::parse(value).map_err(|detail| DialogError::BadHeader { name, detail })
}

fn uri_of(na: &NameAddr, name: &'static str) -> Result<Uri, DialogError> {
    na.parsed_uri().map_err(|e| DialogError::BadHeader {
        name,
        detail: e.to_string(),
    })
}

/// URIs of all values of the headers `name` (comma-separated values split), in order.
fn uri_list(
    msg: &impl rsip::message::HasHeaders,
    name: &'static str,
) -> Result<Vec<Uri>, DialogError> {
    let mut out = Vec::new();
    for value in message::header_values(msg, name) {
        for v in message::split_commas(value) {
            if v.is_empty() {
                continue;
            }
            out.push(uri_of(&name_addr(v, name)?, name)?);
        }
    }
    Ok(out)
}

fn contact_uri(msg: &impl rsip::message::HasHeaders) -> Result<Uri, DialogError> {
    let value = required(msg, "Contact")?;
    first_contact_uri(value)
}

fn first_contact_uri(value: &str) -> Result<Uri, DialogError> {
    let first = message::split_commas(value)
        .into_iter()
        .next()
        .unwrap_or_default();
    uri_of(&name_addr(first, "Contact")?, "Contact")
}

fn has_lr(uri: &Uri) -> bool {
    uri.params.iter().any(|p| match p {
        rsip::Param::Lr => true,
        rsip::Param::Other(name, _) => name.value().eq_ignore_ascii_case("lr"),
        _ => false,
    })
}

impl Dialog {
    /// UAS side: from the INVITE and the To tag Senim puts in its 2xx. Route set = Record-Route
    /// in order; remote target = Contact; remote CSeq = the INVITE's.
    ///
    /// RFC 2543 compatibility (RFC 4475 §3.4.1): an INVITE without a From tag makes a dialog
    /// whose remote tag is null (RFC 3261 §12.1.1: empty here, and Senim's requests then carry
    /// no tag in To, §12.2.1.1), and one without Contact (optional in RFC 2543) takes the From
    /// URI as remote target, where RFC 2543 §6.13 sent later requests.
    pub fn new_uas(
        invite: &Request,
        local_tag: &str,
        local_contact: Uri,
    ) -> Result<Dialog, DialogError> {
        let call_id = message::call_id(invite).ok_or(DialogError::MissingHeader("Call-ID"))?;
        let from = name_addr(required(invite, "From")?, "From")?;
        let mut to = name_addr(required(invite, "To")?, "To")?;
        let remote_tag = from.param("tag").unwrap_or_default().to_string();
        if to.param("tag").is_none() {
            to.set_param("tag", Some(local_tag.to_string()));
        }
        let local_tag = to.param("tag").unwrap_or(local_tag).to_string();
        let remote_cseq = message::cseq(invite)
            .ok_or(DialogError::MissingHeader("CSeq"))?
            .0;
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag,
                remote_tag,
            },
            local_uri: uri_of(&to, "To")?,
            remote_uri: uri_of(&from, "From")?,
            remote_target: match message::header_value(invite, "Contact") {
                Some(value) => first_contact_uri(value)?,
                None => uri_of(&from, "From")?,
            },
            route_set: uri_list(invite, "Record-Route")?,
            local_cseq: 0,
            remote_cseq: Some(remote_cseq),
            local_contact,
            local_header: to.to_string(),
            remote_header: from.to_string(),
        })
    }

    /// UAC side: from Senim's INVITE and the 2xx (or 1xx with a To tag) response. Route set =
    /// Record-Route of the response, reversed; remote target = the response's Contact.
    pub fn new_uac(
        invite: &Request,
        response: &Response,
        local_contact: Uri,
    ) -> Result<Dialog, DialogError> {
        let call_id = message::call_id(invite).ok_or(DialogError::MissingHeader("Call-ID"))?;
        let from = name_addr(required(invite, "From")?, "From")?;
        let to = name_addr(required(response, "To")?, "To")?;
        let local_tag = from
            .param("tag")
            .ok_or(DialogError::MissingTag("From"))?
            .to_string();
        let remote_tag = to
            .param("tag")
            .ok_or(DialogError::MissingTag("To"))?
            .to_string();
        let local_cseq = message::cseq(invite)
            .ok_or(DialogError::MissingHeader("CSeq"))?
            .0;
        let mut route_set = uri_list(response, "Record-Route")?;
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag,
                remote_tag,
            },
            local_uri: uri_of(&from, "From")?,
            remote_uri: uri_of(&to, "To")?,
            remote_target: contact_uri(response)?,
            route_set,
            local_cseq,
            remote_cseq: None,
            local_contact,
            local_header: from.to_string(),
            remote_header: to.to_string(),
        })
    }

    /// Request-URI and Route values per §12.2.1.1 (loose routing, or strict routing when the
    /// first route lacks `lr`).
    fn routing(&self) -> (Uri, Vec<Uri>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), vec![]),
            Some(first) if has_lr(first) => (self.remote_target.clone(), self.route_set.clone()),
            Some(first) => {
                let mut ruri = first.clone();
                ruri.params.retain(|p| {
                    !matches!(
                        p,
                        rsip::Param::Method(_)
                            | rsip::Param::Maddr(_)
                            | rsip::Param::Ttl(_)
                            | rsip::Param::Transport(_)
                            | rsip::Param::Lr
                    )
                });
                let mut routes: Vec<Uri> = self.route_set[1..].to_vec();
                routes.push(self.remote_target.clone());
                (ruri, routes)
            }
        }
    }

    fn build(
        &self,
        method: Method,
        cseq: u32,
        via_sent_by: SocketAddr,
        transport: Transport,
    ) -> Request {
        let (uri, routes) = self.routing();
        let sent_by = match via_sent_by {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        let mut headers: Vec<Header> = vec![
            message::make_header(
                "Via",
                &format!(
                    "SIP/2.0/{} {};branch={};rport",
                    transport.as_str(),
                    sent_by,
                    message::new_branch()
                ),
            ),
            message::make_header("Max-Forwards", "70"),
        ];
        for r in &routes {
            headers.push(message::make_header(
                "Route",
                &format!("<{}>", message::uri_to_string(r)),
            ));
        }
        headers.push(message::make_header("From", &self.local_header));
        headers.push(message::make_header("To", &self.remote_header));
        headers.push(message::make_header("Call-ID", &self.id.call_id));
        headers.push(message::make_header("CSeq", &format!("{cseq} {method}")));
        if !matches!(method, Method::Bye | Method::Cancel) {
            headers.push(message::make_header(
                "Contact",
                &format!("<{}>", message::uri_to_string(&self.local_contact)),
            ));
        }
        headers.push(message::make_header("Content-Length", "0"));
        Request {
            method,
            uri,
            version: rsip::Version::V2,
            headers: Headers::from(headers),
            body: vec![],
        }
    }

    /// A new in-dialog request (BYE, INFO, re-INVITE, REFER, ...): CSeq incremented (not for
    /// ACK/CANCEL, which reuse the current number — use [`Dialog::make_ack`] for ACK), a new Via
    /// branch with the given sent-by and transport (and `rport`), Max-Forwards 70, Route headers
    /// from the route set, Request-URI per §12.2.1.1, From/To with tags, Call-ID, Contact (not
    /// for BYE/CANCEL, per RFC 3261 Table 3), Content-Length 0. Add a body with
    /// [`message::set_body`].
    pub fn make_request(
        &mut self,
        method: Method,
        via_sent_by: SocketAddr,
        transport: Transport,
    ) -> Request {
        if !matches!(method, Method::Ack | Method::Cancel) {
            self.local_cseq = self.local_cseq.wrapping_add(1);
        }
        self.build(method, self.local_cseq, via_sent_by, transport)
    }

    /// The ACK for a 2xx to our INVITE (§13.2.2.4): same CSeq number as the INVITE, new branch.
    pub fn make_ack(
        &self,
        invite_cseq: u32,
        via_sent_by: SocketAddr,
        transport: Transport,
    ) -> Request {
        self.build(Method::Ack, invite_cseq, via_sent_by, transport)
    }

    /// Check an in-dialog request from the peer: Call-ID and tags must match, a missing From tag
    /// matching a null remote tag (else
    /// [`DialogError::NotThisDialog`], answer 481), CSeq must be above the last one (else
    /// [`DialogError::CSeqOutOfOrder`], answer 500; ACK and CANCEL are exempt). Updates the remote
    /// CSeq and, for target refresh requests (re-INVITE, UPDATE, SUBSCRIBE, NOTIFY) with a Contact,
    /// the remote target.
    pub fn on_request(&mut self, request: &Request) -> Result<(), DialogError> {
        let same = message::call_id(request).as_deref() == Some(self.id.call_id.as_str())
            && message::from_tag(request).unwrap_or_default() == self.id.remote_tag
            && message::to_tag(request).as_deref() == Some(self.id.local_tag.as_str());
        if !same {
            return Err(DialogError::NotThisDialog);
        }
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let (n, _) = message::cseq(request).ok_or(DialogError::MissingHeader("CSeq"))?;
        if let Some(last) = self.remote_cseq {
            if n <= last {
                return Err(DialogError::CSeqOutOfOrder { got: n, last });
            }
        }
        self.remote_cseq = Some(n);
        if matches!(
            request.method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Notify
        ) && message::header_value(request, "Contact").is_some()
        {
            self.remote_target = contact_uri(request)?;
        }
        Ok(())
    }

    /// For a 2xx response to our target refresh request (re-INVITE, UPDATE): take the new
    /// remote target from its Contact, if any.
    pub fn on_refresh_response(&mut self, response: &Response) -> Result<(), DialogError> {
        if (200..300).contains(&response.status_code.code())
            && message::header_value(response, "Contact").is_some()
        {
            self.remote_target = contact_uri(response)?;
        }
        Ok(())
    }

    /// Where to send in-dialog requests: the first route's URI if any, else the remote target.
    pub fn next_hop(&self) -> &Uri {
        self.route_set.first().unwrap_or(&self.remote_target)
    }
}

/// Dialog id of a request as seen by a UAS (local tag = To tag, remote = From tag, null when
/// absent as in [`Dialog::new_uas`]); `None` if the To tag or the Call-ID is missing.
pub fn uas_dialog_id(request: &Request) -> Option<DialogId> {
    Some(DialogId {
        call_id: message::call_id(request)?,
        local_tag: message::to_tag(request)?,
        remote_tag: message::from_tag(request).unwrap_or_default(),
    })
}

/// Dialog id of a response as seen by the UAC (local tag = From tag, remote = To tag).
pub fn uac_dialog_id(response: &Response) -> Option<DialogId> {
    Some(DialogId {
        call_id: message::call_id(response)?,
        local_tag: message::from_tag(response)?,
        remote_tag: message::to_tag(response)?,
    })
}
