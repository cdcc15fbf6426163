//! Recursive-descent parser for filter expressions.
//!
//! Grammar (RFC 7644 §3.4.2.2, with precedence grouping > `not` > `and` >
//! `or`):
//!
//! ```text
//! or       = and *("or" and)
//! and      = unary *("and" unary)
//! unary    = "not" "(" or ")" / "(" or ")" / attrExpr / valuePath
//! attrExpr = attrPath ("pr" / compareOp compValue)
//! valuePath = attrPath "[" or "]" ["." subAttr ("pr" / compareOp compValue)]
//! ```
//!
//! The trailing `.subAttr` form after `]` is not in the RFC grammar, but
//! identity providers send it, as in `emails[type eq "work"].value eq "x"`.
//! The parser folds it into the bracket filter as an extra `and` term.

use chrono::DateTime;
use serde_json::Value;

use super::lexer::{tokenize, Token, TokenKind};
use super::{CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use crate::scim::error::ScimError;
use crate::scim::path::{self, ResolvedPath};
use crate::scim::schema::{AttrType, AttributeDef, ResourceKind, Returned};

struct Parser {
    kind: ResourceKind,
    tokens: Vec<Token>,
    index: usize,
    depth: usize,
    /// The attribute whose sub-attributes bare names refer to, inside `[...]`.
    outer: Option<ResolvedPath>,
}

pub(super) fn parse(kind: ResourceKind, input: &str) -> Result<Filter, ScimError> {
    let mut parser = Parser::new(kind, input)?;
    let filter = parser.parse_or()?;
    parser.expect_end()?;
    Ok(filter)
}

pub(super) fn parse_value_path(
    kind: ResourceKind,
    input: &str,
) -> Result<(ResolvedPath, Filter, Option<String>), ScimError> {
    let mut parser = Parser::new(kind, input)?;
    let (word, pos) = match parser.peek().kind.clone() {
        TokenKind::Word(word) => (word, parser.peek().pos),
        _ => return Err(parser.unexpected("an attribute path")),
    };
    parser.advance();
    let attr = parser.resolve(&word, pos)?;
    if parser.peek().kind != TokenKind::LBracket {
        return Err(parser.unexpected(&format!("'[' after '{word}'")));
    }
    let filter = parser.parse_brackets(&attr, &word)?;

    let sub_attr = match parser.peek().kind.clone() {
        TokenKind::Word(suffix) if suffix.starts_with('.') => {
            parser.advance();
            Some(suffix[1..].to_owned())
        }
        _ => None,
    };
    parser.expect_end()?;
    Ok((attr, filter, sub_attr))
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds a balanced tree from the operands of an `and` or `or` chain, so
/// that tree depth grows with the logarithm of the chain length.
fn balanced(
    mut operands: Vec<Filter>,
    join: fn(Box<Filter>, Box<Filter>) -> Filter,
) -> Option<Filter> {
    if operands.len() <= 1 {
        return operands.pop();
    }
    let right = operands.split_off(operands.len() / 2);
    let left = balanced(operands, join)?;
    let right = balanced(right, join)?;
    Some(join(Box::new(left), Box::new(right)))
}

impl Parser {
    fn new(kind: ResourceKind, input: &str) -> Result<Parser, ScimError> {
        if input.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!(
                "filter is {} bytes long, more than the maximum of {MAX_FILTER_LEN} bytes",
                input.len()
            )));
        }
        if input.trim().is_empty() {
            return Err(ScimError::invalid_filter("filter is empty"));
        }
        Ok(Parser {
            kind,
            tokens: tokenize(input)?,
            index: 0,
            depth: 0,
            outer: None,
        })
    }

    fn peek(&self) -> &Token {
        const END: Token = Token {
            kind: TokenKind::End,
            pos: 0,
        };
        self.tokens
            .get(self.index)
            .or_else(|| self.tokens.last())
            .unwrap_or(&END)
    }

    fn peek_second(&self) -> Option<&TokenKind> {
        self.tokens.get(self.index + 1).map(|t| &t.kind)
    }

    fn advance(&mut self) {
        if self.index < self.tokens.len() {
            self.index += 1;
        }
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn error_at(&self, pos: usize, message: &str) -> ScimError {
        ScimError::invalid_filter(format!("{message} at position {pos}"))
    }

    /// Error for an unexpected current token, e.g. "expected ')' at
    /// position 7, got 'and'".
    fn unexpected(&self, expected: &str) -> ScimError {
        let token = self.peek();
        ScimError::invalid_filter(format!(
            "expected {expected} at position {}, got {}",
            token.pos,
            token.describe()
        ))
    }

    /// Error for a missing ')' or ']' that should close the `open` bracket
    /// at position `open_pos`.
    fn unclosed(&self, open: char, close: char, open_pos: usize) -> ScimError {
        let token = self.peek();
        ScimError::invalid_filter(format!(
            "expected '{close}' at position {} to close the '{open}' at position {open_pos}, \
             got {}",
            token.pos,
            token.describe()
        ))
    }

    fn expect_end(&self) -> Result<(), ScimError> {
        match self.peek().kind {
            TokenKind::End => Ok(()),
            TokenKind::RParen | TokenKind::RBracket => Err(self.error_at(
                self.peek().pos,
                &format!("unbalanced {}", self.peek().describe()),
            )),
            _ => Err(self.unexpected("'and', 'or' or the end of the filter")),
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.error_at(
                pos,
                &format!("filter nesting exceeds the maximum depth of {MAX_FILTER_DEPTH}"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn parse_or(&mut self) -> Result<Filter, ScimError> {
        let mut operands = vec![self.parse_and()?];
        while self.peek_keyword("or") {
            self.advance();
            operands.push(self.parse_and()?);
        }
        balanced(operands, Filter::Or).ok_or_else(|| self.unexpected("a filter"))
    }

    fn parse_and(&mut self) -> Result<Filter, ScimError> {
        let mut operands = vec![self.parse_unary()?];
        while self.peek_keyword("and") {
            self.advance();
            operands.push(self.parse_unary()?);
        }
        balanced(operands, Filter::And).ok_or_else(|| self.unexpected("a filter"))
    }

    fn parse_unary(&mut self) -> Result<Filter, ScimError> {
        let token = self.peek().clone();
        match token.kind {
            TokenKind::LParen => {
                self.advance();
                let inner = self.parse_group(token.pos)?;
                Ok(inner)
            }
            TokenKind::Word(ref word)
                if word.eq_ignore_ascii_case("not")
                    && self.peek_second() == Some(&TokenKind::LParen) =>
            {
                self.advance();
                self.advance();
                let inner = self.parse_group(token.pos)?;
                Ok(Filter::Not(Box::new(inner)))
            }
            TokenKind::Word(ref word) if word.eq_ignore_ascii_case("not") => {
                self.advance();
                Err(self.unexpected("'(' after 'not'"))
            }
            TokenKind::Word(word) => self.parse_attribute_expression(&word, token.pos),
            _ => Err(self.unexpected("an attribute path, '(' or 'not'")),
        }
    }

    /// Parses the rest of a parenthesised group whose '(' is at `open`.
    fn parse_group(&mut self, open: usize) -> Result<Filter, ScimError> {
        self.enter(open)?;
        let inner = self.parse_or()?;
        if self.peek().kind != TokenKind::RParen {
            return Err(self.unclosed('(', ')', open));
        }
        self.advance();
        self.leave();
        Ok(inner)
    }

    fn parse_attribute_expression(&mut self, word: &str, pos: usize) -> Result<Filter, ScimError> {
        if word.starts_with('.') {
            return Err(self.unexpected("an attribute path"));
        }
        self.advance();
        if self.outer.is_some() && self.peek().kind == TokenKind::LBracket {
            return Err(self.error_at(
                self.peek().pos,
                "a value filter '[...]' cannot be nested in another",
            ));
        }
        let path = self.resolve(word, pos)?;

        if self.peek().kind != TokenKind::LBracket {
            return self.parse_comparison(path, word);
        }
        let inner = self.parse_brackets(&path, word)?;

        // The `emails[type eq "work"].value eq "x"` form.
        let filter = match self.peek().kind.clone() {
            TokenKind::Word(suffix) if suffix.starts_with('.') => {
                let suffix_pos = self.peek().pos;
                self.advance();
                let sub_path = self.resolve_sub(&path, &suffix[1..], suffix_pos)?;
                let path_text = format!("{word}[...]{suffix}");
                let extra = self.parse_comparison(sub_path, &path_text)?;
                Filter::And(Box::new(inner), Box::new(extra))
            }
            _ => inner,
        };
        Ok(Filter::ValuePath {
            attr: path,
            filter: Box::new(filter),
        })
    }

    /// Parses `[filter]` after the attribute `path`, written as `word`.
    fn parse_brackets(&mut self, path: &ResolvedPath, word: &str) -> Result<Filter, ScimError> {
        let open = self.peek().pos;
        if self.outer.is_some() {
            return Err(self.error_at(open, "a value filter '[...]' cannot be nested in another"));
        }
        let def = path.def.filter(|d| d.attr_type == AttrType::Complex);
        if def.is_none() || path.sub_attr.is_some() {
            return Err(self.error_at(
                open,
                &format!("'{word}' is not a complex attribute, so it cannot take a value filter"),
            ));
        }

        self.advance();
        self.enter(open)?;
        self.outer = Some(path.clone());
        let inner = self.parse_or();
        self.outer = None;
        let inner = inner?;
        if self.peek().kind != TokenKind::RBracket {
            return Err(self.unclosed('[', ']', open));
        }
        self.advance();
        self.leave();
        Ok(inner)
    }

    fn resolve(&self, word: &str, pos: usize) -> Result<ResolvedPath, ScimError> {
        if let Some(outer) = &self.outer {
            if word.contains(['.', ':']) {
                return Err(self.error_at(
                    pos,
                    &format!(
                        "'{word}' inside '{}[...]' must be a bare sub-attribute name",
                        outer.attr
                    ),
                ));
            }
            return self.resolve_sub(outer, word, pos);
        }
        let resolved = path::resolve(self.kind, word).map_err(|e| {
            self.error_at(
                pos,
                &format!("invalid attribute path '{word}' ({})", e.detail),
            )
        })?;
        if !resolved.is_known() {
            return Err(self.error_at(pos, &format!("unknown attribute '{word}' in filter")));
        }
        Ok(resolved)
    }

    fn resolve_sub(
        &self,
        outer: &ResolvedPath,
        name: &str,
        pos: usize,
    ) -> Result<ResolvedPath, ScimError> {
        let resolved = outer
            .with_sub_attr(name)
            .map_err(|e| self.error_at(pos, &e.detail))?;
        if !resolved.is_known() {
            return Err(self.error_at(
                pos,
                &format!("unknown attribute '{}.{name}' in filter", outer.attr),
            ));
        }
        Ok(resolved)
    }

    /// Parses `pr` or `op value` after the attribute `path`, written as
    /// `path_text`.
    fn parse_comparison(
        &mut self,
        path: ResolvedPath,
        path_text: &str,
    ) -> Result<Filter, ScimError> {
        let op_token = self.peek().clone();
        let op_word = match &op_token.kind {
            TokenKind::Word(w) => w.clone(),
            _ => return Err(self.unexpected(&format!("a comparison operator after '{path_text}'"))),
        };
        if op_word.eq_ignore_ascii_case("pr") {
            self.advance();
            check_filterable(&path).map_err(|m| self.error_at(op_token.pos, &m))?;
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(&op_word) else {
            return Err(self.unexpected(&format!("a comparison operator after '{path_text}'")));
        };
        self.advance();

        let value_token = self.peek().clone();
        let value = match &value_token.kind {
            TokenKind::Str(text) => Value::String(text.clone()),
            TokenKind::Word(w) => literal(w).ok_or_else(|| {
                self.error_at(
                    value_token.pos,
                    &format!(
                        "invalid value '{w}' after '{}': expected a quoted string, a number, \
                         true, false or null",
                        op.as_str()
                    ),
                )
            })?,
            _ => return Err(self.unexpected(&format!("a value after '{}'", op.as_str()))),
        };
        self.advance();

        let path =
            check_comparison(path, op, &value).map_err(|m| self.error_at(op_token.pos, &m))?;
        Ok(Filter::Compare { path, op, value })
    }
}

/// Parses an unquoted value: `true`, `false`, `null` (any case) or a JSON
/// number.
fn literal(word: &str) -> Option<Value> {
    for (keyword, value) in [
        ("true", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("null", Value::Null),
    ] {
        if word.eq_ignore_ascii_case(keyword) {
            return Some(value);
        }
    }
    let starts_numeric = word.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    if !starts_numeric {
        return None;
    }
    match serde_json::from_str::<Value>(word) {
        Ok(number @ Value::Number(_)) => Some(number),
        _ => None,
    }
}

fn check_filterable(path: &ResolvedPath) -> Result<(), String> {
    let never_returned = [path.def, path.sub_def]
        .into_iter()
        .flatten()
        .any(|d| d.returned == Returned::Never);
    if never_returned {
        return Err(format!(
            "attribute '{path}' is never returned, so it cannot be used in a filter"
        ));
    }
    Ok(())
}

/// Checks that `op` and `value` fit the attribute at `path`, returning the
/// path to compare: `emails` becomes `emails.value`.
fn check_comparison(
    path: ResolvedPath,
    op: CompareOp,
    value: &Value,
) -> Result<ResolvedPath, String> {
    check_filterable(&path)?;
    let Some(mut def) = path.target_def() else {
        return Err(format!("unknown attribute '{path}' in filter"));
    };
    let mut path = path;

    if def.attr_type == AttrType::Complex {
        let value_sub = crate::scim::schema::find_sub_attribute(def, "value");
        match value_sub {
            Some(sub) if path.sub_attr.is_none() => {
                path = path.with_sub_attr(sub.name).map_err(|e| e.detail)?;
                def = sub;
            }
            _ => {
                let example = def.sub_attributes.first().map_or("value", |s| s.name);
                return Err(format!(
                    "attribute '{path}' is complex: compare one of its sub-attributes, \
                     e.g. '{path}.{example}'"
                ));
            }
        }
    }

    if value.is_null() {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(path),
            _ => Err(format!(
                "operator '{}' cannot compare with null",
                op.as_str()
            )),
        };
    }
    check_operator(&path, def, op)?;
    check_value_type(&path, def, value)?;
    Ok(path)
}

fn check_operator(path: &ResolvedPath, def: &AttributeDef, op: CompareOp) -> Result<(), String> {
    let allowed = match def.attr_type {
        AttrType::String | AttrType::Reference => true,
        AttrType::Integer | AttrType::Decimal | AttrType::DateTime => !op.is_substring(),
        AttrType::Boolean | AttrType::Binary | AttrType::Complex => {
            matches!(op, CompareOp::Eq | CompareOp::Ne)
        }
    };
    if allowed {
        return Ok(());
    }
    Err(format!(
        "operator '{}' cannot be applied to attribute '{path}' of type {}",
        op.as_str(),
        def.attr_type.as_str()
    ))
}

fn check_value_type(path: &ResolvedPath, def: &AttributeDef, value: &Value) -> Result<(), String> {
    let fits = match def.attr_type {
        AttrType::String | AttrType::Reference | AttrType::Binary => value.is_string(),
        AttrType::Boolean => value.is_boolean(),
        AttrType::Integer => value.is_i64() || value.is_u64(),
        AttrType::Decimal => value.is_number(),
        AttrType::DateTime => {
            if let Some(text) = value.as_str() {
                return match DateTime::parse_from_rfc3339(text) {
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!(
                        "attribute '{path}' is a dateTime, so the value must be an RFC 3339 \
                         timestamp such as \"2024-01-31T12:00:00Z\", got \"{text}\" ({e})"
                    )),
                };
            }
            false
        }
        AttrType::Complex => false,
    };
    if fits {
        return Ok(());
    }
    let expected = match def.attr_type {
        AttrType::Boolean => "true or false",
        AttrType::Integer => "an integer",
        AttrType::Decimal => "a number",
        AttrType::DateTime => "an RFC 3339 timestamp string",
        _ => "a quoted string",
    };
    Err(format!(
        "attribute '{path}' is of type {}, so the value must be {expected}, got {}",
        def.attr_type.as_str(),
        json_type_name(value)
    ))
}
