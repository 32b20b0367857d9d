//! A small lexer for Rust and JavaScript source: enough to tell code from
//! comments and strings, so markers in comments are found, routes inside
//! comments are never listed, and a marker inside a block comment or a string
//! is never taken for the real one.

/// Which language's strings and comments to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    JavaScript,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    Ident,
    /// A string literal; `value` holds its contents (escapes kept as written,
    /// except that `\"` and `\\` are unescaped).
    Str,
    /// A string literal whose contents could not be read plainly (e.g. a JS template with `${}`).
    OpaqueStr,
    Char,
    Lifetime,
    Number,
    LineComment,
    BlockComment,
    Punct,
}

/// A token: its kind and where it is. Its text is read from the source on
/// demand, so lexing a large file allocates once, for the token list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
    /// 1-based line of the first byte.
    pub line: usize,
    /// The character of a punctuation token ('\0' for other kinds).
    pub punct: char,
}

impl Token {
    pub fn is_punct(&self, c: char) -> bool {
        self.kind == TokenKind::Punct && self.punct == c
    }

    /// The token's source text (a comment's whole text, a string with its quotes).
    pub fn text<'s>(&self, source: &'s str) -> &'s str {
        &source[self.start..self.end]
    }

    /// A string literal's contents, with `\"` and `\\` unescaped.
    pub fn string_value(&self, source: &str) -> String {
        unescape_simple(string_contents(self.text(source)))
    }

    pub fn is_comment(&self) -> bool {
        matches!(self.kind, TokenKind::LineComment | TokenKind::BlockComment)
    }
}

