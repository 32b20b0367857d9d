//! Reading routes out of `src/routes.rs` and channel maps out of socket
//! files, as text: tokens, not regexes, so comments and strings never yield a route.

use super::{ChannelInfo, RouteInfo};
use crate::lexer::{Lang, Token, TokenKind, matching, tokenize};

const VERBS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// `routes.get("/", controllers::home::index)` and
/// `routes.socket::<crate::sockets::ChatSocket>("/chat")`, wherever they are
/// in `source` and however they are split over lines.
pub fn routes(source: &str) -> Vec<RouteInfo> {
    let tokens = code_tokens(source, Lang::Rust);
    let mut found = Vec::new();
    for at in 0..tokens.len() {
        let Some(call) = method_call(source, &tokens, at) else {
            continue;
        };
        if VERBS.contains(&call.method.as_str()) && call.generics.is_none() && call.args.len() == 2 {
            found.push(RouteInfo {
                verb: call.method.to_uppercase(),
                path: literal_or_expr(source, call.args[0]),
                handler: tidy(&text_of(source, call.args[1])),
                channels: None,
            });
        } else if call.method == "socket"
            && call.args.len() == 1
            && let Some(generics) = call.generics
        {
            found.push(RouteInfo {
                verb: "WS".into(),
                path: literal_or_expr(source, call.args[0]),
                handler: tidy(&generics),
                channels: Some(Vec::new()),
            });
        }
    }
    found
}

/// An axum app's own routes: `.route("/users/{id}", get(show).delete(remove))`,
/// one row per method (`any(h)` is `ANY`), wherever they are in `source`.
pub fn axum_routes(source: &str) -> Vec<RouteInfo> {
    let tokens = code_tokens(source, Lang::Rust);
    let mut found = Vec::new();
    for at in 0..tokens.len() {
        let Some(call) = method_call(source, &tokens, at) else { continue };
        if call.method != "route" || call.args.len() != 2 {
            continue;
        }
        let path = literal_or_expr(source, call.args[0]);
        let methods = call.args[1];
        let mut depth = 0i32;
        for (i, token) in methods.iter().enumerate() {
            match token.punct {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
            let name = token.text(source);
            let is_method = depth == 0
                && token.kind == TokenKind::Ident
                && (VERBS.contains(&name) || ["any", "head", "options", "trace"].contains(&name));
            if !is_method || !methods.get(i + 1).is_some_and(|t| t.is_punct('(')) {
                continue;
            }
            let Some(close) = matching(methods, i + 1, '(', ')') else { continue };
            // A path names the handler; a closure shows as written.
            let handler = text_of(source, &methods[i + 2..close]);
            let is_path = handler.chars().all(|c| c.is_alphanumeric() || "_:".contains(c));
            found.push(RouteInfo {
                verb: name.to_uppercase(),
                path: path.clone(),
                handler: if is_path { tidy(&handler) } else { handler },
                channels: None,
            });
        }
    }
    found
}

/// `channels.add::<crate::channels::ChatRoomChannel>("chat_room:*")` lines of a socket file.
pub fn channels(source: &str) -> Vec<ChannelInfo> {
    let tokens = code_tokens(source, Lang::Rust);
    (0..tokens.len())
        .filter_map(|at| method_call(source, &tokens, at))
        .filter(|call| call.method == "add" && call.args.len() == 1)
        .filter_map(|call| {
            Some(ChannelInfo { topic: literal_or_expr(source, call.args[0]), channel: tidy(&call.generics?) })
        })
        .collect()
}

fn code_tokens(source: &str, lang: Lang) -> Vec<Token> {
    tokenize(source, lang).into_iter().filter(|t| !t.is_comment()).collect()
}

struct MethodCall<'t> {
    method: String,
    /// The turbofish's contents, `crate::sockets::ChatSocket`.
    generics: Option<String>,
    /// Each argument's tokens.
    args: Vec<&'t [Token]>,
}

/// A `.name[::<T>](args)` call whose `.` is `tokens[at]`.
fn method_call<'t>(source: &str, tokens: &'t [Token], at: usize) -> Option<MethodCall<'t>> {
    if !tokens[at].is_punct('.') {
        return None;
    }
    let name = tokens.get(at + 1).filter(|t| t.kind == TokenKind::Ident)?;
    let mut next = at + 2;
    let mut generics = None;
    if tokens.get(next).is_some_and(|t| t.is_punct(':'))
        && tokens.get(next + 1).is_some_and(|t| t.is_punct(':'))
        && tokens.get(next + 2).is_some_and(|t| t.is_punct('<'))
    {
        let open = next + 2;
        let close = matching(tokens, open, '<', '>')?;
        generics = Some(text_of(source, &tokens[open + 1..close]));
        next = close + 1;
    }
    if !tokens.get(next).is_some_and(|t| t.is_punct('(')) {
        return None;
    }
    let close = matching(tokens, next, '(', ')')?;
    Some(MethodCall {
        method: name.text(source).to_string(),
        generics,
        args: split_args(&tokens[next + 1..close]),
    })
}

/// Splits call arguments at top-level commas; a trailing comma adds nothing.
fn split_args(tokens: &[Token]) -> Vec<&[Token]> {
    let mut args = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, token) in tokens.iter().enumerate() {
        match token.punct {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                args.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        args.push(&tokens[start..]);
    }
    args
}

/// A string literal's contents, or the expression marked as not literal.
fn literal_or_expr(source: &str, tokens: &[Token]) -> String {
    match tokens {
        [token] if token.kind == TokenKind::Str => token.string_value(source),
        _ => format!("<{}>", text_of(source, tokens)),
    }
}

