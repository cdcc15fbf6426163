//! SCIM filter expressions (RFC 7644 §3.4.2.2): parsing into a typed AST,
//! canonical printing, and in-memory evaluation.
//!
//! [`parse_filter`] resolves every attribute against the schemas of the
//! resource type and checks that each comparison value fits its attribute,
//! so the storage layer can translate the AST without further validation.

use std::fmt;

use serde_json::Value;

use super::error::ScimError;
use super::path::ResolvedPath;
use super::schema::ResourceKind;

mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub(crate) use eval::get_ignore_case;

/// Maximum nesting of parentheses, `not (...)` and `[...]` in a filter.
///
/// Parsing recurses once per level, so the limit bounds stack use. Chains of
/// `and` and `or` do not count, because the parser builds them as balanced
/// trees of logarithmic depth.
pub const MAX_FILTER_DEPTH: usize = 64;

/// Maximum filter length in bytes (16 KiB).
///
/// Identity providers send filters of well under 1 KiB; the limit bounds
/// parsing time and the size of the AST built from an untrusted query string.
pub const MAX_FILTER_LEN: usize = 16 * 1024;

/// A comparison operator (RFC 7644 §3.4.2.2, table 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains a substring.
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Greater than.
    Gt,
    /// Greater than or equal to.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal to.
    Le,
}

impl CompareOp {
    /// Returns the lowercase operator keyword, e.g. `eq`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Parses an operator keyword, ignoring ASCII case.
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// Returns true for `gt`, `ge`, `lt` and `le`.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    /// Returns true for `co`, `sw` and `ew`.
    pub fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

/// A parsed, schema-checked filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `path op value`. A comparison on a multi-valued complex attribute
    /// without a sub-attribute, such as `emails co "x"`, is stored against
    /// its `value` sub-attribute (`emails.value co "x"`).
    Compare {
        /// The compared attribute.
        path: ResolvedPath,
        /// The operator.
        op: CompareOp,
        /// A string, number, boolean or null that fits the attribute type.
        value: Value,
    },
    /// `path pr`: the attribute has a non-empty value.
    Present(ResolvedPath),
    /// Both filters match.
    And(Box<Filter>, Box<Filter>),
    /// Either filter matches.
    Or(Box<Filter>, Box<Filter>),
    /// `not (filter)`.
    Not(Box<Filter>),
    /// `attr[filter]`: some element of `attr` matches `filter`. Paths in
    /// `filter` are sub-attributes of `attr`, i.e. [`ResolvedPath`]s whose
    /// `attr` is the outer attribute and whose `sub_attr` is set.
    ValuePath {
        /// The multi-valued or complex attribute whose elements are tested.
        attr: ResolvedPath,
        /// Filter that one element must match.
        filter: Box<Filter>,
    },
}

/// Parses and checks a filter for resource type `kind`.
///
/// Keywords and operators are case-insensitive. Attribute paths resolve as
/// in [`crate::scim::path::resolve`]; an unknown attribute, an operator that
/// does not fit the attribute type, or a value of the wrong JSON type is an
/// `invalidFilter` error, whose detail gives the 0-based character position.
pub fn parse_filter(kind: ResourceKind, input: &str) -> Result<Filter, ScimError> {
    let filter = parser::parse(kind, input)?;
    if filter.has_nul_value() {
        // Databases cannot store or compare text containing U+0000.
        return Err(ScimError::invalid_filter(
            "filter values must not contain the NUL character (\\u0000)",
        ));
    }
    Ok(filter)
}

impl Filter {
    /// Returns true when a compared string contains U+0000.
    fn has_nul_value(&self) -> bool {
        match self {
            Filter::Compare { value, .. } => value.as_str().is_some_and(|text| text.contains('\0')),
            Filter::Present(_) => false,
            Filter::And(left, right) | Filter::Or(left, right) => {
                left.has_nul_value() || right.has_nul_value()
            }
            Filter::Not(inner) => inner.has_nul_value(),
            Filter::ValuePath { filter, .. } => filter.has_nul_value(),
        }
    }
}

/// Parses `attr[filter]` optionally followed by `.subAttr`, the PATCH path
/// form with a value filter. Returns the attribute, the filter and the raw
/// sub-attribute name. Errors are `invalidFilter`.
pub(crate) fn parse_value_path(
    kind: ResourceKind,
    input: &str,
) -> Result<(ResolvedPath, Filter, Option<String>), ScimError> {
    parser::parse_value_path(kind, input)
}

/// Displays a filter as it appears inside `attr[...]`, with bare
/// sub-attribute names; see [`Filter::in_brackets`].
pub struct InBrackets<'a>(&'a Filter);

impl fmt::Display for InBrackets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f, true)
    }
}

impl Filter {
    /// Returns a printable form of a value filter as written inside
    /// `attr[...]`: `type eq "work"` rather than `emails.type eq "work"`.
    pub fn in_brackets(&self) -> InBrackets<'_> {
        InBrackets(self)
    }

    fn is_binary(&self) -> bool {
        matches!(self, Filter::And(..) | Filter::Or(..))
    }

    /// Writes the filter; `inner` means inside `[...]`, where paths print
    /// as bare sub-attribute names.
    fn write(&self, f: &mut fmt::Formatter<'_>, inner: bool) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => {
                write_path(f, path, inner)?;
                write!(f, " {} {}", op.as_str(), value)
            }
            Filter::Present(path) => {
                write_path(f, path, inner)?;
                f.write_str(" pr")
            }
            Filter::And(left, right) => write_binary(f, left, "and", right, inner),
            Filter::Or(left, right) => write_binary(f, left, "or", right, inner),
            Filter::Not(operand) => {
                f.write_str("not (")?;
                operand.write(f, inner)?;
                f.write_str(")")
            }
            Filter::ValuePath { attr, filter } => {
                write!(f, "{attr}[")?;
                filter.write(f, true)?;
                f.write_str("]")
            }
        }
    }
}

fn write_path(f: &mut fmt::Formatter<'_>, path: &ResolvedPath, inner: bool) -> fmt::Result {
    match (&path.sub_attr, inner) {
        (Some(sub), true) => f.write_str(sub),
        _ => write!(f, "{path}"),
    }
}

/// Writes `left op right`, parenthesising operands that are themselves
/// `and` or `or`, so the printed text parses back into the same tree.
fn write_binary(
    f: &mut fmt::Formatter<'_>,
    left: &Filter,
    keyword: &str,
    right: &Filter,
    inner: bool,
) -> fmt::Result {
    for (index, operand) in [left, right].into_iter().enumerate() {
        if index == 1 {
            write!(f, " {keyword} ")?;
        }
        if operand.is_binary() {
            f.write_str("(")?;
            operand.write(f, inner)?;
            f.write_str(")")?;
        } else {
            operand.write(f, inner)?;
        }
    }
    Ok(())
}

impl fmt::Display for Filter {
    /// Prints the canonical form: canonical attribute names, lowercase
    /// keywords, JSON values, and parentheses around nested `and`/`or`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}
