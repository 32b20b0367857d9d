//! What the maze CLI and the maze runtime both read, defined once: the
//! topic-pattern grammar (`chat_room:*`) and the route table's schema and
//! text form (`maze routes` and `APP routes`). The CLI depends on this crate
//! rather than on the runtime, which would build axum and tokio into it.

mod route_table;
mod topic_pattern;

pub use route_table::{ChannelInfo, RouteInfo};
pub use topic_pattern::TopicPattern;
