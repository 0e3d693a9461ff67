//! A small OData v4 query-option parser and evaluator for the Users API
//! (seed 004): `$filter` with `eq`, `ne`, `contains`, `startswith`, `and`,
//! `or`, `not` and parentheses over string, number, boolean and `null`
//! literals; `$top`, `$skip`, `$orderby` (one or more `field [asc|desc]`),
//! `$count`, and `$expand` of the navigation properties the caller names
//! (the handler expands them). Anything else is refused with the byte
//! position of the problem, never ignored. It evaluates over JSON objects, so it knows
//! nothing about the store.

use std::cmp::Ordering;

use serde_json::Value;

/// A query option the parser refused, with the byte position in that option.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{option} at position {position}: {message}")]
pub struct ODataError {
    /// `$filter`, `$top`...
    pub option: &'static str,
    /// Byte offset in the option's value.
    pub position: usize,
    /// What was expected.
    pub message: String,
}

/// A parsed `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not a`.
    Not(Box<Filter>),
    /// `field eq literal`.
    Eq(String, Value),
    /// `field ne literal`.
    Ne(String, Value),
    /// `contains(field, 'text')` (case-insensitive).
    Contains(String, String),
    /// `startswith(field, 'text')` (case-insensitive).
    StartsWith(String, String),
}

/// All query options of one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryOptions {
    /// `$filter`.
    pub filter: Option<Filter>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: Option<usize>,
    /// `$orderby`: field, descending.
    pub order_by: Vec<(String, bool)>,
    /// `$count=true`.
    pub count: bool,
    /// `$expand`: navigation properties to include, each once.
    pub expand: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    Comma,
}