/// The index of the token closing the group opened at `tokens[open]`
/// (`(`, `[`, `{` or `<`), nested groups of the same kind skipped.
pub fn matching(tokens: &[Token], open: usize, opener: char, closer: char) -> Option<usize> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.is_punct(opener) {
            depth += 1;
        } else if token.is_punct(closer) {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Splits `source` into tokens. Never fails: an unterminated string or
/// comment runs to the end of the source.
pub fn tokenize(source: &str, lang: Lang) -> Vec<Token> {
    Lexer { source, bytes: source.as_bytes(), pos: 0, line: 1, lang, tokens: Vec::new() }.run()
}

struct Lexer<'a> {
    source: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    lang: Lang,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn run(mut self) -> Vec<Token> {
        while let Some(c) = self.peek(0) {
            let (start, line) = (self.pos, self.line);
            let kind = match c {
                c if c.is_ascii_whitespace() => {
                    self.bump();
                    continue;
                }
                b'/' if self.peek(1) == Some(b'/') => self.line_comment(),
                b'/' if self.peek(1) == Some(b'*') => self.block_comment(),
                b'"' => self.quoted(b'"'),
                b'\'' if self.lang == Lang::JavaScript => self.quoted(b'\''),
                b'`' if self.lang == Lang::JavaScript => self.template(),
                b'\'' => self.char_or_lifetime(),
                b'r' | b'b' | b'c' if self.lang == Lang::Rust && self.raw_string_ahead() => self.raw_string(),
                b'b' | b'c' if self.lang == Lang::Rust && self.peek(1) == Some(b'"') => {
                    self.bump();
                    self.quoted(b'"')
                }
                c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 || c == b'$' => self.ident(),
                c if c.is_ascii_digit() => self.number(),
                _ => {
                    self.bump_char();
                    TokenKind::Punct
                }
            };
            let punct = match kind {
                TokenKind::Punct => self.source[start..].chars().next().unwrap_or('\0'),
                _ => '\0',
            };
            self.tokens.push(Token { kind, start, end: self.pos, line, punct });
        }
        self.tokens
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) {
        if self.bytes[self.pos] == b'\n' {
            self.line += 1;
        }
        self.pos += 1;
    }

    /// Advances over one whole UTF-8 character.
    fn bump_char(&mut self) {
        self.bump();
        while self.peek(0).is_some_and(|b| b & 0xC0 == 0x80) {
            self.pos += 1;
        }
    }

    fn line_comment(&mut self) -> TokenKind {
        while self.peek(0).is_some_and(|b| b != b'\n') {
            self.pos += 1;
        }
        TokenKind::LineComment
    }

    fn block_comment(&mut self) -> TokenKind {
        self.pos += 2;
        let mut depth = 1;
        while depth > 0 {
            match (self.peek(0), self.peek(1)) {
                (None, _) => break,
                // Rust block comments nest; JavaScript's do not.
                (Some(b'/'), Some(b'*')) if self.lang == Lang::Rust => {
                    depth += 1;
                    self.pos += 2;
                }
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                }
                _ => self.bump(),
            }
        }
        TokenKind::BlockComment
    }

    fn quoted(&mut self, quote: u8) -> TokenKind {
        self.bump();
        while let Some(b) = self.peek(0) {
            self.bump();
            if b == b'\\' && self.peek(0).is_some() {
                self.bump();
            } else if b == quote {
                break;
            }
        }
        TokenKind::Str
    }

    fn template(&mut self) -> TokenKind {
        self.bump();
        let mut interpolated = false;
        while let Some(b) = self.peek(0) {
            self.bump();
            match b {
                b'\\' if self.peek(0).is_some() => self.bump(),
                b'$' if self.peek(0) == Some(b'{') => interpolated = true,
                b'`' => break,
                _ => {}
            }
        }
        if interpolated { TokenKind::OpaqueStr } else { TokenKind::Str }
    }

    fn char_or_lifetime(&mut self) -> TokenKind {
        // 'x', '\n', '\u{1F600}' are chars; 'a (no closing quote) is a lifetime.
        let rest = &self.source[self.pos + 1..];
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, '\\')) => {
                self.pos += 2;
                if self.peek(0).is_some() {
                    self.bump_char();
                }
                self.quoted_tail(b'\'');
                TokenKind::Char
            }
            Some((_, c)) => {
                let after = 1 + c.len_utf8();
                if self.bytes.get(self.pos + after) == Some(&b'\'') {
                    self.pos += after + 1;
                    TokenKind::Char
                } else {
                    self.pos += 1;
                    while self.peek(0).is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric()) {
                        self.pos += 1;
                    }
                    TokenKind::Lifetime
                }
            }
            None => {
                self.pos += 1;
                TokenKind::Punct
            }
        }
    }

    fn quoted_tail(&mut self, quote: u8) {
        while let Some(b) = self.peek(0) {
            self.bump();
            if b == quote {
                break;
            }
        }
    }

    /// `r"`, `r#"`, `br"`, `cr#"`…
    fn raw_string_ahead(&self) -> bool {
        let mut i = 0;
        if matches!(self.peek(0), Some(b'b' | b'c')) {
            i += 1;
        }
        if self.peek(i) != Some(b'r') {
            return false;
        }
        i += 1;
        while self.peek(i) == Some(b'#') {
            i += 1;
        }
        self.peek(i) == Some(b'"')
    }

    fn raw_string(&mut self) -> TokenKind {
        while self.peek(0) != Some(b'r') {
            self.pos += 1;
        }
        self.pos += 1;
        let mut hashes = 0;
        while self.peek(0) == Some(b'#') {
            hashes += 1;
            self.pos += 1;
        }
        self.pos += 1; // opening quote
        loop {
            match self.peek(0) {
                None => break,
                Some(b'"') if (1..=hashes).all(|i| self.peek(i) == Some(b'#')) => {
                    self.pos += 1 + hashes;
                    break;
                }
                _ => self.bump(),
            }
        }
        TokenKind::Str
    }

    fn ident(&mut self) -> TokenKind {
        while self.peek(0).is_some_and(|b| b == b'_' || b == b'$' || b.is_ascii_alphanumeric() || b >= 0x80) {
            self.pos += 1;
        }
        TokenKind::Ident
    }

    fn number(&mut self) -> TokenKind {
        while self.peek(0).is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        TokenKind::Number
    }
}

