//! The route table's schema and text form: what `APP routes [--json]`
//! prints (the runtime's `App::route_table`) and what `maze routes [--json]`
//! prints, read from the app's source.

/// One line of the app's route table, as `maze routes --json` lists it.
///
/// ```
/// let route = maze_routing::RouteInfo {
///     verb: "GET".into(),
///     path: "/".into(),
///     handler: "controllers::home::index".into(),
///     channels: None,
/// };
/// println!("{} {} -> {}", route.verb, route.path, route.handler);
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
/// let channel = maze_routing::ChannelInfo {
///     topic: "chat_room:*".into(),
///     channel: "channels::chat_room_channel::ChatRoomChannel".into(),
/// };
/// println!("{} -> {}", channel.topic, channel.channel);
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
    /// use maze_routing::RouteInfo;
    /// let table = [RouteInfo { verb: "GET".into(), path: "/".into(), handler: "index".into(), channels: None }];
    /// assert_eq!(RouteInfo::format_table(&table), "Verb   Path  Handler\nGET    /     index\n");
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
