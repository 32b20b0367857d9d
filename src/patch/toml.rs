//! Edits to `Cargo.toml` and `maze.toml` through toml_edit, as `cargo add`
//! makes them: comments, order and formatting stay as the user left them.

use anyhow::{Result, bail};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Value};

/// `[dependencies].maze`, however it is written.
fn maze_dependency(doc: &mut DocumentMut) -> Option<&mut Item> {
    doc.get_mut("dependencies")
        .and_then(|deps| deps.as_table_like_mut())
        .and_then(|deps| deps.get_mut("maze"))
}

/// Makes the `maze` dependency enable `feature`.
pub fn add_maze_feature(doc: &mut DocumentMut, feature: &str) -> Result<()> {
    let Some(maze) = maze_dependency(doc) else {
        bail!(
            "Cargo.toml has no `maze` dependency under [dependencies]; add `maze = {{ path = \"...\" }}` first"
        );
    };
    // `maze = "0.1"` becomes `maze = { version = "0.1", features = [...] }`.
    if let Some(version) = maze.as_str().map(str::to_owned) {
        let mut table = InlineTable::new();
        table.insert("version", version.into());
        *maze = Item::Value(Value::InlineTable(table));
    }
    let Some(table) = maze.as_table_like_mut() else {
        bail!("Cargo.toml: the `maze` dependency is neither a version string nor a table");
    };
    if table.get("features").is_none() {
        table.insert("features", Item::Value(Value::Array(Array::new())));
    }
    let Some(features) = table.get_mut("features").and_then(Item::as_array_mut) else {
        bail!("Cargo.toml: `features` of the `maze` dependency is not an array");
    };
    if !features.iter().any(|f| f.as_str() == Some(feature)) {
        features.push(feature);
        // Space the inline table as `cargo add` does: `{ path = "..", features = [..] }`.
        if let Some(inline) = maze.as_inline_table_mut() {
            inline.fmt();
        }
    }
    Ok(())
}

/// The reverse of [`add_maze_feature`]: drops `feature` (and an emptied `features`).
pub fn remove_maze_feature(doc: &mut DocumentMut, feature: &str) -> Result<()> {
    let Some(maze) = maze_dependency(doc) else { return Ok(()) };
    let Some(table) = maze.as_table_like_mut() else { return Ok(()) };
    let Some(features) = table.get_mut("features").and_then(Item::as_array_mut) else { return Ok(()) };
    features.retain(|f| f.as_str() != Some(feature));
    if features.is_empty() {
        table.remove("features");
    }
    if let Some(inline) = maze.as_inline_table_mut() {
        inline.fmt();
    }
    Ok(())
}

/// The one table `snippet` (TOML text, comments included) defines.
fn snippet_table(snippet: &str) -> Result<(String, toml_edit::Table)> {
    let doc: DocumentMut =
        snippet.parse().map_err(|error| anyhow::anyhow!("the table to add is not TOML: {error}"))?;
    let mut tables = doc.iter().filter_map(|(name, item)| Some((name.to_string(), item.as_table()?.clone())));
    match (tables.next(), tables.next()) {
        (Some(table), None) => Ok(table),
        _ => bail!("the table to add must define exactly one [table]:\n{snippet}"),
    }
}

/// Adds the table `snippet` defines, with its comments, after the last
/// table, unless the document has a table of that name already.
pub fn ensure_table(doc: &mut DocumentMut, snippet: &str) -> Result<()> {
    let (name, mut table) = snippet_table(snippet)?;
    if doc.contains_key(&name) {
        return Ok(());
    }
    let last =
        doc.iter().filter_map(|(_, item)| item.as_table().and_then(|t| t.position())).max().unwrap_or(0);
    table.set_position(Some(last + 1));
    doc.insert(&name, Item::Table(table));
    Ok(())
}

/// The reverse of [`ensure_table`]: removes the table if it is still
/// exactly as maze added it (a table the user changed stays).
pub fn remove_table(doc: &mut DocumentMut, snippet: &str) -> Result<()> {
    let (name, added) = snippet_table(snippet)?;
    let as_text = |table: &toml_edit::Table| {
        let mut probe = DocumentMut::new();
        let mut table = table.clone();
        table.set_position(None);
        probe.insert(&name, Item::Table(table));
        probe.to_string()
    };
    if doc.get(&name).and_then(Item::as_table).is_some_and(|current| as_text(current) == as_text(&added)) {
        doc.remove(&name);
    }
    Ok(())
}

/// Adds `[table].name = value` (an inline table, as `cargo add` writes
/// one) unless the table has `name` already; the table is made if missing.
pub fn ensure_dependency(doc: &mut DocumentMut, table: &str, name: &str, value: InlineTable) -> Result<()> {
    if !doc.contains_key(table) {
        doc.insert(table, Item::Table(toml_edit::Table::new()));
    }
    let Some(dependencies) = doc.get_mut(table).and_then(Item::as_table_like_mut) else {
        bail!("[{table}] is not a table");
    };
    if dependencies.get(name).is_none() {
        let mut value = value;
        value.fmt();
        dependencies.insert(name, Item::Value(Value::InlineTable(value)));
    }
    Ok(())
}