/// The text between a string token's quotes (raw or not); an unterminated
/// string's contents run to its end.
fn string_contents(text: &str) -> &str {
    let Some(quote_at) = text.find(['"', '\'', '`']) else {
        return "";
    };
    let closing = format!("{}{}", &text[quote_at..=quote_at], &text[..quote_at].replace(['b', 'c', 'r'], ""));
    let open = quote_at + 1;
    if text.len() >= open + closing.len() && text.ends_with(&closing) {
        &text[open..text.len() - closing.len()]
    } else {
        &text[open..]
    }
}

fn unescape_simple(contents: &str) -> String {
    contents.replace("\\\\", "\u{0}").replace("\\\"", "\"").replace('\u{0}', "\\")
}

/// For each line (0-based), whether its first non-blank byte is inside a
/// comment or a string: such a line is not code, whatever it looks like.
pub fn non_code_lines(source: &str, tokens: &[Token]) -> Vec<bool> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        starts.push(offset + indent);
        offset += line.len();
    }
    let mut hidden = vec![false; starts.len()];
    // `starts` ascends, so each token's lines are found by binary search.
    for token in
        tokens.iter().filter(|t| t.is_comment() || matches!(t.kind, TokenKind::Str | TokenKind::OpaqueStr))
    {
        // A line comment hides its own line; block comments and strings hide
        // every line whose first byte they cover, bar the one they start on.
        let (from, to) = if token.kind == TokenKind::LineComment {
            (token.start, token.start + 1)
        } else {
            (token.start + 1, token.end)
        };
        let first = starts.partition_point(|&start| start < from);
        let last = starts.partition_point(|&start| start < to);
        hidden[first..last].iter_mut().for_each(|line| *line = true);
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(token: &Token, source: &str) -> String {
        match token.kind {
            TokenKind::Str => token.string_value(source),
            _ => token.text(source).to_string(),
        }
    }

    fn kinds(source: &str) -> Vec<(TokenKind, String)> {
        tokenize(source, Lang::Rust).into_iter().map(|t| (t.kind.clone(), value(&t, source))).collect()
    }

    #[test]
    fn comments_and_strings_are_single_tokens() {
        let tokens = kinds("a /* x /* nested */ y */ \"s \\\" t\" // end\nb");
        let names: Vec<_> = tokens.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(
            names,
            [
                TokenKind::Ident,
                TokenKind::BlockComment,
                TokenKind::Str,
                TokenKind::LineComment,
                TokenKind::Ident
            ]
        );
        assert_eq!(tokens[2].1, "s \" t");
    }

    #[test]
    fn raw_strings_end_at_their_hashes() {
        let tokens = kinds(r####"r#"a "quoted" // not a comment"# x"####);
        assert_eq!(tokens[0], (TokenKind::Str, r#"a "quoted" // not a comment"#.to_string()));
        assert_eq!(tokens[1], (TokenKind::Ident, "x".to_string()));
    }

    #[test]
    fn chars_and_lifetimes() {
        let tokens = kinds("'a' '\\'' 'b x");
        assert_eq!(tokens[0].0, TokenKind::Char);
        assert_eq!(tokens[1].0, TokenKind::Char);
        assert_eq!(tokens[2].0, TokenKind::Lifetime);
    }

    #[test]
    fn javascript_quotes() {
        let tokens = tokenize("import 'a/*b'; `x ${y}` // c", Lang::JavaScript);
        assert_eq!(tokens[1].kind, TokenKind::Str);
        assert_eq!(tokens[1].string_value("import 'a/*b'; `x ${y}` // c"), "a/*b");
        assert_eq!(tokens[3].kind, TokenKind::OpaqueStr);
        assert_eq!(tokens[4].kind, TokenKind::LineComment);
    }

    #[test]
    fn lines_inside_block_comments_are_not_code() {
        let source = "a\n/*\n// maze:routes\n*/\n// maze:routes\n";
        let tokens = tokenize(source, Lang::Rust);
        assert_eq!(non_code_lines(source, &tokens), [false, false, true, true, true]);
    }

    #[test]
    fn never_panics_on_unterminated_input() {
        for source in ["\"abc", "/* abc", "r#\"abc", "'", "b'", "r#", "'\\", "é'", "'é"] {
            tokenize(source, Lang::Rust);
            tokenize(source, Lang::JavaScript);
        }
    }
}
