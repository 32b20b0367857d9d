---
to: src/channels/<%= h.changeCase.snake(channel) %>_channel.rs
---
use maze::prelude::*;

#[derive(Default)]
pub struct <%= h.changeCase.pascal(channel) %>Channel;

impl Channel for <%= h.changeCase.pascal(channel) %>Channel {
    fn message(&mut self, ctx: &mut Context, message: Message) {
        ctx.rebroadcast(message);
    }
}
