//! Finding an axum router in Rust source, as tokens (no Rust parser): a
//! `Router::new()` and the method calls chained on it, so that one more call
//! can go at the chain's end (`maze init`'s `.merge(...)`), and come out again.

use crate::lexer::{Lang, Token, TokenKind, matching, tokenize};

/// `Router::new()` (or `axum::Router::new()`, `Router::<S>::new()`) and
/// the calls chained on it: `.route(...)`, `.layer(...)`, `.with_state(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// 1-based line of `Router`.
    pub line: usize,
    /// Byte offset just past the chain's last `)`: where another call goes.
    pub end: usize,
    /// The indentation of the chain's last call when it starts a line of its
    /// own (a chain written one call per line), else `None`.
    pub call_indent: Option<String>,
    /// The statement `let [mut] name = CHAIN;` when the chain is all of its
    /// value: a call can then go in a statement of its own after it.
    pub binding: Option<Binding>,
}

/// `let [mut] name = ...;` around a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    pub mutable: bool,
    /// The indentation of the `let` line.
    pub indent: String,
    /// Byte offset just past the statement's `;`.
    pub end: usize,
}

/// Every router chain in `source`, in order.
pub fn chains(source: &str) -> Vec<Chain> {
    let tokens: Vec<Token> = tokenize(source, Lang::Rust).into_iter().filter(|t| !t.is_comment()).collect();
    let mut found = Vec::new();
    for at in 0..tokens.len() {
        if let Some(after_new) = router_new(source, &tokens, at) {
            found.push(chain_from(source, &tokens, at, after_new));
        }
    }
    found
}

/// `source` with `call` (`.merge(x)`) added to `chain`: on a line of its
/// own, indented as the chain's calls, when they are one per line; for a
/// chain on one line that is a `let` statement's value, as a statement of
/// its own after it (`let app = app.merge(x);`), so the chain's line stays
/// as it was and as rustfmt wants it; else right after the last call.
pub fn append_call(source: &str, chain: &Chain, call: &str) -> String {
    let newline = if source.contains("\r\n") { "\r\n" } else { "\n" };
    let (at, text) = match (&chain.call_indent, &chain.binding) {
        (Some(indent), _) => (chain.end, format!("{newline}{indent}{call}")),
        (None, Some(binding)) => (binding.end, format!("{newline}{}", statement(binding, call))),
        (None, None) => (chain.end, call.to_string()),
    };
    format!("{}{text}{}", &source[..at], &source[at..])
}

/// `let app = app.merge(x);`, indented.
fn statement(binding: &Binding, call: &str) -> String {
    let Binding { name, mutable, indent, .. } = binding;
    let mutable = if *mutable { "mut " } else { "" };
    format!("{indent}let {mutable}{name} = {name}{call};")
}

/// The reverse of [`append_call`]: `source` without `call` where it added
/// it; `None` when it is nowhere.
pub fn remove_call(source: &str, call: &str) -> Option<String> {
    let found = chains(source);
    found.iter().find_map(|chain| remove_from_chain(source, chain, call)).or_else(|| {
        found.iter().filter_map(|chain| chain.binding.as_ref()).find_map(|binding| {
            let newline = if source.contains("\r\n") { "\r\n" } else { "\n" };
            let added = format!("{newline}{}", statement(binding, call));
            source[binding.end..]
                .starts_with(&added)
                .then(|| format!("{}{}", &source[..binding.end], &source[binding.end + added.len()..]))
        })
    })
}

/// `source` without `call` at the end of `chain` (and the line break before
/// it, when it has a line of its own).
fn remove_from_chain(source: &str, chain: &Chain, call: &str) -> Option<String> {
    let call_start = source[..chain.end].strip_suffix(call).map(str::len)?;
    let own_line = source[..call_start].trim_end_matches([' ', '\t']);
    let start = if own_line.ends_with('\n') {
        own_line.trim_end_matches('\n').trim_end_matches('\r').len()
    } else {
        call_start
    };
    Some(format!("{}{}", &source[..start], &source[chain.end..]))
}

/// Whether `tokens[at..]` starts `Router::new()`, `Router::<S>::new()` (after
/// any `axum::` path); the index just past its `)` if so.
fn router_new(source: &str, tokens: &[Token], at: usize) -> Option<usize> {
    let ident = |i: usize, name: &str| {
        tokens.get(i).is_some_and(|t| t.kind == TokenKind::Ident && t.text(source) == name)
    };
    let path_sep = |i: usize| {
        tokens.get(i).is_some_and(|t| t.is_punct(':')) && tokens.get(i + 1).is_some_and(|t| t.is_punct(':'))
    };
    if !ident(at, "Router") || (at >= 2 && path_sep(at - 2) && !ident(at.saturating_sub(3), "axum")) {
        return None;
    }
    let mut next = at + 1;
    if !path_sep(next) {
        return None;
    }
    next += 2;
    if tokens.get(next).is_some_and(|t| t.is_punct('<')) {
        next = matching(tokens, next, '<', '>')? + 1;
        if !path_sep(next) {
            return None;
        }
        next += 2;
    }
    if !ident(next, "new")
        || !tokens.get(next + 1).is_some_and(|t| t.is_punct('('))
        || !tokens.get(next + 2).is_some_and(|t| t.is_punct(')'))
    {
        return None;
    }
    Some(next + 3)
}

