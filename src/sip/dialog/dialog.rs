//! One dialog (RFC 3261 §12): id, state, CSeq spaces, route set and remote target, in-dialog
//! request validation and building (with loose and strict routing), and the ACK for a 2xx.

use crate::sip::message::{ContactValue, Method, NameAddr, SipMessage};

/// Call-ID plus local and remote tags (§12: the tags are swapped between the two ends).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The id a request we *received* belongs to: local = To tag, remote = From tag.
    pub fn for_incoming_request(req: &SipMessage) -> Result<Self, DialogError> {
        Ok(DialogId {
            call_id: req
                .call_id()
                .map_err(|_| DialogError::Missing("Call-ID"))?
                .to_owned(),
            local_tag: tag_of(req.to()).ok_or(DialogError::Missing("To tag"))?,
            remote_tag: tag_of(req.from()).ok_or(DialogError::Missing("From tag"))?,
        })
    }

    /// The id a response to *our* request belongs to: local = From tag, remote = To tag.
    pub fn for_incoming_response(resp: &SipMessage) -> Result<Self, DialogError> {
        Ok(DialogId {
            call_id: resp
                .call_id()
                .map_err(|_| DialogError::Missing("Call-ID"))?
                .to_owned(),
            local_tag: tag_of(resp.from()).ok_or(DialogError::Missing("From tag"))?,
            remote_tag: tag_of(resp.to()).ok_or(DialogError::Missing("To tag"))?,
        })
    }
}

