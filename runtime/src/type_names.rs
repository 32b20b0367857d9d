//! Rust type names as the app's own code writes them, for logs, metrics,
//! errors and the route table.

/// `chat::sockets::chat_socket::ChatSocket` → `sockets::chat_socket::ChatSocket`:
/// `std::any::type_name` without the crate's name.
pub(crate) fn in_crate(type_name: &'static str) -> &'static str {
    type_name.split_once("::").map_or(type_name, |(_, rest)| rest)
}
