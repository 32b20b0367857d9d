---
to: public/js/sockets/<%= h.changeCase.snake(name) %>_socket.js
---
import { Socket } from "/maze.js";

export const <%= h.changeCase.camel(name) %>Socket = new Socket("/<%= h.changeCase.snake(name) %>");
<%= h.changeCase.camel(name) %>Socket.connect();
