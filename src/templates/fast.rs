//! Rendering without Tera, for what the built-in templates use: `{{ a.b }}`
//! substitutions and `{% if a.b %}`, `{% if a.b == "x" %}`, `{% elif ... %}`,
//! `{% else %}`, `{% endif %}`, with Tera's `{%-`/`-%}` whitespace control.
//! Parsing a template with Tera costs more than everything else a
//! generator does; this renders the same text (a test compares the two on
//! every built-in template), and returns `None` for anything else (another
//! tag, a filter, a comment, a variable that is not there), which then goes
//! to Tera, to be rendered by it or reported with its error.

use serde_json::Value;
use tera::Context;

/// `template` rendered with `context`, or `None` when it needs Tera.
pub fn render(template: &str, context: &Context) -> Option<String> {
    if template.contains("{#") {
        return None;
    }
    let pieces = trimmed(pieces(template)?);
    let mut out = String::with_capacity(template.len());
    let mut at = 0;
    render_block(&pieces, &mut at, context, &mut out, true)?;
    (at == pieces.len()).then_some(out)
}

#[derive(Debug)]
enum Piece<'t> {
    Text(&'t str),
    Value(&'t str),
    If(&'t str),
    Elif(&'t str),
    Else,
    EndIf,
}

/// A piece with the whitespace control of its tag: (trim before, trim after).
type Tagged<'t> = (Piece<'t>, bool, bool);

fn pieces(template: &str) -> Option<Vec<Tagged<'_>>> {
    let mut pieces = Vec::new();
    let mut rest = template;
    loop {
        let next = [rest.find("{{"), rest.find("{%")].into_iter().flatten().min();
        let Some(open) = next else {
            if !rest.is_empty() {
                pieces.push((Piece::Text(rest), false, false));
            }
            return Some(pieces);
        };
        if open > 0 {
            pieces.push((Piece::Text(&rest[..open]), false, false));
        }
        let is_value = rest[open..].starts_with("{{");
        let close_mark = if is_value { "}}" } else { "%}" };
        let inner_start = open + 2;
        let close = inner_start + rest[inner_start..].find(close_mark)?;
        let mut inner = &rest[inner_start..close];
        let trim_before = inner.starts_with('-');
        let trim_after = inner.ends_with('-');
        if trim_before {
            inner = &inner[1..];
        }
        if trim_after {
            inner = &inner[..inner.len() - 1];
        }
        let inner = inner.trim();
        let piece = if is_value {
            Piece::Value(inner)
        } else {
            let (word, condition) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
            match (word, condition.trim()) {
                ("if", condition) if !condition.is_empty() => Piece::If(condition),
                ("elif", condition) if !condition.is_empty() => Piece::Elif(condition),
                ("else", "") => Piece::Else,
                ("endif", "") => Piece::EndIf,
                _ => return None,
            }
        };
        pieces.push((piece, trim_before, trim_after));
        rest = &rest[close + 2..];
    }
}

/// The texts, trimmed where a neighbouring tag says so (as Tera does).
fn trimmed(mut pieces: Vec<Tagged<'_>>) -> Vec<Piece<'_>> {
    for at in 0..pieces.len() {
        let (trim_before, trim_after) = (pieces[at].1, pieces[at].2);
        if trim_before
            && at > 0
            && let Piece::Text(text) = &mut pieces[at - 1].0
        {
            *text = text.trim_end();
        }
        if trim_after && let Some((Piece::Text(text), _, _)) = pieces.get_mut(at + 1) {
            *text = text.trim_start();
        }
    }
    pieces.into_iter().map(|(piece, _, _)| piece).collect()
}

/// Renders pieces from `at` up to the `elif`/`else`/`endif` that ends this
/// block (left at `at`), writing only if `write`.
fn render_block(
    pieces: &[Piece],
    at: &mut usize,
    context: &Context,
    out: &mut String,
    write: bool,
) -> Option<()> {
    while let Some(piece) = pieces.get(*at) {
        match piece {
            Piece::Text(text) => {
                if write {
                    out.push_str(text);
                }
            }
            Piece::Value(path) => {
                if write {
                    match lookup(context, path)? {
                        Value::String(text) => out.push_str(text),
                        Value::Number(number) => out.push_str(&number.to_string()),
                        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
                        _ => return None,
                    }
                }
            }
            Piece::If(condition) => {
                *at += 1;
                let mut taken = false;
                let mut branch = Some(*condition);
                loop {
                    let holds = match branch {
                        Some(condition) => holds(context, condition)?,
                        None => true,
                    };
                    let this_one = write && !taken && holds;
                    render_block(pieces, at, context, out, this_one)?;
                    taken |= holds;
                    match pieces.get(*at)? {
                        Piece::Elif(condition) if branch.is_some() => branch = Some(condition),
                        Piece::Else if branch.is_some() => branch = None,
                        Piece::EndIf => break,
                        _ => return None,
                    }
                    *at += 1;
                }
            }
            Piece::Elif(_) | Piece::Else | Piece::EndIf => return Some(()),
        }
        *at += 1;
    }
    Some(())
}

/// `a.b` (truthy, as Tera says: an undefined variable is false) or `a.b == "x"`.
fn holds(context: &Context, condition: &str) -> Option<bool> {
    match condition.split_once("==") {
        Some((path, literal)) => {
            let literal = literal.trim().strip_prefix('"')?.strip_suffix('"')?;
            if literal.contains(['\\', '"']) {
                return None;
            }
            let value = path_of(path.trim()).and_then(|path| find(context, &path));
            Some(value.is_some_and(|value| value.as_str() == Some(literal)))
        }
        None => {
            let path = path_of(condition)?;
            Some(find(context, &path).is_some_and(truthy))
        }
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
    }
}

/// `a.b` as its segments, if it is only identifiers and dots.
fn path_of(path: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = path.split('.').collect();
    segments
        .iter()
        .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(segments)
}

fn lookup<'c>(context: &'c Context, path: &str) -> Option<&'c Value> {
    find(context, &path_of(path)?)
}

