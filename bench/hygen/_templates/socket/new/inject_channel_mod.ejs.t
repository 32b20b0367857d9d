---
inject: true
to: src/channels/mod.rs
before: "// maze:mods"
skip_if: "pub mod <%= h.changeCase.snake(channel) %>_channel;"
---
pub mod <%= h.changeCase.snake(channel) %>_channel;
pub use <%= h.changeCase.snake(channel) %>_channel::<%= h.changeCase.pascal(channel) %>Channel;
