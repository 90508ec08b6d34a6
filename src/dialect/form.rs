//! `application/x-www-form-urlencoded`, decoded strictly: the percent-decoded bytes
//! must be UTF-8 (a lossy decoder would turn bad bytes into U+FFFD and let them
//! through), and hold only what XML can carry (`types::text`). Repeated keys are kept
//! in order; they carry lists.

use crate::error::{Error, Result};
use crate::types::text::check_xml_chars;
use percent_encoding::percent_decode;

/// At most this many fields in one request.
pub const MAX_FIELDS: usize = 1000;

pub fn parse(input: &[u8]) -> Result<Vec<(String, String)>> {
    parse_bytes(input)?
        .into_iter()
        .map(|(k, v)| {
            let v = utf8(v)?;
            check_xml_chars(&k, &v)?;
            Ok((k, v))
        })
        .collect()
}

/// Like [`parse`], but the values stay bytes, for dialects whose text is in another
/// charset (they check the text once decoded). Names must still be UTF-8.
pub fn parse_bytes(input: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for pair in input.split(|b| *b == b'&') {
        if pair.is_empty() {
            continue;
        }
        if out.len() == MAX_FIELDS {
            return Err(Error::syntax(format!("more than {MAX_FIELDS} fields")));
        }
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let k = utf8(decode(k))?;
        if k.is_empty() {
            return Err(Error::syntax("a field without a name"));
        }
        check_xml_chars("a field name", &k).map_err(|e| Error::syntax(e.message))?;
        out.push((k, decode(v)));
    }
    Ok(out)
}

fn decode(raw: &[u8]) -> Vec<u8> {
    if !raw.iter().any(|b| *b == b'+' || *b == b'%') {
        return raw.to_vec();
    }
    let plus: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&plus).collect()
}

fn utf8(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::syntax("form field is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_strictly() {
        let f = parse(b"command=domain.check&domain=%D0%BF%D1%80.ru&domain=a+b&flag").unwrap();
        assert_eq!(f[1].1, "пр.ru");
        assert_eq!(f[2].1, "a b");
        assert_eq!(f[3], ("flag".into(), "".into()));
        assert!(parse(b"domain=%FF%FE").is_err());
        assert!(parse(b"=x").is_err());
        // What XML cannot carry: a value error for a value, a syntax error for a name;
        // a lone surrogate's UTF-8 form is not UTF-8.
        let code = |b: &[u8]| parse(b).unwrap_err().code;
        assert_eq!(
            code(b"name=Bad%EF%BF%BFName"),
            crate::error::Code::ValueSyntax
        );
        assert_eq!(code(b"name=a%01"), crate::error::Code::ValueSyntax);
        assert_eq!(code(b"x-a%0B=v"), crate::error::Code::Syntax);
        assert_eq!(code(b"name=%ED%A0%80"), crate::error::Code::Syntax);
        assert!(parse(b"address=a%0D%0Ab%09c").is_ok());
    }
}
