//! XML in and out.
//!
//! In: a strict reader for request documents — a root element with attributes and
//! leaf children. A DTD, an entity declaration or any entity other than the five
//! predefined ones and character references is refused before anything is expanded;
//! nothing is fetched. Names and values hold only what XML 1.0 can carry
//! (`types::text`), whether written as characters or as character references.
//!
//! Out: a small element builder that writes indented, escaped, deterministic XML. A
//! code point XML cannot carry never goes out: input is refused before it is stored,
//! and anything stored before that rule, or said by an upstream, is written as U+FFFD,
//! so an answer is always well-formed.

use crate::error::{Error, Result};
use crate::outcome::Element;
use crate::types::text::{check_xml_chars, xml_char};
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use std::borrow::Cow;

/// Children deeper than this are refused.
pub const MAX_DEPTH: usize = 2;

/// A request document: the root's name, its attributes, and its leaf children in order.
pub struct Document {
    pub root: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<(String, String)>,
}

fn name_of(e: &BytesStart<'_>) -> Result<String> {
    checked_name(AsRef::<str>::as_ref(&e.name()).to_string())
}

/// An element, attribute or entity name: a syntax error when XML cannot carry it
/// (it is then never repeated in a message).
fn checked_name(n: String) -> Result<String> {
    check_xml_chars("name", &n)
        .map_err(|e| Error::syntax(format!("XML: an element or attribute {}", e.message)))?;
    Ok(n)
}

pub fn parse(text: &str) -> Result<Document> {
    let bad = |m: String| Error::syntax(format!("XML: {m}"));
    let mut r = Reader::from_str(text);
    // Values are kept exactly as sent, as in a form: trimming would also cut the
    // spaces next to an entity reference, which arrives as an event of its own.
    let mut root: Option<(String, Vec<(String, String)>)> = None;
    let mut children = Vec::new();
    // (name, text) of the child being read.
    let mut current: Option<(String, String)> = None;
    let mut closed = false;
    loop {
        let ev = r
            .read_event()
            .map_err(|e| bad(format!("{e} at byte {}", r.buffer_position())))?;
        match ev {
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|e| bad(e.to_string()))?;
                    if !enc.eq_ignore_ascii_case("utf-8") {
                        return Err(bad("only UTF-8 documents are accepted".into()));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(bad("a DTD or entity declaration is not allowed".into()))
            }
            Event::PI(_) => return Err(bad("processing instructions are not allowed".into())),
            Event::Comment(_) => {}
            Event::CData(_) => return Err(bad("CDATA sections are not allowed".into())),
            Event::Start(ref e) | Event::Empty(ref e) if root.is_none() => {
                closed = matches!(ev, Event::Empty(_));
                let name = name_of(e)?;
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|e| bad(e.to_string()))?;
                    let k = checked_name(AsRef::<str>::as_ref(&a.key).to_string())?;
                    let v = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| bad(format!("attribute {k}: {e}")))?
                        .into_owned();
                    attrs.push((k, v));
                }
                root = Some((name, attrs));
            }
            Event::Start(e) => {
                if current.is_some() {
                    return Err(bad(format!(
                        "elements nest at most {MAX_DEPTH} deep; {} is inside {}",
                        name_of(&e)?,
                        current.as_ref().map(|c| c.0.as_str()).unwrap_or("")
                    )));
                }
                if closed {
                    return Err(bad("content after the root element".into()));
                }
                if e.attributes().next().is_some() {
                    return Err(bad(format!(
                        "{}: attributes are not allowed here",
                        name_of(&e)?
                    )));
                }
                current = Some((name_of(&e)?, String::new()));
            }
            Event::Empty(e) => {
                if current.is_some() || closed {
                    return Err(bad(format!("unexpected element {}", name_of(&e)?)));
                }
                if e.attributes().next().is_some() {
                    return Err(bad(format!(
                        "{}: attributes are not allowed here",
                        name_of(&e)?
                    )));
                }
                children.push((name_of(&e)?, String::new()));
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                match current.as_mut() {
                    Some((_, v)) => v.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(bad("text outside of an element".into())),
                }
            }
            Event::GeneralRef(g) => {
                let resolved = match g.resolve_char_ref().map_err(|e| bad(e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => {
                        let n = checked_name(g.borrow().into_inner().to_string())?;
                        resolve_predefined_entity(&n)
                            .ok_or_else(|| bad(format!("entity &{n}; is not allowed")))?
                            .to_string()
                    }
                };
                match current.as_mut() {
                    Some((_, v)) => v.push_str(&resolved),
                    None => return Err(bad("text outside of an element".into())),
                }
            }
            Event::End(e) => {
                let n = AsRef::<str>::as_ref(&e.name()).to_string();
                match current.take() {
                    Some(c) => children.push(c),
                    None => {
                        if root.as_ref().map(|r| r.0.as_str()) == Some(n.as_str()) {
                            closed = true;
                        }
                    }
                }
            }
            Event::Eof => break,
        }
    }
    let (root, attributes) = root.ok_or_else(|| bad("no root element".into()))?;
    if !closed {
        return Err(bad(format!("the root element {root} is not closed")));
    }
    // Values as resolved: `&#xFFFF;` and `&#1;` are no more carried than the characters.
    for (k, v) in attributes.iter().chain(&children) {
        check_xml_chars(k, v)?;
    }
    Ok(Document {
        root,
        attributes,
        children,
    })
}

/// An element to write: name, attributes, text or children.
#[derive(Debug, Clone, Default)]
pub struct El {
    name: Cow<'static, str>,
    attrs: Vec<(Cow<'static, str>, String)>,
    text: Option<String>,
    children: Vec<El>,
}

impl El {
    pub fn new(name: impl Into<Cow<'static, str>>) -> El {
        El {
            name: name.into(),
            ..El::default()
        }
    }

