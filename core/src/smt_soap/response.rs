//! SMT's answer to `processMeterUsage`, read into what the caller does next: fetch a file
//! (synchronous answer), wait for a file on the FTPS/SFTP site (asynchronous answer), retry, or
//! give up.
//!
//! The reply is matched by local element names: namespace prefixes vary between SOAP stacks
//! (the seed's samples use `soapenv:` and `me:`), so no prefix or namespace is relied on. Values
//! are trimmed, since the seed's own sample has a newline and a blank line inside
//! `correlationId`; messages (`statusMessage`, `faultstring`) have their runs of whitespace
//! folded to one space. Entity and character references are resolved, CDATA is kept as text.
//! Nothing else is tolerated silently: a reply that is neither answer is [`SoapError::Malformed`]
//! naming what was found.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// What SMT answered to a `processMeterUsage` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeterUsageResponse {
    /// Synchronous answer (one ESIID, at most 40 days): the path of the report file SMT wrote,
    /// as given in `MeterUsageResponse/fileUrl/fileUrl`.
    FileUrl(String),
    /// Asynchronous answer: SMT accepted the request and will post the report on the
    /// requester's FTPS (today SFTP) site; `correlationId` ties that file to this request.
    Accepted {
        correlation_id: String,
        /// `statusCode` as SMT wrote it (`0`; empty when SMT left it out).
        status_code: String,
        /// `statusMessage`, e.g. "Data record completed successfully".
        status_message: Option<String>,
    },
}

/// A reply that carries no answer, said why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    /// A SOAP fault (`faultcode`, `faultstring`; SOAP 1.2 `Code/Value`, `Reason/Text` too).
    #[error("SOAP fault {code}: {message}")]
    Fault { code: String, message: String },
    /// SMT answered but refused the request: a `statusCode` other than 0, with SMT's words.
    #[error("SMT refused the request (statusCode {status_code}): {message}")]
    Refused {
        status_code: String,
        message: String,
    },
    /// Not XML, not a SOAP envelope, or an envelope without either answer.
    #[error("malformed SMT SOAP reply: {0}")]
    Malformed(String),
}

impl SoapError {
    /// Whether sending the same request again later can help: only a fault the server blames
    /// on itself (SOAP 1.1 `Server`, its dotted refinements such as `Server.Timeout`, SOAP 1.2
    /// `Receiver`). A `Client` fault, a refusal (non-zero `statusCode`) or a malformed reply
    /// would come back the same.
    pub fn is_retryable(&self) -> bool {
        match self {
            SoapError::Fault { code, .. } => {
                let local = code.rsplit(':').next().unwrap_or(code).trim();
                local.ends_with("Server") || local.starts_with("Server.") || local == "Receiver"
            }
            SoapError::Refused { .. } | SoapError::Malformed(_) => false,
        }
    }
}

/// Reads SMT's reply to `processMeterUsage`.
///
/// A fault wins over anything else in the body; then a non-empty `fileUrl` inside
/// `MeterUsageResponse` (nested `fileUrl/fileUrl` as the seed shows, or a single level); then
/// `MeterUsageSOAPResponse`: accepted when `statusCode` is 0 (or empty while a `correlationId`
/// is given), refused otherwise.
pub fn parse_response(xml: &[u8]) -> Result<MeterUsageResponse, SoapError> {
    let found = Found::read(xml)?;
    found.answer()
}

/// What the reply holds, gathered in one pass.
#[derive(Default)]
struct Found {
    /// Local name of the root element.
    root: Option<String>,
    /// Local names of the `Body`'s children, in order.
    body_children: Vec<String>,
    has_body: bool,
    fault: Option<Fault>,
    usage: Part,
    soap_response: Part,
    file_url: Option<String>,
    correlation_id: Option<String>,
    status_code: Option<String>,
    status_message: Option<String>,
}

#[derive(Default)]
struct Fault {
    code: Option<String>,
    message: Option<String>,
}