/// The chain of `.name(...)` calls (a turbofish allowed, `?` and `.await`
/// too) after the `Router::new()` at `start`, which ends at `after_new`.
fn chain_from(source: &str, tokens: &[Token], start: usize, after_new: usize) -> Chain {
    let mut end = tokens[after_new - 1].end;
    let mut last_call_dot = None;
    let mut at = after_new;
    loop {
        if tokens.get(at).is_some_and(|t| t.is_punct('?')) {
            end = tokens[at].end;
            at += 1;
            continue;
        }
        if !tokens.get(at).is_some_and(|t| t.is_punct('.'))
            || !tokens.get(at + 1).is_some_and(|t| t.kind == TokenKind::Ident)
        {
            break;
        }
        let dot = at;
        let mut next = at + 2;
        if tokens[at + 1].text(source) == "await" {
            end = tokens[at + 1].end;
            at = next;
            continue;
        }
        if tokens.get(next).is_some_and(|t| t.is_punct(':'))
            && tokens.get(next + 2).is_some_and(|t| t.is_punct('<'))
        {
            match matching(tokens, next + 2, '<', '>') {
                Some(close) => next = close + 1,
                None => break,
            }
        }
        if !tokens.get(next).is_some_and(|t| t.is_punct('(')) {
            break;
        }
        let Some(close) = matching(tokens, next, '(', ')') else { break };
        end = tokens[close].end;
        last_call_dot = Some(dot);
        at = close + 1;
    }
    let call_indent = last_call_dot.and_then(|dot| {
        let line_start = source[..tokens[dot].start].rfind('\n').map_or(0, |i| i + 1);
        let indent = &source[line_start..tokens[dot].start];
        indent.chars().all(|c| c == ' ' || c == '\t').then(|| indent.to_string())
    });
    let binding = binding(source, tokens, start, at);
    Chain { line: tokens[start].line, end, call_indent, binding }
}

/// The `let [mut] name [: T] =` before the chain starting at `start`, when
/// a `;` follows its end (`after`, a token index).
fn binding(source: &str, tokens: &[Token], start: usize, after: usize) -> Option<Binding> {
    let semicolon = tokens.get(after).filter(|t| t.is_punct(';'))?;
    // Back from the `=` before `Router` to `let`, within one statement.
    let mut start = start;
    if start >= 3 && tokens[start - 1].is_punct(':') && tokens[start - 3].text(source) == "axum" {
        start -= 3;
    }
    if !tokens.get(start.checked_sub(1)?).is_some_and(|t| t.is_punct('=')) {
        return None;
    }
    let is_let = |t: &Token| t.kind == TokenKind::Ident && t.text(source) == "let";
    let stop = |t: &Token| t.is_punct(';') || t.is_punct('{') || t.is_punct('}');
    let let_at = (0..start - 1).rev().take_while(|&i| !stop(&tokens[i])).find(|&i| is_let(&tokens[i]))?;
    let mutable = tokens.get(let_at + 1).is_some_and(|t| t.text(source) == "mut");
    let name = tokens.get(let_at + 1 + usize::from(mutable)).filter(|t| t.kind == TokenKind::Ident)?;
    let line_start = source[..tokens[let_at].start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &source[line_start..tokens[let_at].start];
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    Some(Binding {
        name: name.text(source).to_string(),
        mutable,
        indent: indent.to_string(),
        end: semicolon.end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = ".merge(app::sockets::router())";

    fn round_trip(source: &str, expected: &str) {
        let found = chains(source);
        assert_eq!(found.len(), 1, "{source}");
        let appended = append_call(source, &found[0], CALL);
        assert_eq!(appended, expected);
        assert_eq!(remove_call(&appended, CALL).as_deref(), Some(source));
    }

    #[test]
    fn a_one_line_chain_bound_by_let_gets_a_statement_after_it() {
        round_trip(
            "    let app = Router::new().route(\"/\", get(root));\n    serve(app);\n",
            "    let app = Router::new().route(\"/\", get(root));\n    let app = app.merge(app::sockets::router());\n    serve(app);\n",
        );
        round_trip(
            "let mut app: Router = axum::Router::new();\n",
            "let mut app: Router = axum::Router::new();\nlet mut app = app.merge(app::sockets::router());\n",
        );
    }

    #[test]
    fn a_one_line_chain_elsewhere_gets_the_call_at_its_end() {
        round_trip(
            "serve(listener, Router::new().route(\"/\", get(root))).await;\n",
            "serve(listener, Router::new().route(\"/\", get(root)).merge(app::sockets::router())).await;\n",
        );
    }

    #[test]
    fn a_chain_one_call_per_line_gets_a_line() {
        round_trip(
            "fn app() -> Router {\n    Router::new()\n        .route(\"/\", get(root))\n        .layer(from_fn(stamp))\n}\n",
            "fn app() -> Router {\n    Router::new()\n        .route(\"/\", get(root))\n        .layer(from_fn(stamp))\n        .merge(app::sockets::router())\n}\n",
        );
    }

    #[test]
    fn the_chain_ends_after_with_state_and_nested_parentheses() {
        let source = "let app = axum::Router::<AppState>::new()\n    .route(\"/x\", get(|s: State<AppState>| async move { (s.0).0 }))\n    .with_state(state);\nserve(app);\n";
        let found = chains(source);
        assert_eq!(found.len(), 1);
        assert_eq!(&source[found[0].end - 18..found[0].end], ".with_state(state)");
        assert_eq!(found[0].call_indent.as_deref(), Some("    "));
    }

    #[test]
    fn comments_strings_and_other_types_are_not_routers() {
        let source = "// Router::new()\nlet s = \"Router::new()\";\nlet r = other::Router::new();\nlet m = MethodRouter::new();\n";
        assert!(chains(source).is_empty());
        assert_eq!(chains("let a = Router::new();\nlet b = Router::new().nest(\"/a\", a);\n").len(), 2);
    }

    #[test]
    fn removing_a_call_that_is_not_there_changes_nothing() {
        assert_eq!(remove_call("let app = Router::new().route(\"/\", get(root));\n", CALL), None);
    }
}