/// The reverse of [`ensure_dependency`]: removes `[table].name` if it is
/// still `value` (a dependency the user changed stays), and the table if
/// that emptied it.
pub fn remove_dependency(doc: &mut DocumentMut, table: &str, name: &str, value: InlineTable) -> Result<()> {
    let Some(dependencies) = doc.get_mut(table).and_then(Item::as_table_like_mut) else { return Ok(()) };
    let mut value = value;
    value.fmt();
    let same = dependencies
        .get(name)
        .and_then(Item::as_inline_table)
        .is_some_and(|current| current.to_string().trim() == value.to_string().trim());
    if same {
        dependencies.remove(name);
    }
    if dependencies.is_empty() {
        doc.remove(table);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBSOCKETS: &str = "\n# Sockets and channels.\n[websockets]\n# Seconds between pings.\nping_interval = 30\nadapter = \"memory\"\n";

    fn feature(cargo_toml: &str) -> String {
        let mut doc: DocumentMut = cargo_toml.parse().unwrap();
        add_maze_feature(&mut doc, "websockets").unwrap();
        doc.to_string()
    }

    #[test]
    fn adds_the_feature_to_an_inline_table_keeping_comments() {
        let text = feature(
            "[dependencies]\n# the runtime\nmaze = { path = \"../runtime\" } # local\nserde = \"1\"\n",
        );
        assert_eq!(
            text,
            "[dependencies]\n# the runtime\nmaze = { path = \"../runtime\", features = [\"websockets\"] } # local\nserde = \"1\"\n"
        );
        assert_eq!(feature(&text), text, "adding it twice changes nothing");
    }

    #[test]
    fn a_version_string_becomes_a_table() {
        assert_eq!(
            feature("[dependencies]\nmaze = \"0.1\"\n"),
            "[dependencies]\nmaze = { version = \"0.1\", features = [\"websockets\"] }\n"
        );
    }

    #[test]
    fn a_dotted_table_gains_the_key() {
        assert_eq!(
            feature("[dependencies.maze]\npath = \"x\"\nfeatures = [\"a\"]\n"),
            "[dependencies.maze]\npath = \"x\"\nfeatures = [\"a\", \"websockets\"]\n"
        );
    }

    #[test]
    fn undoing_restores_the_original_text() {
        for original in [
            "[dependencies]\nmaze = { path = \"x\" }\n",
            "[dependencies]\nmaze = { path = \"x\", features = [\"redis\"] }\n",
            "[dependencies.maze]\npath = \"x\"\nfeatures = [\"a\"]\n",
        ] {
            let mut doc: DocumentMut = original.parse().unwrap();
            add_maze_feature(&mut doc, "websockets").unwrap();
            remove_maze_feature(&mut doc, "websockets").unwrap();
            assert_eq!(doc.to_string(), original);
        }
        let original = "[app]\nname = \"chat\"\n";
        let mut doc: DocumentMut = original.parse().unwrap();
        ensure_table(&mut doc, WEBSOCKETS).unwrap();
        remove_table(&mut doc, WEBSOCKETS).unwrap();
        assert_eq!(doc.to_string(), original);
    }

    #[test]
    fn an_edited_websockets_table_stays() {
        let mut doc: DocumentMut = "[app]\nname = \"chat\"\n".parse().unwrap();
        ensure_table(&mut doc, WEBSOCKETS).unwrap();
        doc["websockets"]["ping_interval"] = toml_edit::value(10);
        remove_table(&mut doc, WEBSOCKETS).unwrap();
        assert!(doc.contains_key("websockets"));
    }

    #[test]
    fn a_snippet_must_define_one_table() {
        let mut doc = DocumentMut::new();
        assert!(ensure_table(&mut doc, "a = 1\n").is_err());
        assert!(ensure_table(&mut doc, "[a]\n[b]\n").is_err());
    }

    #[test]
    fn no_maze_dependency_is_an_error() {
        let mut doc: DocumentMut = "[dependencies]\nserde = \"1\"\n".parse().unwrap();
        assert!(add_maze_feature(&mut doc, "websockets").is_err());
    }

    #[test]
    fn the_websockets_table_goes_last_with_its_comments() {
        let mut doc: DocumentMut =
            "# top\n[app]\nname = \"chat\" # n\n\n[session]\ncookie = \"c\"\n".parse().unwrap();
        ensure_table(&mut doc, WEBSOCKETS).unwrap();
        let text = doc.to_string();
        assert!(text.starts_with("# top\n[app]\nname = \"chat\" # n\n\n[session]\ncookie = \"c\"\n\n# Sockets and channels.\n[websockets]\n# Seconds"), "{text}");
        let once = text.clone();
        ensure_table(&mut doc, WEBSOCKETS).unwrap();
        assert_eq!(doc.to_string(), once);
    }
}
