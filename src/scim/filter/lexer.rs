//! Tokenizer for SCIM filter expressions.
//!
//! Positions are 0-based character offsets into the filter text, so error
//! messages point at the right place in non-ASCII input.

use crate::scim::error::ScimError;

/// One token of a filter expression.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum TokenKind {
    /// An attribute path, operator, keyword, number or literal such as
    /// `true`: any run of characters other than whitespace, `()[]` and '"'.
    Word(String),
    /// A JSON string literal with its escapes decoded.
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// End of input, so the parser can report a position for it.
    End,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    pub(super) pos: usize,
}

impl Token {
    /// Describes the token for error messages, e.g. `'userName'`.
    pub(super) fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(word) => format!("'{word}'"),
            TokenKind::Str(text) => format!("the string {}", quote_json(text)),
            TokenKind::LParen => "'('".to_owned(),
            TokenKind::RParen => "')'".to_owned(),
            TokenKind::LBracket => "'['".to_owned(),
            TokenKind::RBracket => "']'".to_owned(),
            TokenKind::End => "the end of the filter".to_owned(),
        }
    }
}

fn quote_json(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// Splits `input` into tokens, ending with [`TokenKind::End`].
pub(super) fn tokenize(input: &str) -> Result<Vec<Token>, ScimError> {
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;

    while let Some(&(byte_start, c)) = chars.get(i) {
        let pos = i;
        let single = match c {
            '(' => Some(TokenKind::LParen),
            ')' => Some(TokenKind::RParen),
            '[' => Some(TokenKind::LBracket),
            ']' => Some(TokenKind::RBracket),
            _ => None,
        };
        if let Some(kind) = single {
            tokens.push(Token { kind, pos });
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let (text, next) = lex_string(input, &chars, i)?;
            tokens.push(Token {
                kind: TokenKind::Str(text),
                pos,
            });
            i = next;
        } else {
            let mut end = i;
            while chars.get(end).is_some_and(|&(_, c)| is_word_char(c)) {
                end += 1;
            }
            let byte_end = chars.get(end).map_or(input.len(), |&(b, _)| b);
            let word = input.get(byte_start..byte_end).unwrap_or_default();
            tokens.push(Token {
                kind: TokenKind::Word(word.to_owned()),
                pos,
            });
            i = end;
        }
    }

    tokens.push(Token {
        kind: TokenKind::End,
        pos: chars.len(),
    });
    Ok(tokens)
}

/// Lexes the string literal whose opening quote is character `start` and
/// returns its decoded text and the index after the closing quote.
///
/// The literal is decoded by serde_json, so escapes follow JSON exactly,
/// including `\uXXXX` surrogate pairs.
fn lex_string(
    input: &str,
    chars: &[(usize, char)],
    start: usize,
) -> Result<(String, usize), ScimError> {
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(ScimError::invalid_filter(format!(
                    "unterminated string starting at position {start}"
                )))
            }
            Some((_, '\\')) => i += 2,
            Some((_, '"')) => break,
            Some(_) => i += 1,
        }
    }

    let byte_start = chars.get(start).map_or(0, |&(b, _)| b);
    let byte_end = chars.get(i + 1).map_or(input.len(), |&(b, _)| b);
    let literal = input.get(byte_start..byte_end).unwrap_or_default();
    let text: String = serde_json::from_str(literal).map_err(|_| {
        ScimError::invalid_filter(format!(
            "invalid string {literal} at position {start}: use JSON escapes such as \\\" \
             and \\u00e9, and no raw control characters"
        ))
    })?;
    Ok((text, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        tokenize(input)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    fn word(w: &str) -> TokenKind {
        TokenKind::Word(w.to_owned())
    }

    #[test]
    fn lexer_value_path_tokens() {
        assert_eq!(
            kinds(r#"emails[type eq "work"].value pr"#),
            vec![
                word("emails"),
                TokenKind::LBracket,
                word("type"),
                word("eq"),
                TokenKind::Str("work".into()),
                TokenKind::RBracket,
                word(".value"),
                word("pr"),
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn lexer_string_escapes() {
        assert_eq!(
            kinds(r#""a \"b\" \\ \u00e9 \ud83d\ude00""#),
            vec![TokenKind::Str("a \"b\" \\ é 😀".into()), TokenKind::End]
        );
    }

    #[test]
    fn lexer_string_keeps_brackets() {
        assert_eq!(
            kinds(r#"x eq "a) and [b""#),
            vec![
                word("x"),
                word("eq"),
                TokenKind::Str("a) and [b".into()),
                TokenKind::End
            ]
        );
    }

    #[test]
    fn lexer_char_positions() {
        let tokens = tokenize("ü eq \"é\" )").unwrap();
        let positions: Vec<usize> = tokens.iter().map(|t| t.pos).collect();
        assert_eq!(positions, vec![0, 2, 5, 9, 10]);
    }

    #[test]
    fn lexer_unterminated_string() {
        let err = tokenize(r#"userName eq "abc"#).unwrap_err();
        assert_eq!(err.detail, "unterminated string starting at position 12");
        let err = tokenize(r#"a eq "x\"#).unwrap_err();
        assert_eq!(err.detail, "unterminated string starting at position 5");
    }

    #[test]
    fn lexer_invalid_escape() {
        let err = tokenize(r#"a eq "\q""#).unwrap_err();
        assert!(err
            .detail
            .starts_with(r#"invalid string "\q" at position 5"#));
    }
}