/// How one of the two answer elements appeared.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Part {
    #[default]
    Absent,
    /// `xsi:nil="true"`.
    Nil,
    /// Present, possibly without content.
    Present,
}

impl Part {
    fn describe(self) -> &'static str {
        match self {
            Part::Absent => "absent",
            Part::Nil => "nil",
            Part::Present => "empty",
        }
    }
}

/// An open element: its local name and the text directly inside it so far.
struct Frame {
    name: String,
    text: String,
}

fn is(name: &str, wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted)
}

fn local_name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_string()
}

/// Whether an element carries `nil="true"` (any prefix).
fn is_nil(e: &BytesStart<'_>) -> bool {
    e.attributes().flatten().any(|a| {
        is(a.key.local_name().as_ref(), "nil")
            && matches!(
                a.normalized_value(XmlVersion::Implicit1_0)
                    .as_deref()
                    .map(str::trim),
                Ok("true") | Ok("1")
            )
    })
}

/// The start of a reply for messages, at most 200 characters.
fn head(xml: &[u8]) -> String {
    String::from_utf8_lossy(&xml[..xml.len().min(200)]).into_owned()
}

/// Runs of whitespace folded to one space, ends trimmed.
fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Found {
    fn read(xml: &[u8]) -> Result<Found, SoapError> {
        let not_xml = |why: String| {
            SoapError::Malformed(format!("not XML ({why}); the reply begins {:?}", head(xml)))
        };
        let text = std::str::from_utf8(xml).map_err(|e| not_xml(format!("not UTF-8: {e}")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = Reader::from_str(text);
        let mut found = Found::default();
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let event = reader
                .read_event()
                .map_err(|e| not_xml(format!("{e} at byte {}", reader.error_position())))?;
            match event {
                Event::Start(e) => {
                    found.open(&stack, &e);
                    stack.push(Frame {
                        name: local_name(&e),
                        text: String::new(),
                    });
                }
                Event::Empty(e) => {
                    found.open(&stack, &e);
                    let frame = Frame {
                        name: local_name(&e),
                        text: String::new(),
                    };
                    found.close(&stack, frame);
                }
                Event::End(_) => {
                    // quick-xml checks that the end tag matches the open one.
                    if let Some(frame) = stack.pop() {
                        found.close(&stack, frame);
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => quick_xml::escape::resolve_predefined_entity(&r)
                            .ok_or_else(|| not_xml(format!("unknown entity &{};", &*r)))?
                            .to_string(),
                        Err(e) => return Err(not_xml(format!("bad character reference: {e}"))),
                    };
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        if let Some(open) = stack.last() {
            return Err(not_xml(format!("it ends inside <{}>", open.name)));
        }
        Ok(found)
    }

    /// An element starts with `stack` its ancestors.
    fn open(&mut self, stack: &[Frame], e: &BytesStart<'_>) {
        let name = local_name(e);
        if stack.is_empty() && self.root.is_none() {
            self.root = Some(name.clone());
        }
        if stack.len() == 2 && self.in_body(stack) {
            self.body_children.push(name.clone());
        }
        if is(&name, "Body") && stack.len() == 1 && self.in_envelope(stack) {
            self.has_body = true;
        }
        if !self.in_body(stack) {
            return;
        }
        let part = if is_nil(e) { Part::Nil } else { Part::Present };
        if is(&name, "Fault") && self.fault.is_none() {
            self.fault = Some(Fault::default());
        } else if is(&name, "MeterUsageResponse") && self.usage != Part::Present {
            self.usage = part;
        } else if is(&name, "MeterUsageSOAPResponse") && self.soap_response != Part::Present {
            self.soap_response = part;
        }
    }

    /// An element ends (`frame`), with `stack` its ancestors.
    fn close(&mut self, stack: &[Frame], frame: Frame) {
        if !self.in_body(stack) {
            return;
        }
        let within = |ancestor: &str| stack.iter().any(|f| is(&f.name, ancestor));
        let value = frame.text.trim();
        let set = |slot: &mut Option<String>, value: String| {
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value);
            }
        };
        let name = frame.name.as_str();
        if within("Fault") {
            let fault = self.fault.get_or_insert_with(Fault::default);
            let parent = stack.last().map(|f| f.name.as_str()).unwrap_or("");
            // SOAP 1.1 faultcode / faultstring; SOAP 1.2 Code/Value and Reason/Text.
            if is(name, "faultcode") || (is(name, "Value") && is(parent, "Code")) {
                set(&mut fault.code, value.to_string());
            } else if is(name, "faultstring") || (is(name, "Text") && is(parent, "Reason")) {
                set(&mut fault.message, fold(value));
            }
        } else if within("MeterUsageResponse") && is(name, "fileUrl") {
            // The inner fileUrl ends first: it wins over the outer one's whitespace.
            set(&mut self.file_url, value.to_string());
        } else if within("MeterUsageSOAPResponse") {
            if is(name, "correlationId") {
                set(&mut self.correlation_id, value.to_string());
            } else if is(name, "statusCode") {
                set(&mut self.status_code, value.to_string());
            } else if is(name, "statusMessage") {
                set(&mut self.status_message, fold(value));
            }
        }
    }

    fn in_envelope(&self, stack: &[Frame]) -> bool {
        stack.first().is_some_and(|f| is(&f.name, "Envelope"))
    }

    /// Whether `stack` (the ancestors of an element) puts it inside `Envelope/Body`.
    fn in_body(&self, stack: &[Frame]) -> bool {
        self.in_envelope(stack) && stack.get(1).is_some_and(|f| is(&f.name, "Body"))
    }

    fn answer(self) -> Result<MeterUsageResponse, SoapError> {
        match self.root.as_deref() {
            None => return Err(SoapError::Malformed("no element at all".into())),
            Some(root) if !is(root, "Envelope") => {
                return Err(SoapError::Malformed(format!(
                    "no SOAP Envelope: the root element is <{root}>"
                )))
            }
            Some(_) => {}
        }
        if !self.has_body {
            return Err(SoapError::Malformed(
                "a SOAP Envelope without a Body".into(),
            ));
        }
        if let Some(fault) = self.fault {
            return Err(SoapError::Fault {
                code: fault.code.unwrap_or_default(),
                message: fault.message.unwrap_or_default(),
            });
        }
        if let Some(url) = self.file_url {
            return Ok(MeterUsageResponse::FileUrl(url));
        }
        if self.soap_response == Part::Present {
            let code = self.status_code.clone().unwrap_or_default();
            let zero = !code.is_empty() && code.bytes().all(|b| b == b'0');
            match (zero, code.is_empty(), self.correlation_id) {
                (true, _, Some(id)) | (_, true, Some(id)) => {
                    return Ok(MeterUsageResponse::Accepted {
                        correlation_id: id,
                        status_code: code,
                        status_message: self.status_message,
                    })
                }
                (false, false, _) => {
                    return Err(SoapError::Refused {
                        status_code: code,
                        message: self.status_message.unwrap_or_default(),
                    })
                }
                (true, _, None) => {
                    return Err(SoapError::Malformed(format!(
                        "MeterUsageSOAPResponse has statusCode {code} but no correlationId"
                    )))
                }
                (false, true, None) => {}
            }
        }
        let body = if self.body_children.is_empty() {
            "an empty Body".to_string()
        } else {
            format!("a Body holding <{}>", self.body_children.join(">, <"))
        };
        Err(SoapError::Malformed(format!(
            "neither a fileUrl nor a correlationId: {body}, MeterUsageResponse {}, \
             MeterUsageSOAPResponse {}",
            self.usage.describe(),
            self.soap_response.describe(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_URL: &str =
        "/data/AdhocMeterUsage/ETL/Target/IntervalMeterUsage95fd7afcb176a6cb7afafac4.CSV.957877905";

    /// A reply in the seed's envelope, `inner` inside `processMeterUsageResponse`.
    fn reply(inner: &str) -> String {
        format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<soapenv:Header/>\n\
             <soapenv:Body>\n<me:processMeterUsageResponse \
             xmlns:me=\"http://schemas.esb.ams.com/meterusagesource\">\n{inner}\n\
             </me:processMeterUsageResponse>\n</soapenv:Body>\n</soapenv:Envelope>\n"
        )
    }

    fn fault(code: &str, message: &str) -> String {
        format!(
            "<S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\"><S:Body>\
             <S:Fault><faultcode>{code}</faultcode><faultstring>{message}</faultstring>\
             </S:Fault></S:Body></S:Envelope>"
        )
    }

    fn malformed(xml: &str) -> String {
        match parse_response(xml.as_bytes()) {
            Err(SoapError::Malformed(why)) => why,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn seed_synchronous_reply_is_a_file_url() {
        let xml = include_bytes!("golden/response_file_url.xml");
        assert_eq!(
            parse_response(xml),
            Ok(MeterUsageResponse::FileUrl(SEED_URL.into()))
        );
    }

    #[test]
    fn seed_asynchronous_reply_is_accepted() {
        let xml = include_bytes!("golden/response_accepted.xml");
        assert_eq!(
            parse_response(xml),
            Ok(MeterUsageResponse::Accepted {
                correlation_id: "47c765fdccbab4c36399d7ab".into(),
                status_code: "0".into(),
                status_message: Some("Data record completed successfully".into()),
            })
        );
    }

    #[test]
    fn single_level_file_url_any_prefix_and_whitespace() {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<env:Envelope xmlns:env=\"x\"><env:Body><ns2:r xmlns:ns2=\"y\">\
             <ns2:MeterUsageResponse><ns2:fileUrl>\n  {SEED_URL}\n </ns2:fileUrl>\
             </ns2:MeterUsageResponse></ns2:r></env:Body></env:Envelope>"
        );
        assert_eq!(
            parse_response(xml.as_bytes()),
            Ok(MeterUsageResponse::FileUrl(SEED_URL.into()))
        );
    }

    #[test]
    fn references_and_cdata_are_resolved() {
        let xml = reply(
            "<MeterUsageResponse><fileUrl><fileUrl>/a&amp;b/&#x63;<![CDATA[<d>]]></fileUrl>\
             </fileUrl></MeterUsageResponse>",
        );
        assert_eq!(
            parse_response(xml.as_bytes()),
            Ok(MeterUsageResponse::FileUrl("/a&b/c<d>".into()))
        );
    }

    #[test]
    fn message_whitespace_is_folded_as_in_the_pdf() {
        let xml = reply(
            "<MeterUsageResponse xsi:nil=\"true\"/><MeterUsageSOAPResponse>\
             <correlationId> abc </correlationId><statusCode> 0 </statusCode>\
             <statusMessage>Data record completed \n\nsuccessfully</statusMessage>\
             </MeterUsageSOAPResponse>",
        );
        assert_eq!(
            parse_response(xml.as_bytes()),
            Ok(MeterUsageResponse::Accepted {
                correlation_id: "abc".into(),
                status_code: "0".into(),
                status_message: Some("Data record completed successfully".into()),
            })
        );
    }

    #[test]
    fn empty_status_code_with_a_correlation_id_is_accepted() {
        let xml = reply(
            "<MeterUsageSOAPResponse><correlationId>abc</correlationId><statusCode/>\
             </MeterUsageSOAPResponse>",
        );
        assert_eq!(
            parse_response(xml.as_bytes()),
            Ok(MeterUsageResponse::Accepted {
                correlation_id: "abc".into(),
                status_code: String::new(),
                status_message: None,
            })
        );
    }

    #[test]
    fn non_zero_status_is_refused_with_smt_words() {
        let xml = reply(
            "<MeterUsageResponse xsi:nil=\"true\"/><MeterUsageSOAPResponse>\
             <correlationId/><statusCode>12</statusCode>\
             <statusMessage>User not authorized for ESIID</statusMessage>\
             </MeterUsageSOAPResponse>",
        );
        let err = parse_response(xml.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            SoapError::Refused {
                status_code: "12".into(),
                message: "User not authorized for ESIID".into(),
            }
        );
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("User not authorized for ESIID"));
    }

    #[test]
    fn zero_status_without_correlation_id_is_malformed() {
        let why = malformed(&reply(
            "<MeterUsageSOAPResponse><statusCode>0</statusCode></MeterUsageSOAPResponse>",
        ));
        assert!(why.contains("no correlationId"), "{why}");
    }

    #[test]
    fn server_fault_is_retryable_client_fault_is_not() {
        let err =
            parse_response(fault("soapenv:Server", "ESB  unavailable\n").as_bytes()).unwrap_err();
        assert_eq!(
            err,
            SoapError::Fault {
                code: "soapenv:Server".into(),
                message: "ESB unavailable".into(),
            }
        );
        assert!(err.is_retryable());
        let err = parse_response(fault("soapenv:Client", "bad ESIID").as_bytes()).unwrap_err();
        assert!(matches!(&err, SoapError::Fault { code, .. } if code == "soapenv:Client"));
        assert!(!err.is_retryable());
        for code in ["Server", "S:Server.Timeout", "env:Receiver"] {
            let err = parse_response(fault(code, "x").as_bytes()).unwrap_err();
            assert!(err.is_retryable(), "{code}");
        }
        assert!(!SoapError::Malformed("x".into()).is_retryable());
    }

    #[test]
    fn soap12_fault() {
        let xml = "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body>\
                   <e:Fault><e:Code><e:Value>e:Receiver</e:Value></e:Code>\
                   <e:Reason><e:Text xml:lang=\"en\">busy</e:Text></e:Reason></e:Fault>\
                   </e:Body></e:Envelope>";
        let err = parse_response(xml.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            SoapError::Fault {
                code: "e:Receiver".into(),
                message: "busy".into()
            }
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn both_answers_nil_is_malformed() {
        let why = malformed(&reply(
            "<MeterUsageResponse xsi:nil=\"true\"/><MeterUsageSOAPResponse xsi:nil=\"true\"/>",
        ));
        assert!(why.contains("<processMeterUsageResponse>"), "{why}");
        assert!(why.contains("MeterUsageResponse nil"), "{why}");
        assert!(why.contains("MeterUsageSOAPResponse nil"), "{why}");
        let why = malformed(&reply(
            "<MeterUsageResponse><fileUrl><fileUrl> </fileUrl></fileUrl></MeterUsageResponse>\
             <MeterUsageSOAPResponse/>",
        ));
        assert!(why.contains("MeterUsageResponse empty"), "{why}");
        let why = malformed(&reply(""));
        assert!(why.contains("absent"), "{why}");
    }

    #[test]
    fn not_xml_or_not_soap_is_malformed() {
        assert!(malformed("").contains("no element"));
        assert!(malformed("<html><body>502 Bad Gateway</body></html>").contains("<html>"));
        assert!(malformed("not xml at all").contains("no element"));
        assert!(malformed("<a><b></a>").contains("not XML"));
        assert!(malformed("<soapenv:Envelope><soapenv:Body>").contains("ends inside"));
        assert!(malformed("<Envelope><Header/></Envelope>").contains("without a Body"));
        assert!(malformed("<Envelope><Body>&bogus;</Body></Envelope>").contains("&bogus;"));
        let why = match parse_response(b"<Envelope>\xff</Envelope>") {
            Err(SoapError::Malformed(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(why.contains("UTF-8"), "{why}");
    }

    #[test]
    fn elements_outside_the_body_are_ignored() {
        let xml = "<Envelope><Header><MeterUsageResponse><fileUrl>/x</fileUrl>\
                   </MeterUsageResponse></Header><Body/></Envelope>";
        assert!(malformed(xml).contains("an empty Body"));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let mut xml = "\u{feff}".as_bytes().to_vec();
        xml.extend_from_slice(include_bytes!("golden/response_file_url.xml"));
        assert_eq!(
            parse_response(&xml),
            Ok(MeterUsageResponse::FileUrl(SEED_URL.into()))
        );
    }
}
