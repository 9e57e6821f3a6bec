//! The SOAP request of SMT's ad hoc meter usage web service (`processMeterUsage`), written the
//! way seeds/001 shows it.
//!
//! The envelope is written with quick-xml's writer, not by string formatting, so that every
//! value (user id, ESIID, report format, password) is escaped: a value is never markup. The
//! element structure and order are the seed's exactly, because the service is an ESB behind a
//! schema we do not have: the seed's samples are the only contract we can check against.

use std::fmt;
use std::io;

use chrono::NaiveDate;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// SOAP 1.1 envelope namespace (`soapenv:`), as in the seed's samples.
pub const SOAPENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Namespace of the meter usage service (`met:processMeterUsage`).
pub const METER_USAGE_NS: &str = "http://schemas.esb.ams.com/meterusagesource";
/// WS-Security 1.0 extension namespace (`wsse:`), as in the seed's HAN API header samples.
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// The `Type` of a plain-text `wsse:Password` (UsernameToken profile 1.0).
pub const PASSWORD_TEXT_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

/// Which usage a report range asks for; SMT spells them in capitals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportType {
    /// 15-minute interval usage.
    Interval,
    /// Daily register reads (daily usage).
    Daily,
    /// Monthly (billing) usage.
    Monthly,
}

impl ReportType {
    /// Every report type, in SMT's order.
    pub const ALL: [ReportType; 3] = [ReportType::Interval, ReportType::Daily, ReportType::Monthly];

