//! User input → Rust type names, file names and JavaScript names.
//!
//! `ChatSocket`, `Chat`, `chat_socket` and `chat-socket` are one socket: the
//! kind's suffix is stripped, the rest is the base, and every name is derived
//! from the base by heck (`HTTPSocket` → `HttpSocket`, `http_socket`).

use anyhow::{Result, bail};
use heck::{ToLowerCamelCase, ToSnakeCase, ToUpperCamelCase};

/// What is being named; says which suffix types get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Socket,
    Channel,
    Controller,
}

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Kind::Socket => "socket",
            Kind::Channel => "channel",
            Kind::Controller => "controller",
        }
    }
}

/// The names one generated thing goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// `chat_room`: topics and URL paths.
    pub base: String,
    /// `ChatRoomChannel`: the Rust type.
    pub type_name: String,
    /// `chat_room_channel`: the Rust module and file stem, and the JS file stem.
    pub file: String,
    /// `chatRoomChannel`: the JS binding.
    pub js: String,
}

/// Rust's strict and reserved keywords (2021 edition and later).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static",
    "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual",
    "where", "while", "yield",
];

impl Name {
    /// Parses `input` as a name of `kind`, or says why it cannot be one.
    pub fn parse(input: &str, kind: Kind) -> Result<Name> {
        let base = validate(input, kind.suffix(), kind.suffix())?;
        let file = format!("{base}_{}", kind.suffix());
        Ok(Name { type_name: file.to_upper_camel_case(), js: file.to_lower_camel_case(), file, base })
    }
}

/// An app name: a Cargo package name that is also a Rust identifier.
pub fn app_name(input: &str) -> Result<String> {
    validate(input, "app", "")
}

/// A controller action: a Rust function name (`show`, `new_post`).
pub fn action_name(input: &str) -> Result<String> {
    validate(input, "action", "")
}

/// The longest name maze accepts: names become file names and type names,
/// and file systems refuse names over 255 bytes.
pub const MAX_NAME: usize = 64;

/// Checks `input` as the name of `what` (socket, app, action) and returns
/// its snake_case base with `suffix` stripped.
fn validate(input: &str, what: &str, suffix: &str) -> Result<String> {
    let a_what = match what.starts_with(['a', 'e', 'i', 'o', 'u']) {
        true => format!("an {what}"),
        false => format!("a {what}"),
    };
    if input.trim().is_empty() {
        bail!("the {what} name is empty: give one, e.g. Chat");
    }
    if input.len() > MAX_NAME {
        bail!(
            "the {what} name is {} characters long: names are at most {MAX_NAME} (they become file and type names)",
            input.len()
        );
    }
    if input.contains(['/', '\\']) || input.contains("..") {
        bail!(
            "{input:?} is not {a_what} name: names cannot contain path separators or `..`; give the bare name, e.g. Chat"
        );
    }
    if let Some(c) = input.chars().find(|c| !c.is_ascii()) {
        bail!(
            "{input:?} is not {a_what} name: {c:?} is not ASCII, and names become Rust identifiers and file names; use ASCII letters, digits and _"
        );
    }
    if let Some(c) = input.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        bail!(
            "{input:?} is not {a_what} name: {c:?} cannot be part of a Rust identifier; use letters, digits and _ (ChatRoom or chat_room)"
        );
    }
    if input.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("{input:?} is not {a_what} name: Rust identifiers cannot start with a digit");
    }
    let snake = input.to_snake_case();
    let base = if suffix.is_empty() || snake == suffix {
        snake.as_str()
    } else {
        snake.strip_suffix(&format!("_{suffix}")).unwrap_or(&snake)
    };
    if base.is_empty() || base == suffix {
        bail!("{input:?} is only the suffix: name the {what}, e.g. Chat{}", suffix.to_upper_camel_case());
    }
    if KEYWORDS.contains(&base) {
        bail!("{input:?} is not {a_what} name: `{base}` is a Rust keyword");
    }
    Ok(base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(input: &str) -> Name {
        Name::parse(input, Kind::Socket).unwrap()
    }

    #[test]
    fn one_socket_by_any_spelling() {
        for input in ["ChatSocket", "Chat", "chat_socket", "chat", "chat-socket"] {
            let name = socket(input);
            assert_eq!(
                (name.base.as_str(), name.type_name.as_str(), name.file.as_str(), name.js.as_str()),
                ("chat", "ChatSocket", "chat_socket", "chatSocket"),
                "{input}"
            );
        }
    }

    #[test]
    fn acronyms_follow_rust_naming() {
        let name = socket("HTTPSocket");
        assert_eq!((name.type_name.as_str(), name.file.as_str()), ("HttpSocket", "http_socket"));
        let channel = Name::parse("chat_room", Kind::Channel).unwrap();
        assert_eq!(channel.type_name, "ChatRoomChannel");
        assert_eq!(channel.base, "chat_room");
    }

    #[test]
    fn refusals_say_why() {
        let long = "a".repeat(300);
        for (input, why) in [
            ("", "empty"),
            ("  ", "empty"),
            ("1Chat", "digit"),
            ("../x", "path separators"),
            ("Chat/Room", "path separators"),
            ("self", "keyword"),
            ("fn", "keyword"),
            ("Chat Room", "identifier"),
            ("Ünï", "ASCII"),
            ("Socket", "only the suffix"),
            ("chat.room", "identifier"),
            (long.as_str(), "at most 64"),
        ] {
            let error = Name::parse(input, Kind::Socket).unwrap_err().to_string();
            assert!(error.contains(why), "{input:?}: {error}");
        }
    }

    #[test]
    fn app_and_action_refusals_name_what_is_refused() {
        let error = app_name("my app").unwrap_err().to_string();
        assert!(error.starts_with(r#""my app" is not an app name: ' ' cannot"#), "{error}");
        let error = action_name("sign in").unwrap_err().to_string();
        assert!(error.starts_with(r#""sign in" is not an action name"#), "{error}");
        let error = Name::parse("a b", Kind::Socket).unwrap_err().to_string();
        assert!(error.starts_with(r#""a b" is not a socket name"#), "{error}");
    }

    #[test]
    fn app_names_keep_no_suffix() {
        assert_eq!(app_name("MyChat").unwrap(), "my_chat");
        assert!(app_name("type").is_err());
    }
}