/// The source text a run of tokens covers, with white space folded.
fn text_of(source: &str, tokens: &[Token]) -> String {
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => {
            source[first.start..last.end].split_whitespace().collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    }
}

fn tidy(path: &str) -> String {
    let path: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    path.strip_prefix("crate::").unwrap_or(&path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_routes_and_sockets() {
        let source = r#"
pub fn routes(routes: &mut Routes) {
    routes.get("/", controllers::home::index);
    routes
        .post(
            "/messages",
            controllers::messages::create,
        );
    // maze:routes
    routes.socket::<crate::sockets::ChatSocket>("/chat");
    // maze:sockets
}
"#;
        let found = routes(source);
        let rows: Vec<_> =
            found.iter().map(|r| (r.verb.as_str(), r.path.as_str(), r.handler.as_str())).collect();
        assert_eq!(
            rows,
            [
                ("GET", "/", "controllers::home::index"),
                ("POST", "/messages", "controllers::messages::create"),
                ("WS", "/chat", "sockets::ChatSocket"),
            ]
        );
    }

    #[test]
    fn reads_an_axum_apps_routes() {
        let source = r#"
    let app = Router::new()
        .route("/", get(root))
        .route("/users/{id}", axum::routing::get(users::show).delete(users::remove))
        // .route("/old", get(old))
        .route("/hook", any(|| async { "ok" }))
        .merge(app::sockets::router());
"#;
        let rows: Vec<_> =
            axum_routes(source).into_iter().map(|r| format!("{} {} {}", r.verb, r.path, r.handler)).collect();
        assert_eq!(
            rows,
            [
                "GET / root",
                "GET /users/{id} users::show",
                "DELETE /users/{id} users::remove",
                "ANY /hook || async { \"ok\" }"
            ]
        );
    }

    #[test]
    fn commented_out_and_quoted_routes_are_not_routes() {
        let source = r##"
    // routes.get("/old", old);
    /* routes.get("/older", older);
       /* nested */ routes.socket::<X>("/x"); */
    let s = "routes.get(\"/fake\", fake)";
    let r = r#"routes.get("/raw", raw)"#;
    routes.get("/real", real);
"##;
        let paths: Vec<_> = routes(source).into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/real"]);
    }

    #[test]
    fn non_literal_paths_are_shown_as_expressions() {
        let found = routes("routes.get(PATH, h); routes.get(&format!(\"/{}\", x), h2);");
        assert_eq!(found[0].path, "<PATH>");
        assert_eq!(found[1].path, "<&format!(\"/{}\", x)>");
    }

    #[test]
    fn other_method_calls_are_ignored() {
        assert!(routes("let v = map.get(\"key\"); session.get(\"a\");").is_empty());
    }

    #[test]
    fn reads_a_sockets_channel_map() {
        let source = r#"
    fn channels(channels: &mut Channels) {
        channels.add::<crate::channels::ChatRoomChannel>("chat_room:*");
        // channels.add::<crate::channels::Old>("old:*");
        channels
            .add::<LobbyChannel>("lobby");
        // maze:channels
    }
"#;
        assert_eq!(
            channels(source),
            [
                ChannelInfo { topic: "chat_room:*".into(), channel: "channels::ChatRoomChannel".into() },
                ChannelInfo { topic: "lobby".into(), channel: "LobbyChannel".into() },
            ]
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A chunk of a router file: a real route (carrying its number in the
    /// path) or one hidden in a comment or string.
    #[derive(Debug, Clone)]
    enum Chunk {
        Real(u32),
        LineComment(u32),
        BlockComment(u32),
        InString(u32),
        InRawString(u32),
        Noise(String),
    }

    fn chunk() -> impl Strategy<Value = Chunk> {
        prop_oneof![
            any::<u32>().prop_map(Chunk::Real),
            any::<u32>().prop_map(Chunk::LineComment),
            any::<u32>().prop_map(Chunk::BlockComment),
            any::<u32>().prop_map(Chunk::InString),
            any::<u32>().prop_map(Chunk::InRawString),
            "[a-z(){};.,:<> \\n]{0,20}".prop_map(Chunk::Noise),
        ]
    }

    fn render(chunk: &Chunk) -> String {
        match chunk {
            Chunk::Real(n) => format!("routes.get(\"/r{n}\", h::x);\n"),
            Chunk::LineComment(n) => format!("// routes.get(\"/c{n}\", h::x);\n"),
            Chunk::BlockComment(n) => format!("/* routes.get(\"/c{n}\", h::x); /* nested */ */\n"),
            Chunk::InString(n) => format!("let s = \"routes.get(\\\"/c{n}\\\", h::x);\";\n"),
            Chunk::InRawString(n) => format!("let s = r#\"routes.get(\"/c{n}\", h::x);\"#;\n"),
            Chunk::Noise(text) => format!("{text};\n"),
        }
    }

    proptest! {
        #[test]
        fn the_tokenizer_never_panics(text in "\\PC{0,200}") {
            let _ = routes(&text);
            let _ = channels(&text);
        }

        #[test]
        fn routes_in_comments_and_strings_are_never_reported(chunks in prop::collection::vec(chunk(), 0..20)) {
            let source: String = chunks.iter().map(render).collect();
            let found: Vec<String> = routes(&source).into_iter().map(|r| r.path).collect();
            prop_assert!(found.iter().all(|p| p.starts_with("/r") || p.starts_with('<')), "{:?} in:\n{}", found, source);
            let real: Vec<String> = chunks.iter().filter_map(|c| match c { Chunk::Real(n) => Some(format!("/r{n}")), _ => None }).collect();
            let reported: Vec<String> = found.into_iter().filter(|p| p.starts_with("/r")).collect();
            prop_assert_eq!(reported, real);
        }
    }
}
