---
to: public/js/channels/<%= h.changeCase.snake(channel) %>_channel.js
---
import { <%= h.changeCase.camel(name) %>Socket } from "../sockets/<%= h.changeCase.snake(name) %>_socket.js";

export function <%= h.changeCase.camel(channel) %>Channel(topic = "<%= h.changeCase.snake(channel) %>:123") {
  return <%= h.changeCase.camel(name) %>Socket.channel(topic);
}
