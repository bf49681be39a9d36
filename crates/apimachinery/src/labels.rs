//! Label selectors: upstream's string syntax (`a=b,c!=d,e in (f,g),!h`), the structured
//! `metav1.LabelSelector`, and matching against a label set.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::validation::{is_qualified_name, is_valid_label_value};

/// A selector operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `key op values` term of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// A selector that cannot be read, in upstream's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

impl Requirement {
    /// Builds a requirement, checking the key, the values and their number as upstream does.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        Self::checked(key, operator, values).map_err(SelectorError)
    }

    fn checked(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        if let Some(e) = is_qualified_name(key).first() {
            return Err(format!("key: Invalid value: {key:?}: {e}"));
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(
                    "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
                        .to_string(),
                );
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                return Err(
                    "values: Invalid value: exact-match compatibility requires one single value".to_string()
                );
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err("values: Invalid value: values set must be empty for exists and does not exist"
                    .to_string());
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(
                        "values: Invalid value: for 'Gt', 'Lt' operators, exactly one value is required"
                            .to_string(),
                    );
                }
                if values[0].parse::<i64>().is_err() {
                    return Err(format!(
                        "values[0]: Invalid value: {:?}: for 'Gt', 'Lt' operators, the value must be an integer",
                        values[0]
                    ));
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            if let Some(e) = is_valid_label_value(v).first() {
                return Err(format!("values[{i}][{key}]: Invalid value: {v:?}: {e}"));
            }
        }
        let mut values = values;
        if matches!(operator, Operator::In | Operator::NotIn) {
            values.sort();
            values.dedup();
        }
        Ok(Requirement { key: key.to_string(), operator, values })
    }

    /// Whether a label set satisfies this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotEquals | Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan { have > want } else { have < want }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let joined = self.values.join(",");
        match self.operator {
            Operator::Equals => write!(f, "{key}={joined}"),
            Operator::DoubleEquals => write!(f, "{key}=={joined}"),
            Operator::NotEquals => write!(f, "{key}!={joined}"),
            Operator::In => write!(f, "{key} in ({joined})"),
            Operator::NotIn => write!(f, "{key} notin ({joined})"),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::GreaterThan => write!(f, "{key}>{joined}"),
            Operator::LessThan => write!(f, "{key}<{joined}"),
        }
    }
}

/// A label selector: a conjunction of requirements, or the selector that matches nothing
/// (what a nil `metav1.LabelSelector` means).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Requirements(Vec<Requirement>),
    Nothing,
}

impl Default for Selector {
    fn default() -> Self {
        Selector::everything()
    }
}

impl Selector {
    /// Matches every label set.
    pub fn everything() -> Self {
        Selector::Requirements(Vec::new())
    }

    /// Matches no label set.
    pub fn nothing() -> Self {
        Selector::Nothing
    }

    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    /// The requirements (none for [`Selector::Nothing`]).
    pub fn requirements(&self) -> &[Requirement] {
        match self {
            Selector::Requirements(r) => r,
            Selector::Nothing => &[],
        }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Requirements(r) => r.iter().all(|r| r.matches(labels)),
            Selector::Nothing => false,
        }
    }

    /// Parses upstream's selector syntax. The empty string selects everything.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        Self::parsed(input).map_err(SelectorError)
    }

    fn parsed(input: &str) -> Result<Self, String> {
        let tokens = tokenize(input)?;
        let mut parser = Parser { tokens, pos: 0 };
        let mut requirements = Vec::new();
        if parser.peek() == &Token::End {
            return Ok(Selector::everything());
        }
        loop {
            requirements.push(parser.requirement()?);
            match parser.next() {
                Token::End => break,
                Token::Comma => {}
                t => return Err(format!("found '{t}', expected: ',' or 'end of string'")),
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector::Requirements(requirements))
    }

    /// Upstream `LabelSelectorAsSelector`: `None` selects nothing, an empty selector everything.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Self, SelectorError> {
        Self::converted(selector).map_err(SelectorError)
    }

    fn converted(selector: Option<&LabelSelector>) -> Result<Self, String> {
        let Some(selector) = selector else {
            return Ok(Selector::Nothing);
        };
        let mut requirements = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::checked(k, Operator::Equals, vec![v.clone()])?);
        }
        for expr in selector.match_expressions.iter().flatten() {
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            requirements.push(Requirement::checked(
                &expr.key,
                operator,
                expr.values.clone().unwrap_or_default(),
            )?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector::Requirements(requirements))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Upstream `metav1.FormatLabelSelector`: the selector's string form, `<none>` when empty.
pub fn format_label_selector(selector: Option<&LabelSelector>) -> String {
    match Selector::from_label_selector(selector) {
        Ok(s) => {
            let text = s.to_string();
            if text.is_empty() { "<none>".to_string() } else { text }
        }
        Err(_) => "<error>".to_string(),
    }
}

/// Upstream `labels.FormatLabels`: `k=v` pairs sorted by key, `<none>` when empty.
pub fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    let text = labels.into_iter().flatten().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    if text.is_empty() { "<none>".to_string() } else { text }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    Comma,
    Equals,
    DoubleEquals,
    NotEquals,
    Bang,
    Open,
    Close,
    Greater,
    Less,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Token::Ident(s) => s,
            Token::Comma => ",",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::Bang => "!",
            Token::Open => "(",
            Token::Close => ")",
            Token::Greater => ">",
            Token::Less => "<",
            Token::End => "end of string",
        })
    }
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, width) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ',' => (Token::Comma, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '>' => (Token::Greater, 1),
            '<' => (Token::Less, 1),
            '=' if next == Some('=') => (Token::DoubleEquals, 2),
            '=' => (Token::Equals, 1),
            '!' if next == Some('=') => (Token::NotEquals, 2),
            '!' => (Token::Bang, 1),
            _ => {
                let start = i;
                while i < chars.len() && !is_special(chars[i]) && !chars[i].is_whitespace() {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
                continue;
            }
        };
        tokens.push(token);
        i += width;
    }
    tokens.push(Token::End);
    Ok(tokens)
}

