---
to: src/sockets/<%= h.changeCase.snake(name) %>_socket.rs
---
//! `<%= h.changeCase.pascal(name) %>Socket`: the WebSocket endpoint at `/<%= h.changeCase.snake(name) %>`. One value lives per connection.

use maze::prelude::*;

#[derive(Default)]
pub struct <%= h.changeCase.pascal(name) %>Socket;

impl Socket for <%= h.changeCase.pascal(name) %>Socket {
    /// Topic patterns and the channels that handle them.
    fn channels(channels: &mut Channels) {
        channels.add::<crate::channels::<%= h.changeCase.pascal(channel) %>Channel>("<%= h.changeCase.snake(channel) %>:*");
        // maze:channels
    }

    fn on_connect(&mut self, conn: &Connect) -> bool {
        let _ = conn;
        true
    }
}
