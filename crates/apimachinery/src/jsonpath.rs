//! The simple JSON paths CustomResourceDefinitions use for printer columns and selectable
//! fields: `.spec.replicas`, `.status.conditions[0].type`, `.metadata.labels['app.kubernetes.io/name']`.
//! Upstream accepts only such paths there (no filters, wildcards or ranges), and so does this.

use serde_json::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Field(String),
    Index(usize),
}

/// A parsed simple JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath(Vec<Step>);

/// A path that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonPathError(pub String);

impl JsonPath {
    /// Parses `.a.b[0]['c.d']` (optionally wrapped in `{}`), or says what is wrong with it.
    pub fn parse(path: &str) -> Result<JsonPath, JsonPathError> {
        Self::parsed(path).map_err(JsonPathError)
    }

    fn parsed(path: &str) -> Result<JsonPath, String> {
        let s = path.trim();
        let s = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(s);
        let s = s.strip_prefix('$').unwrap_or(s);
        if s.is_empty() {
            return Err("must be a simple json path starting with .".to_string());
        }
        let mut steps = Vec::new();
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '.' => {
                    let start = i + 1;
                    let mut end = s.len();
                    while let Some(&(j, c)) = chars.peek() {
                        if c == '.' || c == '[' {
                            end = j;
                            break;
                        }
                        chars.next();
                    }
                    let name = &s[start..end];
                    if name.is_empty() {
                        return Err(format!("empty field name in {path:?}"));
                    }
                    steps.push(Step::Field(name.to_string()));
                }
                '[' => {
                    let rest = &s[i + 1..];
                    let close = rest.find(']').ok_or_else(|| format!("unclosed [ in {path:?}"))?;
                    let inner = rest[..close].trim();
                    let quoted = inner
                        .strip_prefix('\'')
                        .and_then(|x| x.strip_suffix('\''))
                        .or_else(|| inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')));
                    match quoted {
                        Some(name) => steps.push(Step::Field(name.to_string())),
                        None => steps.push(Step::Index(
                            inner.parse().map_err(|_| format!("unsupported index {inner:?} in {path:?}"))?,
                        )),
                    }
                    for _ in 0..rest[..=close].chars().count() {
                        chars.next();
                    }
                }
                _ => return Err(format!("must be a simple json path starting with . (at {c:?})")),
            }
        }
        Ok(JsonPath(steps))
    }

    /// Its steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    /// The value the path points at, if there is one.
    pub fn find<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(value, |v, step| match step {
            Step::Field(name) => v.get(name),
            Step::Index(i) => v.get(*i),
        })
    }

    /// The dotted form field selectors use (`spec.color`).
    pub fn dotted(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                Step::Field(f) => f.clone(),
                Step::Index(i) => i.to_string(),
            })
            .collect();
        parts.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_fields_indices_and_quoted_keys() {
        let obj = json!({"spec": {"replicas": 3, "items": [{"n": "a"}, {"n": "b"}]},
            "metadata": {"labels": {"app.kubernetes.io/name": "x"}}});
        let find = |p: &str| JsonPath::parse(p).unwrap().find(&obj).cloned();
        assert_eq!(find(".spec.replicas"), Some(json!(3)));
        assert_eq!(find("{.spec.items[1].n}"), Some(json!("b")));
        assert_eq!(find(".metadata.labels['app.kubernetes.io/name']"), Some(json!("x")));
        assert_eq!(find(".spec.missing"), None);
        assert_eq!(find(".spec.items[5]"), None);
    }

    #[test]
    fn refuses_what_is_not_simple() {
        assert!(JsonPath::parse("spec").is_err());
        assert!(JsonPath::parse("").is_err());
        assert!(JsonPath::parse(".spec[*]").is_err());
        assert!(JsonPath::parse(".spec[0").is_err());
        assert_eq!(JsonPath::parse(".spec.color").unwrap().dotted(), "spec.color");
    }
}