fn is_special(c: char) -> bool {
    matches!(c, ',' | '(' | ')' | '>' | '<' | '=' | '!')
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let negated = if self.peek() == &Token::Bang {
            self.pos += 1;
            true
        } else {
            false
        };
        let key = match self.next() {
            Token::Ident(k) => k,
            t => return Err(format!("found '{t}', expected: !, identifier, or 'end of string'")),
        };
        if negated {
            return Requirement::checked(&key, Operator::DoesNotExist, Vec::new());
        }
        let operator = match self.peek().clone() {
            Token::End | Token::Comma => return Requirement::checked(&key, Operator::Exists, Vec::new()),
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::Greater => Operator::GreaterThan,
            Token::Less => Operator::LessThan,
            Token::Ident(w) if w == "in" => Operator::In,
            Token::Ident(w) if w == "notin" => Operator::NotIn,
            t => return Err(format!("found '{t}', expected: in, notin, =, ==, !=, gt, lt")),
        };
        self.pos += 1;
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => match self.peek().clone() {
                Token::Ident(v) => {
                    self.pos += 1;
                    vec![v]
                }
                // `a=` selects the empty value.
                Token::End | Token::Comma => vec![String::new()],
                t => return Err(format!("found '{t}', expected: identifier")),
            },
        };
        Requirement::checked(&key, operator, values)
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Token::Open => {}
            t => return Err(format!("found '{t}', expected: '('")),
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        loop {
            match self.next() {
                Token::Ident(v) if expect_value => {
                    values.push(v);
                    expect_value = false;
                }
                Token::Comma if !expect_value => expect_value = true,
                Token::Comma => values.push(String::new()),
                Token::Close => {
                    if expect_value && !values.is_empty() {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                t => return Err(format!("found '{t}', expected: ',', ')' or identifier")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_every_operator() {
        let s = Selector::parse("a=b, c==d,e!=f,g in (h, i),j notin (k),l,!m,n>1,o<2").unwrap();
        assert_eq!(s.to_string(), "a=b,c==d,e!=f,g in (h,i),j notin (k),l,!m,n>1,o<2");
        let yes = set(&[
            ("a", "b"),
            ("c", "d"),
            ("e", "x"),
            ("g", "i"),
            ("j", "z"),
            ("l", ""),
            ("n", "5"),
            ("o", "1"),
        ]);
        assert!(s.matches(&yes));
        let mut no = yes.clone();
        no.insert("m".into(), "1".into());
        assert!(!s.matches(&no));
    }

    #[test]
    fn each_operator_matches_as_upstream() {
        let l = set(&[("app", "web"), ("tier", "front")]);
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db,web)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("app", true),
            ("missing", false),
            ("!app", false),
            ("!missing", true),
            ("", true),
        ];
        for (sel, want) in cases {
            assert_eq!(Selector::parse(sel).unwrap().matches(&l), want, "{sel}");
        }
    }

    #[test]
    fn rejects_malformed_selectors() {
        for bad in ["a in b", "a in (b", "=b", "a=b,", "a b", "a!", "a=(b)", "-bad=x", "a=-x-", "n>x"] {
            assert!(Selector::parse(bad).is_err(), "{bad} should fail");
        }
        assert_eq!(
            Selector::parse("a=b c").unwrap_err().to_string(),
            "found 'c', expected: ',' or 'end of string'"
        );
    }

    #[test]
    fn structured_selectors() {
        assert_eq!(Selector::from_label_selector(None).unwrap(), Selector::Nothing);
        assert!(Selector::from_label_selector(Some(&LabelSelector::default())).unwrap().is_everything());
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "x".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: "In".into(),
                values: Some(vec!["prod".into(), "dev".into()]),
            }]),
        };
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert_eq!(s.to_string(), "app=x,env in (dev,prod)");
        assert!(s.matches(&set(&[("app", "x"), ("env", "dev")])));
        assert!(!s.matches(&set(&[("app", "x")])));
        assert_eq!(format_label_selector(Some(&sel)), "app=x,env in (dev,prod)");
        assert_eq!(format_label_selector(Some(&LabelSelector::default())), "<none>");
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "Bogus".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(Selector::from_label_selector(Some(&bad)).is_err());
    }

    #[test]
    fn formats_label_sets() {
        assert_eq!(format_labels(Some(&set(&[("b", "2"), ("a", "1")]))), "a=1,b=2");
        assert_eq!(format_labels(None), "<none>");
    }
}