fn tag_of<E>(h: Result<NameAddr<'_>, E>) -> Option<String> {
    h.ok().and_then(|n| n.tag().map(str::to_owned))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
    Terminated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogRole {
    Uac,
    Uas,
}

/// Why a dialog could not be made or a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("missing or malformed {0}")]
    Missing(&'static str),
    #[error("response does not create a dialog")]
    NotDialogCreating,
    #[error("CSeq lower than the last one in this dialog")]
    LowerCSeq,
    #[error("request does not belong to this dialog")]
    WrongDialog,
    #[error("dialog is terminated")]
    Terminated,
    #[error("bad URI: {0}")]
    BadUri(&'static str),
}

impl DialogError {
    /// The response code to refuse an in-dialog request with (§12.2.2).
    pub fn status_code(&self) -> u16 {
        match self {
            DialogError::LowerCSeq => 500,
            DialogError::WrongDialog | DialogError::Terminated => 481,
            _ => 400,
        }
    }
}

/// Dialog state for one leg.
#[derive(Clone, Debug)]
pub struct Dialog {
    pub id: DialogId,
    pub role: DialogRole,
    pub state: DialogState,
    /// Our From (UAC) / To (UAS) header value, with our tag: the From of our requests.
    pub local: String,
    /// Their header value with their tag: the To of our requests.
    pub remote: String,
    /// The last CSeq we used; `None` until we send a request (UAS).
    pub local_seq: Option<u32>,
    /// The highest CSeq received in the dialog.
    pub remote_seq: Option<u32>,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: String,
    /// Route set: each value a name-addr `<uri;lr>`, in the order our requests carry them.
    pub route_set: Vec<String>,
    /// Our Contact header value for target-refresh requests.
    pub local_contact: String,
    /// Request-URI was sips (§12.1.1).
    pub secure: bool,
}

fn uri_of_contact(msg: &SipMessage) -> Option<String> {
    msg.contacts().ok()?.into_iter().find_map(|c| match c {
        ContactValue::Addr(a) => Some(a.uri.as_str().to_owned()),
        ContactValue::Star => None,
    })
}

fn header_string(msg: &SipMessage, name: &'static str) -> Result<String, DialogError> {
    msg.header(name)
        .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        .ok_or(DialogError::Missing(name))
}

fn route_values(msg: &SipMessage) -> Result<Vec<String>, DialogError> {
    let rr = msg
        .record_routes()
        .map_err(|_| DialogError::Missing("Record-Route"))?;
    Ok(rr
        .into_iter()
        .map(|n| {
            let mut s = format!("<{}>", n.uri.as_str());
            if !n.params.is_empty() {
                s.push(';');
                s.push_str(n.params.as_str().trim_start_matches(';'));
            }
            s
        })
        .collect())
}

/// The URI inside a route value `<uri>;params`.
fn route_uri(route: &str) -> &str {
    let r = route.trim();
    match (r.find('<'), r.find('>')) {
        (Some(a), Some(b)) if a < b => &r[a + 1..b],
        _ => r.split(';').next().unwrap_or(r),
    }
}

fn is_loose(route: &str) -> bool {
    let uri = route_uri(route);
    uri.split(';').skip(1).any(|p| {
        p.trim().eq_ignore_ascii_case("lr") || p.trim().to_ascii_lowercase().starts_with("lr=")
    })
}

/// Methods whose Contact replaces the remote target (§12.2, RFC 3311, RFC 3515/6665).
pub fn is_target_refresh(m: &Method) -> bool {
    matches!(
        m,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

impl Dialog {
    /// UAC side: from the INVITE we sent and a 1xx (with To tag) or 2xx response to it (§12.1.2).
    pub fn uac(request: &SipMessage, response: &SipMessage) -> Result<Self, DialogError> {
        let code = response.status_code().unwrap_or(0);
        let state = match code {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            _ => return Err(DialogError::NotDialogCreating),
        };
        let id = DialogId::for_incoming_response(response)?;
        let mut route_set = route_values(response)?;
        route_set.reverse();
        let remote_target = uri_of_contact(response).ok_or(DialogError::Missing("Contact"))?;
        Ok(Dialog {
            id,
            role: DialogRole::Uac,
            state,
            local: header_string(request, "From")?,
            remote: header_string(response, "To")?,
            local_seq: Some(
                request
                    .cseq()
                    .map_err(|_| DialogError::Missing("CSeq"))?
                    .seq,
            ),
            remote_seq: None,
            remote_target,
            route_set,
            local_contact: header_string(request, "Contact")?,
            secure: request
                .request_uri()
                .is_some_and(|u| u.scheme().eq_ignore_ascii_case("sips")),
        })
    }

    /// UAS side: from the request we received and the 1xx/2xx we send (which carries our To tag).
    pub fn uas(
        request: &SipMessage,
        response: &SipMessage,
        local_contact: &str,
    ) -> Result<Self, DialogError> {
        let code = response.status_code().unwrap_or(0);
        let state = match code {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            _ => return Err(DialogError::NotDialogCreating),
        };
        let id = DialogId {
            call_id: request
                .call_id()
                .map_err(|_| DialogError::Missing("Call-ID"))?
                .to_owned(),
            local_tag: tag_of(response.to()).ok_or(DialogError::Missing("To tag"))?,
            remote_tag: tag_of(request.from()).ok_or(DialogError::Missing("From tag"))?,
        };
        Ok(Dialog {
            id,
            role: DialogRole::Uas,
            state,
            local: header_string(response, "To")?,
            remote: header_string(request, "From")?,
            local_seq: None,
            remote_seq: Some(
                request
                    .cseq()
                    .map_err(|_| DialogError::Missing("CSeq"))?
                    .seq,
            ),
            remote_target: uri_of_contact(request).ok_or(DialogError::Missing("Contact"))?,
            route_set: route_values(request)?,
            local_contact: local_contact.to_owned(),
            secure: request
                .request_uri()
                .is_some_and(|u| u.scheme().eq_ignore_ascii_case("sips")),
        })
    }

    /// A later response to the dialog-creating INVITE (UAC): an early dialog is confirmed by a 2xx
    /// (route set recomputed from it, §13.2.2.4) or ended by a non-2xx final. Any Contact refreshes
    /// the remote target.
    pub fn on_invite_response(&mut self, response: &SipMessage) -> Result<(), DialogError> {
        if DialogId::for_incoming_response(response)? != self.id {
            return Err(DialogError::WrongDialog);
        }
        let code = response.status_code().unwrap_or(0);
        if let Some(target) = uri_of_contact(response) {
            self.remote_target = target;
        }
        match (self.state, code) {
            (DialogState::Early, 200..=299) => {
                let mut routes = route_values(response)?;
                routes.reverse();
                self.route_set = routes;
                self.state = DialogState::Confirmed;
            }
            (DialogState::Early, 300..=699) => self.state = DialogState::Terminated,
            _ => {}
        }
        Ok(())
    }

    /// A 2xx to a target-refresh request we sent (re-INVITE, UPDATE): adopt its Contact.
    pub fn on_refresh_response(&mut self, response: &SipMessage) {
        if (200..300).contains(&response.status_code().unwrap_or(0)) {
            if let Some(target) = uri_of_contact(response) {
                self.remote_target = target;
            }
        }
    }

    /// A final response to any request we sent inside the dialog: a 2xx to a target refresh
    /// adopts its Contact; 481 or 408 means the peer lost the dialog, so it ends (§12.2.1.2).
    pub fn on_response(&mut self, response: &SipMessage) {
        let code = response.status_code().unwrap_or(0);
        match code {
            200..=299 if response.cseq().is_ok_and(|c| is_target_refresh(&c.method)) => {
                self.on_refresh_response(response)
            }
            408 | 481 => self.state = DialogState::Terminated,
            _ => {}
        }
    }

    /// UAS: a response we send to the dialog-creating INVITE. A 2xx confirms an early dialog,
    /// a non-2xx final ends it.
    pub fn on_sent_response(&mut self, response: &SipMessage) {
        match (self.state, response.status_code().unwrap_or(0)) {
            (DialogState::Early, 200..=299) => self.state = DialogState::Confirmed,
            (DialogState::Early, 300..=699) => self.state = DialogState::Terminated,
            _ => {}
        }
    }

    /// Validates a request received in this dialog (§12.2.2) and records its CSeq. ACK and CANCEL
    /// reuse the INVITE's number and are not checked. Errors carry the status to answer with.
    pub fn on_request(&mut self, req: &SipMessage) -> Result<(), DialogError> {
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        if DialogId::for_incoming_request(req)? != self.id {
            return Err(DialogError::WrongDialog);
        }
        let method = req.method().ok_or(DialogError::Missing("method"))?;
        let cseq = req.cseq().map_err(|_| DialogError::Missing("CSeq"))?;
        if matches!(method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if self.remote_seq.is_some_and(|r| cseq.seq < r) {
            return Err(DialogError::LowerCSeq);
        }
        self.remote_seq = Some(cseq.seq);
        if is_target_refresh(method) {
            if let Some(target) = uri_of_contact(req) {
                self.remote_target = target;
            }
        }
        if *method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        Ok(())
    }

    /// The next local CSeq (a UAS that never sent one starts at 1).
    pub fn next_cseq(&mut self) -> u32 {
        let n = self
            .local_seq
            .map_or(1, |s| s.wrapping_add(1) & 0x7fff_ffff);
        self.local_seq = Some(n);
        n
    }

    /// Request-URI and Route values per §12.2.1.1: loose routing keeps the remote target as
    /// Request-URI; a strict first hop becomes the Request-URI and the target the last Route.
    pub fn request_target(&self) -> (String, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if is_loose(first) => (self.remote_target.clone(), self.route_set.clone()),
            Some(first) => {
                let ruri = strip_uri_params_for_request(route_uri(first));
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (ruri, routes)
            }
        }
    }

    /// The URI to resolve for sending (§8.1.2): the first Route, else the Request-URI.
    pub fn next_hop(&self) -> String {
        match self.route_set.first() {
            Some(first) if is_loose(first) => route_uri(first).to_owned(),
            _ => self.request_target().0,
        }
    }

    /// Builds an in-dialog request (BYE, re-INVITE, UPDATE, INFO, OPTIONS, REFER, NOTIFY...)
    /// with the next CSeq. `via` is the full top Via value (sent-by and a fresh branch).
    /// ACK and CANCEL are refused: use [`Self::ack`] and the transaction layer's CANCEL.
    pub fn request(&mut self, method: Method, via: &str) -> Result<SipMessage, DialogError> {
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(DialogError::BadUri("ACK/CANCEL are not built here"));
        }
        let seq = self.next_cseq();
        let mut msg = self.base_request(method.clone(), via, seq)?;
        if is_target_refresh(&method) {
            msg.push_header("Contact", self.local_contact.as_str());
        }
        Ok(msg)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_seq` (§13.2.2.4): same CSeq number,
    /// method ACK, a new branch in `via`, and the dialog's Request-URI and Route set.
    pub fn ack(&self, invite_seq: u32, via: &str) -> Result<SipMessage, DialogError> {
        self.base_request(Method::Ack, via, invite_seq)
    }

    fn base_request(&self, method: Method, via: &str, seq: u32) -> Result<SipMessage, DialogError> {
        let (ruri, routes) = self.request_target();
        let mut msg = SipMessage::request(method.clone(), &ruri)
            .map_err(|_| DialogError::BadUri("remote target or route is not a valid URI"))?;
        msg.push_header("Via", via);
        msg.push_header("Max-Forwards", "70");
        for r in &routes {
            msg.push_header("Route", r.as_str());
        }
        msg.push_header("From", self.local.as_str());
        msg.push_header("To", self.remote.as_str());
        msg.push_header("Call-ID", self.id.call_id.as_str());
        msg.push_header("CSeq", format!("{seq} {method}"));
        Ok(msg)
    }

    /// Ends the dialog (BYE sent or received, or the session expired).
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }
}

/// A strict router's URI as a Request-URI: `method`, `maddr`-style params are fine, but URI
/// headers (`?...`) are not allowed there (§19.1.1, §12.2.1.1).
fn strip_uri_params_for_request(uri: &str) -> String {
    uri.split('?').next().unwrap_or(uri).to_owned()
}
