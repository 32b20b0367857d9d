---
inject: true
to: src/sockets/mod.rs
before: "// maze:mods"
skip_if: "pub mod <%= h.changeCase.snake(name) %>_socket;"
---
pub mod <%= h.changeCase.snake(name) %>_socket;
pub use <%= h.changeCase.snake(name) %>_socket::<%= h.changeCase.pascal(name) %>Socket;