fn find<'c>(context: &'c Context, path: &[&str]) -> Option<&'c Value> {
    let (first, rest) = path.split_first()?;
    let mut value = context.get(first)?;
    for segment in rest {
        value = value.get(segment)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every variable a built-in template uses, with each flag both ways.
    fn contexts() -> Vec<Context> {
        let mut contexts = Vec::new();
        for flags in 0..64u32 {
            let flag = |bit: u32| flags & (1 << bit) != 0;
            let mut context = Context::new();
            for name in [
                "app_crate",
                "app_name",
                "app_state",
                "base_path",
                "channel_file",
                "channel_js",
                "channel_type",
                "controller_file",
                "controller_type",
                "demo_topic",
                "maze_version",
                "path",
                "pattern",
                "socket_file",
                "socket_js",
                "socket_type",
            ] {
                context.insert(name, &format!("<{name}>"));
            }
            context.insert("embedded", &flag(0));
            context.insert("presence", &flag(1));
            if flag(2) {
                context.insert("redis", &true);
            }
            if flag(3) {
                context.insert("maze_path", "\"/runtime\"");
            }
            if flag(5) {
                context.insert("redis_cluster", &true);
            }
            let socket =
                json!({"socket_type": "ChatSocket", "socket_file": "chat_socket", "socket_js": "chatSocket"});
            context.insert("socket", &if flag(4) { socket } else { json!(false) });
            for kind in ["page", "created", "status"] {
                let mut with_item = context.clone();
                with_item.insert(
                    "item",
                    &json!({"action": "a", "kind": kind, "name": "n", "path": "/p", "status": 200,
                        "test_path": "/t", "test_verb": "get", "verb": "get", "verbs": "GET"}),
                );
                contexts.push(with_item);
            }
        }
        contexts
    }

    /// Each built-in template file, and each string of each `generator.toml`.
    fn built_in_templates() -> Vec<(String, String)> {
        let mut all = Vec::new();
        for generator in super::super::generators() {
            for template in super::super::load(generator, None).unwrap() {
                let name = format!("{generator}/{}", template.relative);
                if template.relative == super::super::MANIFEST {
                    let doc: toml_edit::DocumentMut = template.source.parse().unwrap();
                    for (key, item) in doc.iter() {
                        for table in item.as_array_of_tables().into_iter().flatten() {
                            for (field, value) in table.iter() {
                                if let Some(text) = value.as_str() {
                                    all.push((format!("{name} [[{key}]] {field}"), text.to_string()));
                                }
                            }
                        }
                    }
                } else {
                    all.push((format!("{name} (path)"), template.relative.clone()));
                    all.push((name, template.source));
                }
            }
        }
        all
    }

    #[test]
    fn every_built_in_template_renders_as_tera_renders_it() {
        let contexts = contexts();
        for (name, template) in built_in_templates() {
            let mut rendered_fast = false;
            for context in &contexts {
                let tera = tera::Tera::one_off(&template, context, false);
                match (render(&template, context), tera) {
                    (Some(fast), Ok(tera)) => {
                        assert_eq!(fast, tera, "{name}");
                        rendered_fast = true;
                    }
                    (Some(fast), Err(error)) => {
                        panic!("{name}: Tera fails ({error}), the fast path gave {fast:?}")
                    }
                    (None, _) => {}
                }
            }
            assert!(rendered_fast, "{name} is never rendered without Tera");
        }
    }

    #[test]
    fn what_it_does_not_know_goes_to_tera() {
        let mut context = Context::new();
        context.insert("name", "chat");
        for template in [
            "{{ name | upper }}",
            "{% for x in y %}{% endfor %}",
            "{# note #}",
            "{{ missing }}",
            "{% if a %}",
        ] {
            assert_eq!(render(template, &context), None, "{template}");
        }
        assert_eq!(render("{%- if name -%} x {%- else %}y{% endif %}", &context).as_deref(), Some("x"));
    }
}
