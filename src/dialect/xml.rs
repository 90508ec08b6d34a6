//! XML in and out.
//!
//! In: a strict reader for request documents — a root element with attributes and
//! leaf children. A DTD, an entity declaration or any entity other than the five
//! predefined ones and character references is refused before anything is expanded;
//! nothing is fetched. Names and values hold only what XML 1.0 can carry
//! (`types::text`), whether written as characters or as character references.
//!
//! Out: indented, escaped, deterministic XML, written straight into the answer's
//! buffer as it is described ([`Out`]), or from a small element tree ([`El`]) for
//! answers a dialect builds as a tree first; both write the same bytes. A code point
//! XML cannot carry never goes out: input is refused before it is stored,
//! and anything stored before that rule, or said by an upstream, is written as U+FFFD,
//! so an answer is always well-formed.

use crate::error::{Error, Result};
use crate::outcome::Element;
use crate::types::text::{check_xml_chars, xml_char};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use std::borrow::Cow;
use std::fmt::Write as _;

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

    fn write_to(&self, o: &mut Out) {
        let mut tag = o.el(&self.name);
        for (k, v) in &self.attrs {
            tag = tag.attr(k, v.as_str());
        }
        match (&self.text, self.children.is_empty()) {
            (None, true) => tag.empty(),
            (Some(t), true) => tag.text(t.as_str()),
            (_, false) => tag.children(|o| {
                for c in &self.children {
                    c.write_to(o);
                }
            }),
        }
    }
}

/// An element a command described (`outcome::Element`), written as it stands: the
/// same bytes as through [`El::from_element`], without building the tree.
pub fn write_element(o: &mut Out, e: &Element) {
    let mut tag = o.el(&e.name);
    for (k, v) in &e.attrs {
        tag = tag.attr(k, v.as_str());
    }
    match (&e.text, e.children.is_empty()) {
        (None, true) => tag.empty(),
        (Some(t), true) => tag.text(t.as_str()),
        (_, false) => tag.children(|o| {
            for c in &e.children {
                write_element(o, c);
            }
        }),
    }
}

/// The XML declaration every document starts with.
const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A document written as it is described, straight into its buffer: indented,
/// escaped, deterministic, the same bytes as an [`El`] tree would write, without the
/// tree.
///
/// ```text
/// let mut o = Out::document();
/// o.el("r").attr("a", 1).children(|o| o.el("t").text("a&b"));
/// ```
pub struct Out {
    buf: String,
    depth: usize,
}

impl Out {
    /// A document with its declaration and nothing else yet.
    pub fn document() -> Out {
        // Most answers fit; a long listing grows it a few times instead of many.
        let mut buf = String::with_capacity(1024);
        buf.push_str(DECL);
        Out { buf, depth: 0 }
    }

    /// Starts an element at the current depth; [`Tag`] finishes it.
    pub fn el<'a>(&'a mut self, name: &'a str) -> Tag<'a> {
        let start = self.buf.len();
        for _ in 0..self.depth {
            self.buf.push_str("  ");
        }
        self.buf.push('<');
        self.buf.push_str(name);
        Tag {
            out: self,
            name,
            start,
        }
    }

    pub fn finish(self) -> String {
        self.buf
    }
}

/// An element being written: its attributes, then how it ends (empty, text or
/// children).
#[must_use = "an element must be finished: empty, text or children"]
pub struct Tag<'a> {
    out: &'a mut Out,
    name: &'a str,
    /// Where the element begins in the buffer.
    start: usize,
}

