//! The route table's schema and text form: what `APP routes [--json]`
//! prints and what `maze routes [--json]` prints, read from the app's
//! source. The one definition of both: the CLI includes this file with `#[path]` (it has no
//! dependency on the runtime). Keep it free of dependencies but serde.

/// One line of the app's route table, as `maze routes --json` lists it.
///
/// ```
/// # async fn index() {}
/// # fn routes(routes: &mut maze::Routes) { routes.get("/", index); }
/// # let config = maze::Config::parse("[app]\nname = \"blog\"\n").unwrap();
/// let table: Vec<maze::RouteInfo> = maze::App::new(routes).route_table(config);
/// for route in &table {
///     println!("{} {} -> {}", route.verb, route.path, route.handler);
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteInfo {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, or `WS` for a socket.
    pub verb: String,
    /// The path as declared.
    pub path: String,
    /// The handler function or socket type, by its path in the app's crate.
    pub handler: String,
    /// For sockets: the topic patterns, in the order they are tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelInfo>>,
}

/// A topic pattern of a socket and the channel type it leads to.
///
/// ```
/// # fn routes(_: &mut maze::Routes) {}
/// # let config = maze::Config::parse("[app]\nname = \"blog\"\n").unwrap();
/// for route in maze::App::new(routes).route_table(config) {
///     for channel in route.channels.unwrap_or_default() {
///         println!("{} {}: {} -> {}", route.verb, route.path, channel.topic, channel.channel);
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelInfo {
    /// The topic pattern, `chat_room:*`.
    pub topic: String,
    /// The channel type, by its path in the app's crate.
    pub channel: String,
}

impl RouteInfo {
    /// The table `maze routes` and `APP routes` print: verb, path and
    /// handler columns, each socket's topics on the lines under it.
    ///
    /// ```
    /// # async fn index() {}
    /// # fn routes(routes: &mut maze::Routes) { routes.get("/", index); }
    /// # let config = maze::Config::parse("[app]\nname = \"blog\"\n").unwrap();
    /// let table = maze::App::new(routes).route_table(config);
    /// let text = maze::RouteInfo::format_table(&table);
    /// assert!(text.starts_with("Verb   Path  Handler\nGET    /     "), "{text}");
    /// ```
    pub fn format_table(routes: &[RouteInfo]) -> String {
        let path_width = routes.iter().map(|r| r.path.len()).max().unwrap_or(0).max(4);
        let mut text = format!("{:<6} {:<path_width$}  {}\n", "Verb", "Path", "Handler");
        for route in routes {
            text.push_str(&format!("{:<6} {:<path_width$}  {}\n", route.verb, route.path, route.handler));
            for channel in route.channels.iter().flatten() {
                text.push_str(&format!(
                    "{:<6} {:<path_width$}    {}  {}\n",
                    "", "", channel.topic, channel.channel
                ));
            }
        }
        text
    }
}
