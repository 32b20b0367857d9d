//! Line insertion at `// maze:...` marker comments.
//!
//! A marker is a line comment alone on its line, outside any block comment or
//! string. Lines go in just above it, at its indentation, so repeated
//! generation keeps them in order. A snippet already present as code is not
//! inserted again.

use crate::lexer::{self, Lang, TokenKind};

#[derive(Debug, PartialEq, Eq)]
pub enum Injected {
    /// The new text, with the snippet above the marker.
    Inserted(String),
    /// The snippet's lines already stand, as code, in this order.
    Present,
}

/// The marker is not in the file (or only inside a comment or string).
#[derive(Debug, PartialEq, Eq)]
pub struct MissingMarker;

/// Inserts `snippet` (one or more lines, relative indentation kept) above `marker`.
pub fn inject(source: &str, lang: Lang, marker: &str, snippet: &str) -> Result<Injected, MissingMarker> {
    let tokens = lexer::tokenize(source, lang);
    let hidden = lexer::non_code_lines(source, &tokens);
    // Present as code, blank lines around it or not (a hand-written `pub mod`).
    if contains_lines(source, &hidden, lang, snippet.trim_matches('\n')) {
        return Ok(Injected::Present);
    }
    let marker_token = tokens
        .iter()
        .find(|t| {
            t.kind == TokenKind::LineComment
                && t.text(source).trim_end() == marker
                && is_alone_on_line(source, t.start)
        })
        .ok_or(MissingMarker)?;
    let line_start = source[..marker_token.start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &source[line_start..marker_token.start];
    let newline = if source.contains("\r\n") { "\r\n" } else { "\n" };
    let mut inserted = String::new();
    for line in snippet.lines() {
        if !line.trim().is_empty() {
            inserted.push_str(indent);
            inserted.push_str(line);
        }
        inserted.push_str(newline);
    }
    Ok(Injected::Inserted(format!("{}{inserted}{}", &source[..line_start], &source[line_start..])))
}

/// Takes `snippet` out, the reverse of [`inject`]; `None` when it is not there (as code).
pub fn remove(source: &str, lang: Lang, snippet: &str) -> Option<String> {
    let tokens = lexer::tokenize(source, lang);
    let hidden = lexer::non_code_lines(source, &tokens);
    let lines: Vec<&str> = source.split_inclusive('\n').collect();
    // As inserted, blank lines and all; else its lines of code alone.
    let (at, wanted) = [snippet, snippet.trim_matches('\n')].into_iter().find_map(|snippet| {
        let wanted: Vec<&str> = snippet.lines().map(str::trim).collect();
        Some((find_window(&lines, &hidden, &wanted, first_code_line(lang, snippet))?, wanted))
    })?;
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i < at || i >= at + wanted.len() {
            out.push_str(line);
        }
    }
    Some(out)
}

/// The functions `source` defines (`fn name`, in code): a snippet that
/// defines one its target file already defines differently would not compile.
pub fn defined_functions(source: &str, lang: Lang) -> Vec<String> {
    let tokens: Vec<_> = lexer::tokenize(source, lang).into_iter().filter(|t| !t.is_comment()).collect();
    let keyword = if lang == Lang::Rust { "fn" } else { "function" };
    tokens
        .windows(2)
        .filter(|pair| {
            pair[0].kind == TokenKind::Ident
                && pair[0].text(source) == keyword
                && pair[1].kind == TokenKind::Ident
        })
        .map(|pair| pair[1].text(source).to_string())
        .collect()
}

fn is_alone_on_line(source: &str, start: usize) -> bool {
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    source[line_start..start].trim().is_empty()
}

fn contains_lines(source: &str, hidden: &[bool], lang: Lang, snippet: &str) -> bool {
    let lines: Vec<&str> = source.split_inclusive('\n').collect();
    let wanted: Vec<&str> = snippet.lines().map(str::trim).collect();
    find_window(&lines, hidden, &wanted, first_code_line(lang, snippet)).is_some()
}

/// The first line of `snippet` that is code (not a doc comment above it, not blank).
fn first_code_line(lang: Lang, snippet: &str) -> usize {
    let tokens = lexer::tokenize(snippet, lang);
    let hidden = lexer::non_code_lines(snippet, &tokens);
    snippet.lines().enumerate().position(|(i, line)| !hidden[i] && !line.trim().is_empty()).unwrap_or(0)
}

