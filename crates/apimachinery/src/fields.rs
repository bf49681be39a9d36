//! Field selectors: `metadata.name=x,status.phase!=Running`, with upstream's escaping
//! (`\,`, `\=`, `\\`).

use std::fmt;

/// `=`/`==` or `!=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    NotEquals,
}

/// One term of a field selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A conjunction of field requirements; empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

/// A field selector that cannot be read, in upstream's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldSelectorError(pub String);

impl FieldSelector {
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector with the single term `field=value`.
    pub fn equals(field: &str, value: &str) -> Self {
        FieldSelector {
            requirements: vec![FieldRequirement {
                field: field.to_string(),
                operator: FieldOperator::Equals,
                value: value.to_string(),
            }],
        }
    }

    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// The same selector with each requirement's field renamed (to the names another version
    /// of the same objects uses).
    pub fn map_fields(mut self, rename: impl Fn(&str) -> String) -> Self {
        for r in &mut self.requirements {
            r.field = rename(&r.field);
        }
        self
    }

    /// Parses upstream's field selector syntax.
    pub fn parse(input: &str) -> Result<Self, FieldSelectorError> {
        Self::parsed(input).map_err(FieldSelectorError)
    }

    fn parsed(input: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_unescaped(input, ',') {
            if term.is_empty() {
                continue;
            }
            let parsed = [
                ("!=", FieldOperator::NotEquals),
                ("==", FieldOperator::Equals),
                ("=", FieldOperator::Equals),
            ]
            .into_iter()
            .find_map(|(op, operator)| {
                let at = find_unescaped(&term, op)?;
                Some((term[..at].to_string(), operator, term[at + op.len()..].to_string()))
            });
            let Some((field, operator, value)) = parsed else {
                return Err(format!("invalid selector: '{input}'; can't understand '{term}'"));
            };
            if field.is_empty() {
                return Err(format!("invalid selector: '{input}'; can't understand '{term}'"));
            }
            requirements.push(FieldRequirement {
                field: unescape(&field)?,
                operator,
                value: unescape(&value)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether an object matches; `get` returns a field's value (a missing field is the empty string).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let v = get(&r.field).unwrap_or_default();
            match r.operator {
                FieldOperator::Equals => v == r.value,
                FieldOperator::NotEquals => v != r.value,
            }
        })
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if r.operator == FieldOperator::Equals { "=" } else { "!=" };
            write!(f, "{}{op}{}", escape(&r.field), escape(&r.value))?;
        }
        Ok(())
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace(',', "\\,").replace('=', "\\=")
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(format!("invalid field selector: invalid escape sequence: \\{e}")),
                None => return Err("invalid field selector: unterminated escape sequence".to_string()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
            continue;
        }
        parts.last_mut().expect("non-empty").push(c);
    }
    parts
}

/// The byte offset of the first `pat` outside an escape. Walks characters, not bytes, so a
/// multi-byte character (or one after a backslash) is never cut in half.
fn find_unescaped(s: &str, pat: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
            continue;
        }
        if s[i..].starts_with(pat) {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let s = FieldSelector::parse("spec.nodeName=w1,status.phase!=Failed").unwrap();
        assert_eq!(s.requirements().len(), 2);
        let get = |phase: &'static str| {
            move |f: &str| match f {
                "spec.nodeName" => Some("w1".to_string()),
                "status.phase" => Some(phase.to_string()),
                _ => None,
            }
        };
        assert!(s.matches(get("Running")));
        assert!(!s.matches(get("Failed")));
        assert_eq!(s.to_string(), "spec.nodeName=w1,status.phase!=Failed");
    }

    #[test]
    fn double_equals_and_empty_values() {
        let s = FieldSelector::parse("spec.nodeName==").unwrap();
        assert!(s.matches(|_| None));
        assert!(!s.matches(|_| Some("n".into())));
        assert!(FieldSelector::parse("").unwrap().is_everything());
    }

    #[test]
    fn escapes() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c").unwrap();
        assert_eq!(s.requirements()[0].value, "a,b=c");
        assert_eq!(s.to_string(), r"metadata.name=a\,b\=c");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(
            FieldSelector::parse("metadata.name").unwrap_err().to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert!(FieldSelector::parse("=x").is_err());
        assert!(FieldSelector::parse(r"a=\q").is_err());
    }

    #[test]
    fn non_ascii_characters_never_split() {
        assert_eq!(
            FieldSelector::parse("½").unwrap_err().to_string(),
            "invalid selector: '½'; can't understand '½'"
        );
        let s = FieldSelector::parse("metadata.name=é").unwrap();
        assert_eq!(s.requirements()[0].value, "é");
        assert!(FieldSelector::parse("a\\é=b").is_err(), "an escaped multi-byte character is no escape");
        assert_eq!(FieldSelector::parse("ü!=ö").unwrap().requirements()[0].field, "ü");
    }
}