    /// The word SMT expects in `reportType`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportType::Interval => "INTERVAL",
            ReportType::Daily => "DAILY",
            ReportType::Monthly => "MONTHLY",
        }
    }

    /// Reads SMT's word for a report type, whatever its case and surrounding blanks; `None` for
    /// any other word.
    pub fn parse(text: &str) -> Option<ReportType> {
        let text = text.trim();
        ReportType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for ReportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `reportTypeArray` entry: a report type over the operating days `start..=end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRange {
    pub report_type: ReportType,
    /// First operating day asked for (written `MM/DD/YYYY`).
    pub start: NaiveDate,
    /// Last operating day asked for, included (written `MM/DD/YYYY`).
    pub end: NaiveDate,
}

/// The content of `MeterUsageReqList`. Nothing is checked here: [`super::limits`] says whether
/// a request stays within SMT's limits and whether it is answered synchronously.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterUsageRequest {
    /// The SMT user (`userId`), e.g. `JONBREZON` in the seed.
    pub user_id: String,
    /// The kind of user (`userType`), e.g. `RES` in the seed.
    pub user_type: String,
    /// The report ranges (`reportTypeArray`; the seed allows zero or more).
    pub reports: Vec<ReportRange>,
    /// `reportFormat` (`CSV`, or `LSE`/`MARS`); the element is left out when `None` (the seed
    /// marks it optional).
    pub report_format: Option<String>,
    /// The ESIIDs (`ESIIDArray`; the seed asks for one or more), written in this order.
    pub esiids: Vec<String>,
}

/// A WS-Security UsernameToken for the SOAP header. The seed shows the username alone (the
/// sender is proven by mutual TLS); a password, when given, is sent as `PasswordText`.
#[derive(Clone, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    pub password: Option<String>,
}

/// Redacts the password: tokens end up in logs through `{:?}`.
impl fmt::Debug for UsernameToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsernameToken")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The SOAP envelope of a `processMeterUsage` request, in the seed's element structure and
/// order: two spaces of indentation a level, one element a line, `\n` line ends, a final `\n`,
/// no XML declaration. Without a token the header is an empty `<soapenv:Header/>`, as in the
/// seed's samples; with one it holds a `wsse:Security` UsernameToken.
pub fn envelope(request: &MeterUsageRequest, token: Option<&UsernameToken>) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_envelope(&mut w, request, token).expect("writing XML into a Vec cannot fail");
    let mut xml = String::from_utf8(w.into_inner()).expect("the writer writes UTF-8 from &str");
    xml.push('\n');
    xml
}

fn write_envelope(
    w: &mut Writer<Vec<u8>>,
    request: &MeterUsageRequest,
    token: Option<&UsernameToken>,
) -> io::Result<()> {
    let root = BytesStart::new("soapenv:Envelope")
        .with_attributes([("xmlns:soapenv", SOAPENV_NS), ("xmlns:met", METER_USAGE_NS)]);
    w.write_event(Event::Start(root))?;
    match token {
        None => w.write_event(Event::Empty(BytesStart::new("soapenv:Header")))?,
        Some(token) => {
            start(w, "soapenv:Header")?;
            let security =
                BytesStart::new("wsse:Security").with_attributes([("xmlns:wsse", WSSE_NS)]);
            w.write_event(Event::Start(security))?;
            start(w, "wsse:UsernameToken")?;
            text_element(w, "wsse:Username", &token.username)?;
            if let Some(password) = &token.password {
                w.create_element("wsse:Password")
                    .with_attribute(("Type", PASSWORD_TEXT_TYPE))
                    .write_text_content(BytesText::new(password))?;
            }
            end(w, "wsse:UsernameToken")?;
            end(w, "wsse:Security")?;
            end(w, "soapenv:Header")?;
        }
    }
    start(w, "soapenv:Body")?;
    start(w, "met:processMeterUsage")?;
    start(w, "MeterUsageReqList")?;
    text_element(w, "userId", &request.user_id)?;
    text_element(w, "userType", &request.user_type)?;
    if request.reports.is_empty() {
        w.write_event(Event::Empty(BytesStart::new("reportTypeArray")))?;
    } else {
        start(w, "reportTypeArray")?;
        for range in &request.reports {
            start(w, "reportTypeArray")?;
            text_element(w, "reportType", range.report_type.as_str())?;
            text_element(w, "startDate", &smt_date(range.start))?;
            text_element(w, "endDate", &smt_date(range.end))?;
            end(w, "reportTypeArray")?;
        }
        end(w, "reportTypeArray")?;
    }
    if let Some(format) = &request.report_format {
        text_element(w, "reportFormat", format)?;
    }
    if request.esiids.is_empty() {
        w.write_event(Event::Empty(BytesStart::new("ESIIDArray")))?;
    } else {
        start(w, "ESIIDArray")?;
        for esiid in &request.esiids {
            text_element(w, "ESIID", esiid)?;
        }
        end(w, "ESIIDArray")?;
    }
    end(w, "MeterUsageReqList")?;
    end(w, "met:processMeterUsage")?;
    end(w, "soapenv:Body")?;
    end(w, "soapenv:Envelope")
}

/// A date as SMT writes it: `MM/DD/YYYY`.
pub fn smt_date(day: NaiveDate) -> String {
    day.format("%m/%d/%Y").to_string()
}

fn start(w: &mut Writer<Vec<u8>>, name: &str) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))
}

fn end(w: &mut Writer<Vec<u8>>, name: &str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// `<name>text</name>` on one line, the text escaped.
fn text_element(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(text))
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// The seed's requests: user JONBREZON, RES, INTERVAL 12/04/2009 to 12/05/2009, CSV.
    fn seed_request(esiids: &[&str]) -> MeterUsageRequest {
        MeterUsageRequest {
            user_id: "JONBREZON".into(),
            user_type: "RES".into(),
            reports: vec![ReportRange {
                report_type: ReportType::Interval,
                start: day(2009, 12, 4),
                end: day(2009, 12, 5),
            }],
            report_format: Some("CSV".into()),
            esiids: esiids.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn seed_request_with_one_esiid() {
        let request = seed_request(&["1008901001102496160100"]);
        assert_eq!(
            envelope(&request, None),
            include_str!("golden/request_one_esiid.xml")
        );
    }

    #[test]
    fn seed_request_with_several_esiids() {
        let request = seed_request(&["1008901001102496160100", "1008901002100782200100"]);
        assert_eq!(
            envelope(&request, None),
            include_str!("golden/request_several_esiids.xml")
        );
    }

    #[test]
    fn username_token_header() {
        let request = seed_request(&["1008901001102496160100"]);
        let token = UsernameToken {
            username: "REP_System_Account".into(),
            password: Some("s3cret&<\"pw\">".into()),
        };
        assert_eq!(
            envelope(&request, Some(&token)),
            include_str!("golden/request_username_token.xml")
        );
    }

    #[test]
    fn username_without_password_has_no_password_element() {
        let request = seed_request(&["1008901001102496160100"]);
        let token = UsernameToken {
            username: "REP_System_Account".into(),
            password: None,
        };
        let xml = envelope(&request, Some(&token));
        assert!(xml.contains("        <wsse:Username>REP_System_Account</wsse:Username>\n      </wsse:UsernameToken>\n"));
        assert!(!xml.contains("Password"));
    }

    #[test]
    fn every_value_is_escaped() {
        let mut request = seed_request(&["<ESIID>&"]);
        request.user_id = "A&B</userId><x>".into();
        request.report_format = Some("\"CSV'".into());
        let xml = envelope(&request, None);
        assert!(xml.contains("<userId>A&amp;B&lt;/userId&gt;&lt;x&gt;</userId>\n"));
        assert!(xml.contains("<ESIID>&lt;ESIID&gt;&amp;</ESIID>\n"));
        assert!(xml.contains("<reportFormat>&quot;CSV&apos;</reportFormat>\n"));
    }

    #[test]
    fn no_format_and_several_ranges() {
        let mut request = seed_request(&["1008901001102496160100"]);
        request.report_format = None;
        request.reports.push(ReportRange {
            report_type: ReportType::Daily,
            start: day(2010, 1, 31),
            end: day(2010, 2, 1),
        });
        let xml = envelope(&request, None);
        assert!(!xml.contains("reportFormat"));
        assert!(xml.contains(concat!(
            "          <reportTypeArray>\n",
            "            <reportType>DAILY</reportType>\n",
            "            <startDate>01/31/2010</startDate>\n",
            "            <endDate>02/01/2010</endDate>\n",
            "          </reportTypeArray>\n",
            "        </reportTypeArray>\n",
        )));
        assert_eq!(xml.matches("<reportType>").count(), 2);
    }

    #[test]
    fn debug_redacts_the_password() {
        let token = UsernameToken {
            username: "me".into(),
            password: Some("hunter2".into()),
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("me"),
            "{shown}"
        );
        let none = UsernameToken {
            username: "me".into(),
            password: None,
        };
        assert!(format!("{none:?}").contains("None"));
    }

    #[test]
    fn report_type_words() {
        for t in ReportType::ALL {
            assert_eq!(ReportType::parse(t.as_str()), Some(t));
            assert_eq!(ReportType::parse(&t.as_str().to_lowercase()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(ReportType::parse(" Interval "), Some(ReportType::Interval));
        assert_eq!(ReportType::parse("BOTH"), None);
        assert_eq!(ReportType::parse(""), None);
    }
}