/// Where `wanted` stands in `lines` with its line `code` (see
/// [`first_code_line`]) as code, not inside a comment or string.
fn find_window(lines: &[&str], hidden: &[bool], wanted: &[&str], code: usize) -> Option<usize> {
    if wanted.is_empty() || wanted.len() > lines.len() {
        return None;
    }
    (0..=lines.len() - wanted.len()).find(|&at| {
        !hidden[at + code] && wanted.iter().enumerate().all(|(i, want)| lines[at + i].trim() == *want)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str =
        "pub fn routes(routes: &mut Routes) {\n    routes.get(\"/\", index);\n    // maze:routes\n}\n";

    fn inserted(result: Result<Injected, MissingMarker>) -> String {
        match result {
            Ok(Injected::Inserted(text)) => text,
            other => panic!("expected an insertion, got {other:?}"),
        }
    }

    #[test]
    fn inserts_above_the_marker_at_its_indentation() {
        let text = inserted(inject(ROUTES, Lang::Rust, "// maze:routes", "routes.get(\"/a\", a);"));
        assert_eq!(
            text,
            "pub fn routes(routes: &mut Routes) {\n    routes.get(\"/\", index);\n    routes.get(\"/a\", a);\n    // maze:routes\n}\n"
        );
    }

    #[test]
    fn a_present_snippet_is_not_inserted_twice() {
        let text = inserted(inject(ROUTES, Lang::Rust, "// maze:routes", "routes.get(\"/a\", a);"));
        assert_eq!(
            inject(&text, Lang::Rust, "// maze:routes", "routes.get(\"/a\", a);"),
            Ok(Injected::Present)
        );
    }

    #[test]
    fn a_commented_out_copy_does_not_count_as_present() {
        let source = "/*\n    routes.get(\"/a\", a);\n*/\n// routes.get(\"/a\", a);\n// maze:routes\n";
        let text = inserted(inject(source, Lang::Rust, "// maze:routes", "routes.get(\"/a\", a);"));
        assert!(text.ends_with("routes.get(\"/a\", a);\n// maze:routes\n"), "{text}");
    }

    #[test]
    fn markers_in_block_comments_strings_or_after_code_are_not_markers() {
        for source in [
            "/*\n// maze:routes\n*/\n",
            "let s = \"\n// maze:routes\n\";\n",
            "let r = r#\"\n// maze:routes\n\"#;\n",
            "f(); // maze:routes\n",
            "// maze:routes_extra\n",
        ] {
            assert_eq!(
                inject(source, Lang::Rust, "// maze:routes", "x();"),
                Err(MissingMarker),
                "{source:?}"
            );
        }
    }

    #[test]
    fn the_real_marker_after_a_commented_one_is_used() {
        let source = "/* // maze:routes */\n/*\n// maze:routes\n*/\n  // maze:routes\n";
        let text = inserted(inject(source, Lang::Rust, "// maze:routes", "x();"));
        assert!(text.ends_with("*/\n  x();\n  // maze:routes\n"), "{text}");
    }

    #[test]
    fn keeps_windows_line_endings() {
        let text = inserted(inject("a\r\n// maze:mods\r\n", Lang::Rust, "// maze:mods", "pub mod b;"));
        assert_eq!(text, "a\r\npub mod b;\r\n// maze:mods\r\n");
    }

    #[test]
    fn multi_line_snippets_keep_their_shape() {
        let snippet = "f(\n    1,\n);";
        let text = inserted(inject("  // maze:x\n", Lang::Rust, "// maze:x", snippet));
        assert_eq!(text, "  f(\n      1,\n  );\n  // maze:x\n");
        assert_eq!(inject(&text, Lang::Rust, "// maze:x", snippet), Ok(Injected::Present));
        assert_eq!(remove(&text, Lang::Rust, snippet).unwrap(), "  // maze:x\n");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Lines a Rust file around a marker might hold, comments and strings included.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{1,8}\\(\\);",
            "let [a-z]{1,5} = \"[a-z /*]{0,12}\";",
            "// [a-z :]{0,16}",
            "/\\* [a-z]{0,8} \\*/",
            Just("/*".to_string()),
            Just("*/".to_string()),
            Just("// maze:routes".to_string()),
            Just("let s = \"// maze:routes\";".to_string()),
            Just("r#\"".to_string()),
            Just("\"#;".to_string()),
            Just(String::new()),
        ]
    }

    proptest! {
        #[test]
        fn injecting_then_removing_restores_the_file(
            before in prop::collection::vec(line(), 0..12),
            after in prop::collection::vec(line(), 0..12),
            indent in "[ ]{0,8}",
            snippet in prop::collection::vec("[a-z_]{1,10}\\(\\d{1,3}\\);", 1..4),
        ) {
            let source = format!("{}\n{indent}// maze:routes\n{}\n", before.join("\n"), after.join("\n"));
            let snippet = snippet.join("\n");
            match inject(&source, Lang::Rust, "// maze:routes", &snippet) {
                Ok(Injected::Inserted(text)) => {
                    prop_assert_eq!(remove(&text, Lang::Rust, &snippet), Some(source.clone()));
                    // Never inside a comment or string: every inserted line is code.
                    let tokens = lexer::tokenize(&text, Lang::Rust);
                    let hidden = lexer::non_code_lines(&text, &tokens);
                    let first = snippet.lines().next().unwrap();
                    let is_code = text.lines().enumerate().any(|(i, line)| line.trim() == first && !hidden[i]);
                    prop_assert!(is_code, "inserted {:?} is not code in:\n{}", first, text);
                }
                Ok(Injected::Present) => prop_assert!(false, "the snippet was not there"),
                // Refusing is right only when the marker line is not a
                // comment of its own: it is inside a block comment or a string.
                Err(MissingMarker) => {
                    let marker_line = format!("\n{indent}// maze:routes\n");
                    let at = source.find(&marker_line).expect("the marker line is in the source") + 1 + indent.len();
                    let tokens = lexer::tokenize(&source, Lang::Rust);
                    let a_comment_of_its_own =
                        tokens.iter().any(|t| t.kind == lexer::TokenKind::LineComment && t.start == at);
                    prop_assert!(!a_comment_of_its_own, "a real marker was refused in:\n{}", source);
                }
            }
        }
    }
}