fn err(option: &'static str, position: usize, message: impl Into<String>) -> ODataError {
    ODataError {
        option,
        position,
        message: message.into(),
    }
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, ODataError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' => i += 1,
            b'(' => {
                out.push((i, Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push((i, Tok::RParen));
                i += 1;
            }
            b',' => {
                out.push((i, Tok::Comma));
                i += 1;
            }
            b'\'' => {
                let start = i;
                i += 1;
                let mut text = String::new();
                loop {
                    match s[i..].find('\'') {
                        None => return Err(err("$filter", start, "unterminated string literal")),
                        Some(n) => {
                            text.push_str(&s[i..i + n]);
                            i += n + 1;
                            if b.get(i) == Some(&b'\'') {
                                text.push('\'');
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                out.push((start, Tok::Str(text)));
            }
            b'0'..=b'9' | b'-' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                let n = s[start..i].parse().map_err(|_| {
                    err(
                        "$filter",
                        start,
                        format!("`{}` is not a number", &s[start..i]),
                    )
                })?;
                out.push((start, Tok::Num(n)));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'/')
                {
                    i += 1;
                }
                out.push((start, Tok::Ident(s[start..i].to_owned())));
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(err("$filter", i, format!("unexpected character `{ch}`")));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end: usize,
}

impl Parser {
    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.0)
    }
    fn peek_ident(&self, word: &str) -> bool {
        matches!(self.toks.get(self.i), Some((_, Tok::Ident(w))) if w.eq_ignore_ascii_case(word))
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.1.clone());
        self.i += 1;
        t
    }
    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ODataError> {
        let pos = self.pos();
        if self.next() == Some(tok) {
            Ok(())
        } else {
            Err(err("$filter", pos, format!("expected {what}")))
        }
    }
    fn or(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.and()?;
        while self.peek_ident("or") {
            self.i += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.unary()?;
        while self.peek_ident("and") {
            self.i += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Filter, ODataError> {
        if self.peek_ident("not") {
            self.i += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        let pos = self.pos();
        match self.next() {
            Some(Tok::LParen) => {
                let f = self.or()?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(f)
            }
            Some(Tok::Ident(name)) => {
                let lower = name.to_ascii_lowercase();
                if lower == "contains" || lower == "startswith" {
                    self.expect(Tok::LParen, "`(` after the function name")?;
                    let field = self.field()?;
                    self.expect(Tok::Comma, "`,`")?;
                    let lpos = self.pos();
                    let Some(Tok::Str(text)) = self.next() else {
                        return Err(err("$filter", lpos, "expected a string literal"));
                    };
                    self.expect(Tok::RParen, "`)`")?;
                    return Ok(if lower == "contains" {
                        Filter::Contains(field, text)
                    } else {
                        Filter::StartsWith(field, text)
                    });
                }
                if self.toks.get(self.i).map(|t| &t.1) == Some(&Tok::LParen) {
                    return Err(err(
                        "$filter",
                        pos,
                        format!("function `{name}` is not supported (contains, startswith are)"),
                    ));
                }
                let opos = self.pos();
                let op = match self.next() {
                    Some(Tok::Ident(op)) => op.to_ascii_lowercase(),
                    _ => return Err(err("$filter", opos, "expected an operator (eq, ne)")),
                };
                let value = self.literal()?;
                match op.as_str() {
                    "eq" => Ok(Filter::Eq(name, value)),
                    "ne" => Ok(Filter::Ne(name, value)),
                    other => Err(err(
                        "$filter",
                        opos,
                        format!("operator `{other}` is not supported (eq, ne are)"),
                    )),
                }
            }
            _ => Err(err(
                "$filter",
                pos,
                "expected a property, a function or `(`",
            )),
        }
    }
    fn field(&mut self) -> Result<String, ODataError> {
        let pos = self.pos();
        match self.next() {
            Some(Tok::Ident(f)) => Ok(f),
            _ => Err(err("$filter", pos, "expected a property name")),
        }
    }
    fn literal(&mut self) -> Result<Value, ODataError> {
        let pos = self.pos();
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => {
                Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
            }
            Some(Tok::Ident(w)) if w == "true" => Ok(Value::Bool(true)),
            Some(Tok::Ident(w)) if w == "false" => Ok(Value::Bool(false)),
            Some(Tok::Ident(w)) if w == "null" => Ok(Value::Null),
            _ => Err(err(
                "$filter",
                pos,
                "expected a literal (string, number, true, false, null)",
            )),
        }
    }
}

/// Parses a `$filter` expression.
///
/// # Errors
/// What is not supported or malformed, with its position.
pub fn parse_filter(s: &str) -> Result<Filter, ODataError> {
    let mut p = Parser {
        toks: lex(s)?,
        i: 0,
        end: s.len(),
    };
    let f = p.or()?;
    if p.i < p.toks.len() {
        return Err(err(
            "$filter",
            p.pos(),
            "unexpected text after the expression",
        ));
    }
    Ok(f)
}

impl QueryOptions {
    /// Parses the decoded `(name, value)` pairs of a query string;
    /// `$expand` may name the navigation properties in `expandable` (the
    /// entity set's). Options other than `$filter`, `$top`, `$skip`,
    /// `$orderby`, `$count` and `$expand` that start with `$` are refused.
    ///
    /// # Errors
    /// The first option refused.
    pub fn parse(pairs: &[(String, String)], expandable: &[&str]) -> Result<Self, ODataError> {
        let mut o = Self::default();
        for (k, v) in pairs {
            match k.as_str() {
                "$filter" => o.filter = Some(parse_filter(v)?),
                "$expand" => {
                    let mut pos = 0;
                    for part in v.split(',') {
                        let name = part.trim();
                        if !expandable.contains(&name) {
                            let allowed = if expandable.is_empty() {
                                "this entity set has no navigation property".to_owned()
                            } else {
                                format!("expandable: {}", expandable.join(", "))
                            };
                            return Err(err(
                                "$expand",
                                pos,
                                format!("cannot expand `{name}` ({allowed})"),
                            ));
                        }
                        if !o.expand.iter().any(|e| e == name) {
                            o.expand.push(name.to_owned());
                        }
                        pos += part.len() + 1;
                    }
                }
                "$top" => {
                    o.top = Some(
                        v.trim()
                            .parse()
                            .map_err(|_| err("$top", 0, "expected a non-negative integer"))?,
                    )
                }
                "$skip" => {
                    o.skip = Some(
                        v.trim()
                            .parse()
                            .map_err(|_| err("$skip", 0, "expected a non-negative integer"))?,
                    )
                }
                "$count" => {
                    o.count = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(err("$count", 0, "expected true or false")),
                    }
                }
                "$orderby" => {
                    let mut pos = 0;
                    for part in v.split(',') {
                        let words: Vec<&str> = part.split_whitespace().collect();
                        let desc = match words.as_slice() {
                            [_] => false,
                            [_, d] if d.eq_ignore_ascii_case("asc") => false,
                            [_, d] if d.eq_ignore_ascii_case("desc") => true,
                            _ => {
                                return Err(err("$orderby", pos, "expected `property [asc|desc]`"));
                            }
                        };
                        o.order_by.push((words[0].to_owned(), desc));
                        pos += part.len() + 1;
                    }
                }
                other if other.starts_with('$') => {
                    return Err(err(
                        "query",
                        0,
                        format!("option `{other}` is not supported"),
                    ));
                }
                _ => {}
            }
        }
        Ok(o)
    }

    /// Filters, orders and pages `items`; the count (before paging) when `$count=true`.
    pub fn apply(&self, items: Vec<Value>) -> (Vec<Value>, Option<usize>) {
        let mut items: Vec<Value> = items
            .into_iter()
            .filter(|i| self.filter.as_ref().is_none_or(|f| f.matches(i)))
            .collect();
        let count = self.count.then_some(items.len());
        if !self.order_by.is_empty() {
            items.sort_by(|a, b| {
                for (field, desc) in &self.order_by {
                    let o = compare(a.get(field), b.get(field));
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        let items = items
            .into_iter()
            .skip(self.skip.unwrap_or(0))
            .take(self.top.unwrap_or(usize::MAX))
            .collect();
        (items, count)
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
        (None | Some(Value::Null), Some(v)) if !v.is_null() => Ordering::Less,
        (Some(v), None | Some(Value::Null)) if !v.is_null() => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

fn equal(field: Option<&Value>, lit: &Value) -> bool {
    match (field.unwrap_or(&Value::Null), lit) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    }
}

impl Filter {
    /// Whether a JSON object matches.
    pub fn matches(&self, item: &Value) -> bool {
        let text = |f: &str| item.get(f).and_then(Value::as_str).map(str::to_lowercase);
        match self {
            Self::And(a, b) => a.matches(item) && b.matches(item),
            Self::Or(a, b) => a.matches(item) || b.matches(item),
            Self::Not(a) => !a.matches(item),
            Self::Eq(f, v) => equal(item.get(f), v),
            Self::Ne(f, v) => !equal(item.get(f), v),
            Self::Contains(f, s) => text(f).is_some_and(|t| t.contains(&s.to_lowercase())),
            Self::StartsWith(f, s) => text(f).is_some_and(|t| t.starts_with(&s.to_lowercase())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn users() -> Vec<Value> {
        vec![
            json!({ "Id": 1, "UserName": "alice", "Type": "User", "Name": "Alice" }),
            json!({ "Id": 2, "UserName": "bob", "Type": "Robot", "Name": "Bob" }),
            json!({ "Id": 3, "UserName": "albert", "Type": "User", "Name": null }),
        ]
    }

    fn ids(q: &str) -> Vec<i64> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        let (v, _) = QueryOptions::parse(&pairs, &[]).unwrap().apply(users());
        v.iter().map(|u| u["Id"].as_i64().unwrap()).collect()
    }

    #[test]
    fn eq_ne_contains_startswith_and_or_parentheses() {
        assert_eq!(ids("$filter=Type eq 'User'"), [1, 3]);
        assert_eq!(ids("$filter=Type ne 'User'"), [2]);
        assert_eq!(ids("$filter=contains(UserName, 'LI')"), [1]);
        assert_eq!(ids("$filter=startswith(UserName,'al') and Id ne 1"), [3]);
        assert_eq!(
            ids("$filter=(Id eq 1 or Id eq 2) and not (Type eq 'Robot')"),
            [1]
        );
        assert_eq!(ids("$filter=Name eq null"), [3]);
        assert_eq!(ids("$filter=UserName eq 'o''brien'"), Vec::<i64>::new());
    }

    #[test]
    fn top_skip_orderby_count() {
        assert_eq!(ids("$orderby=UserName desc"), [2, 1, 3]);
        assert_eq!(ids("$orderby=Type,Id desc&$skip=1&$top=1"), [3]);
        let pairs = vec![
            ("$count".to_owned(), "true".to_owned()),
            ("$top".to_owned(), "1".to_owned()),
        ];
        let (v, n) = QueryOptions::parse(&pairs, &[]).unwrap().apply(users());
        assert_eq!((v.len(), n), (1, Some(3)));
    }

    #[test]
    fn bad_expressions_name_the_position() {
        let e = parse_filter("Id eq").unwrap_err();
        assert_eq!(e.position, 5);
        let e = parse_filter("Id gt 3").unwrap_err();
        assert_eq!((e.position, e.message.contains("`gt`")), (3, true));
        let e = parse_filter("tolower(Name) eq 'a'").unwrap_err();
        assert_eq!(e.position, 0);
        let e = parse_filter("Name eq 'open").unwrap_err();
        assert_eq!(e.position, 8);
        let e = parse_filter("(Id eq 1").unwrap_err();
        assert_eq!(e.position, 8);
        let e = parse_filter("Id eq 1 Id").unwrap_err();
        assert_eq!(e.position, 8);
        let expand = |v: &str, allowed: &[&str]| {
            QueryOptions::parse(&[("$expand".into(), v.into())], allowed)
        };
        assert!(expand("Roles", &[]).is_err());
        assert_eq!(
            expand("Roles, Roles", &["Roles"]).unwrap().expand,
            ["Roles"]
        );
        let e = expand("Roles,Folders", &["Roles"]).unwrap_err();
        assert_eq!((e.option, e.position), ("$expand", 6));
        assert!(QueryOptions::parse(&[("$top".into(), "-1".into())], &[]).is_err());
    }
}