impl<'a> Tag<'a> {
    pub fn attr(self, k: &str, v: impl std::fmt::Display) -> Tag<'a> {
        let b = &mut self.out.buf;
        b.push(' ');
        b.push_str(k);
        b.push_str("=\"");
        let _ = write!(Escape { out: b, attr: true }, "{v}");
        b.push('"');
        self
    }

    pub fn attr_opt(self, k: &str, v: Option<impl std::fmt::Display>) -> Tag<'a> {
        match v {
            Some(v) => self.attr(k, v),
            None => self,
        }
    }

    /// `<name …/>`
    pub fn empty(self) {
        self.out.buf.push_str("/>\n");
    }

    /// `<name …>text</name>`
    pub fn text(self, t: impl std::fmt::Display) {
        let b = &mut self.out.buf;
        b.push('>');
        let _ = write!(
            Escape {
                out: b,
                attr: false
            },
            "{t}"
        );
        b.push_str("</");
        b.push_str(self.name);
        b.push_str(">\n");
    }

    /// `<name …>` children, one level deeper, `</name>`; `<name …/>` when `f` writes
    /// none.
    pub fn children(self, f: impl FnOnce(&mut Out)) {
        self.children_then(f, false);
    }

    /// As [`Tag::children`], but nothing at all, not even the element, when `f` writes
    /// no child.
    pub fn children_or_omit(self, f: impl FnOnce(&mut Out)) {
        self.children_then(f, true);
    }

    fn children_then(self, f: impl FnOnce(&mut Out), omit_empty: bool) {
        let o = self.out;
        o.buf.push_str(">\n");
        let mark = o.buf.len();
        o.depth += 1;
        f(o);
        o.depth -= 1;
        if o.buf.len() == mark && omit_empty {
            o.buf.truncate(self.start);
            return;
        }
        if o.buf.len() == mark {
            o.buf.truncate(mark - 2);
            o.buf.push_str("/>\n");
            return;
        }
        for _ in 0..o.depth {
            o.buf.push_str("  ");
        }
        o.buf.push_str("</");
        o.buf.push_str(self.name);
        o.buf.push_str(">\n");
    }
}

/// Escapes what goes through it into `out`: the five markup characters and `\r` as
/// references (and `\t`, `\n` in an attribute, where a parser would turn them into
/// spaces), every code point XML cannot carry as U+FFFD.
struct Escape<'a> {
    out: &'a mut String,
    attr: bool,
}

impl std::fmt::Write for Escape<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // Printable ASCII but the markup characters goes out as it is.
        let plain =
            |b: u8| (0x20..0x7f).contains(&b) && !matches!(b, b'<' | b'>' | b'&' | b'\'' | b'"');
        let mut rest = s;
        loop {
            let n = rest.bytes().position(|b| !plain(b)).unwrap_or(rest.len());
            self.out.push_str(&rest[..n]);
            rest = &rest[n..];
            let Some(c) = rest.chars().next() else {
                return Ok(());
            };
            match c {
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '&' => self.out.push_str("&amp;"),
                '\'' => self.out.push_str("&apos;"),
                '"' => self.out.push_str("&quot;"),
                '\r' => self.out.push_str("&#13;"),
                '\t' if self.attr => self.out.push_str("&#9;"),
                '\n' if self.attr => self.out.push_str("&#10;"),
                c if xml_char(c) => self.out.push(c),
                _ => self.out.push('\u{FFFD}'),
            }
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// A whole document with its declaration.
pub fn document(root: &El) -> String {
    let mut o = Out::document();
    root.write_to(&mut o);
    o.finish()
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

    #[test]
    fn writes_as_it_goes_what_a_tree_writes() {
        let tree = El::new("r")
            .attr("a", "x\"<\t\n\r'>&\u{1}й")
            .child(El::new("t").text("a&b\t\n\r\u{FFFF}'\""))
            .child(El::new("e"))
            .child(El::new("n").child(El::new("m").attr("k", 7)));
        let mut o = Out::document();
        o.el("r").attr("a", "x\"<\t\n\r'>&\u{1}й").children(|o| {
            o.el("t").text("a&b\t\n\r\u{FFFF}'\"");
            o.el("e").children(|_| {});
            o.el("n").children(|o| o.el("m").attr("k", 7).empty());
            o.el("gone").children_or_omit(|_| {});
        });
        assert_eq!(o.finish(), document(&tree));
        let mut e = Element::new("x").attr("k", "v");
        e.children.push(Element::new("y").text("t"));
        let mut o = Out::document();
        write_element(&mut o, &e);
        assert_eq!(o.finish(), document(&El::from_element(e)));
        let e = El::new("r").attr("a", "<\t\n\r'&").text("\t\n\r'");
        assert_eq!(
            document(&e),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r a=\"&lt;&#9;&#10;&#13;&apos;&amp;\">\t\n&#13;&apos;</r>\n"
        );
    }
}