    pub fn attr(mut self, k: impl Into<Cow<'static, str>>, v: impl ToString) -> El {
        self.attrs.push((k.into(), v.to_string()));
        self
    }

    pub fn attr_opt(self, k: impl Into<Cow<'static, str>>, v: Option<impl ToString>) -> El {
        match v {
            Some(v) => self.attr(k, v),
            None => self,
        }
    }

    pub fn text(mut self, t: impl ToString) -> El {
        self.text = Some(t.to_string());
        self
    }

    pub fn child(mut self, c: El) -> El {
        self.children.push(c);
        self
    }

    pub fn children(mut self, cs: impl IntoIterator<Item = El>) -> El {
        self.children.extend(cs);
        self
    }

    /// An element a command described (`outcome::Element`), moved, not copied.
    pub fn from_element(e: Element) -> El {
        El {
            name: e.name,
            attrs: e.attrs,
            text: e.text,
            children: e.children.into_iter().map(El::from_element).collect(),
        }
    }

    pub fn write(&self, out: &mut String, depth: usize) {
        for _ in 0..depth {
            out.push_str("  ");
        }
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            let v = escape(carried(v));
            if v.contains(['\t', '\n', '\r']) {
                // A parser turns these into spaces in an attribute: written as
                // references, they come back as sent.
                for c in v.chars() {
                    match c {
                        '\t' => out.push_str("&#9;"),
                        '\n' => out.push_str("&#10;"),
                        '\r' => out.push_str("&#13;"),
                        c => out.push(c),
                    }
                }
            } else {
                out.push_str(&v);
            }
            out.push('"');
        }
        match (&self.text, self.children.is_empty()) {
            (None, true) => out.push_str("/>\n"),
            (Some(t), true) => {
                out.push('>');
                out.push_str(&escape(carried(t)));
                out.push_str("</");
                out.push_str(&self.name);
                out.push_str(">\n");
            }
            (_, false) => {
                out.push_str(">\n");
                for c in &self.children {
                    c.write(out, depth + 1);
                }
                for _ in 0..depth {
                    out.push_str("  ");
                }
                out.push_str("</");
                out.push_str(&self.name);
                out.push_str(">\n");
            }
        }
    }
}

/// `s` with every code point XML cannot carry replaced by U+FFFD.
fn carried(s: &str) -> Cow<'_, str> {
    if s.chars().all(xml_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if xml_char(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// A whole document with its declaration.
pub fn document(root: &El) -> String {
    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    // Most answers fit; a long listing grows it a few times instead of many.
    let mut s = String::with_capacity(1024);
    s.push_str(DECL);
    root.write(&mut s, 0);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requests() {
        let d = parse(
            "<?xml version=\"1.0\"?><request command=\"domain.check\"><domain>a&amp;b&#x41;</domain><ns/></request>",
        )
        .unwrap();
        assert_eq!(d.root, "request");
        assert_eq!(
            d.attributes,
            vec![("command".into(), "domain.check".into())]
        );
        assert_eq!(d.children[0], ("domain".into(), "a&bA".into()));
        assert_eq!(d.children[1], ("ns".into(), "".into()));
    }

    #[test]
    fn refuses_dtds_entities_and_nesting() {
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><request>&lol2;</request>";
        assert!(parse(laughs).is_err());
        let ext =
            "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><request><a>&x;</a></request>";
        assert!(parse(ext).is_err());
        assert!(parse("<request><a>&x;</a></request>").is_err());
        assert!(parse("<request><a><b>1</b></a></request>").is_err());
        assert!(parse("<request><a>1</a>").is_err());
        assert!(parse("<request/><request/>").is_err());
        assert!(parse("<?xml version=\"1.0\" encoding=\"windows-1251\"?><request/>").is_err());
    }

    #[test]
    fn refuses_what_xml_cannot_carry() {
        use crate::error::Code;
        let code = |x: &str| parse(x).map(|_| ()).unwrap_err().code;
        for v in ["Bad&#xFFFF;Name", "&#1;", "a\u{1}b", "\u{FFFE}", "&#xB;"] {
            assert_eq!(
                code(&format!("<request><name>{v}</name></request>")),
                Code::ValueSyntax,
                "{v}"
            );
            assert_eq!(
                code(&format!("<request command=\"{v}\"/>")),
                Code::ValueSyntax,
                "{v}"
            );
        }
        // A lone surrogate is not a character at all.
        assert!(parse("<request><name>&#xD800;</name></request>").is_err());
        assert_eq!(
            code("<request><na\u{1}me>x</na\u{1}me></request>"),
            Code::Syntax
        );
        assert!(parse("<request><a>tab&#9;lf&#10;cr&#13;</a></request>").is_ok());
    }

    #[test]
    fn never_writes_what_xml_cannot_carry() {
        let e = El::new("r").attr("a", "x\u{1}").text("Bad\u{FFFF}Name");
        assert_eq!(
            document(&e),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r a=\"x\u{FFFD}\">Bad\u{FFFD}Name</r>\n"
        );
        let e = El::new("r").attr("a", "one\ntwo\tthree\r");
        assert!(document(&e).contains("a=\"one&#10;two&#9;three&#13;\""));
    }

    #[test]
    fn writes_escaped() {
        let e = El::new("r")
            .attr("a", "x\"<")
            .child(El::new("t").text("a&b"));
        assert_eq!(
            document(&e),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r a=\"x&quot;&lt;\">\n  <t>a&amp;b</t>\n</r>\n"
        );
    }
}
