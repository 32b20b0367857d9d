---
inject: true
to: public/js/app.js
before: "// maze:imports"
skip_if: "channels/<%= h.changeCase.snake(channel) %>_channel.js"
---
import "./channels/<%= h.changeCase.snake(channel) %>_channel.js";
