---
inject: true
to: src/routes.rs
before: "// maze:sockets"
skip_if: "crate::sockets::<%= h.changeCase.pascal(name) %>Socket>"
---
    routes.socket::<crate::sockets::<%= h.changeCase.pascal(name) %>Socket>("/<%= h.changeCase.snake(name) %>");
