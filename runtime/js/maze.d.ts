// Types of maze.js, the browser client of maze sockets and channels.

/** Options of a Socket. */
export interface SocketOptions {
  /** Sent with each connect as the URL's query; the server reads them with `conn.params()`. A function is called at each (re)connect. */
  params?: Record<string, string> | (() => Record<string, string>);
  /** Silence from the server after which the connection counts as dead and is reopened (default 100000 ms). */
  silenceMs?: number;
  /** How long a join, push or leave waits for its reply (default 10000 ms). */
  timeoutMs?: number;
  /** First reconnect delay (half of it fixed, half random); 1.5x per attempt (default 100 ms). */
  backoffBaseMs?: number;
  /** Longest reconnect delay (default 30000 ms). */
  backoffCapMs?: number;
  /**
   * When the WebSocket has not opened this long after connect(), or failed before opening, use long-poll
   * (`<path>/longpoll`) instead, remembered for the tab's session (default 2500 ms; null: never).
   */
  fallbackMs?: number | null;
  /** "websocket" (default, with the fallback) or "longpoll" from the start. */
  transport?: "websocket" | "longpoll";
}

/** The server's answer to a join, push or leave. Awaitable: resolves with the response. */
export class Push<Response = unknown> implements PromiseLike<Response> {
  receive(status: "ok", callback: (response: Response) => void): this;
  receive(status: "error", callback: (response: { reason?: string } & Record<string, unknown>) => void): this;
  receive(status: "timeout", callback: () => void): this;
  then<A = Response, B = never>(
    onOk?: ((response: Response) => A | PromiseLike<A>) | null,
    onError?: ((error: Error) => B | PromiseLike<B>) | null,
  ): Promise<A | B>;
  catch<B = never>(onError?: ((error: Error) => B | PromiseLike<B>) | null): Promise<Response | B>;
}

/** A connection to one maze socket endpoint that reconnects by itself and rejoins its channels. */
export class Socket {
  constructor(path: string, options?: SocketOptions);
  /** Opens the connection; resolves once it is open. */
  connect(): Promise<Socket>;
  /** Closes the connection until connect() is called again. */
  disconnect(): void;
  /** The channel for `topic`; one per topic per socket. */
  channel(topic: string): Channel;
  isConnected(): boolean;
  onOpen(hook: () => void): void;
  onClose(hook: (event: CloseEvent) => void): void;
  onError(hook: (event: Event) => void): void;
  /** The transport of the current or last connection. */
  readonly transport: "websocket" | "longpoll" | undefined;
}

/** The long-poll transport, shaped as a WebSocket (Socket uses it by itself). */
export class LongPoll {
  constructor(url: string);
  readonly readyState: number;
  send(frame: string): void;
  close(code?: number, reason?: string): void;
}

/** One topic on a socket. */
export class Channel {
  /** Channels come from `socket.channel(topic)`, one per topic. */
  constructor(topic: string, socket: Socket);
  readonly topic: string;
  readonly state: "closed" | "joining" | "joined" | "errored";
  /** Joins the topic (once the socket is open); rejoined after every reconnect. */
  join(payload?: unknown): Push;
  /** Leaves the topic. */
  leave(): Push;
  /** Sends `subject` with `payload` to the channel; held back until the join completes. */
  push(subject: string, payload?: unknown): Push;
  /** Calls `callback` with the payload of every message with `subject`. */
  on<Payload = any>(subject: string, callback: (payload: Payload) => void): this;
  off(subject: string, callback?: (payload: any) => void): void;
  /** How many times the channel has sent its join (a Presence resyncs after each). */
  joinCount(): number;
  /**
   * Called when a rejoin could not recover every broadcast missed while
   * disconnected (history trimmed, or restarted): reload what the page shows.
   */
  onRecoveryFailed(callback: (info: { epoch?: string; offset?: string }) => void): void;
}

/** One tracked client of a key: its `phx_ref` and the metadata the server tracked. */
export interface PresenceMeta {
  phx_ref: string;
  [field: string]: unknown;
}

/** A key's presence: one meta per tracked client (tab). */
export interface PresenceEntry {
  metas: PresenceMeta[];
}

/** Every key's presence on a topic (`presence_state`). */
export type PresenceState = Record<string, PresenceEntry>;

/** A `presence_diff`: the metas that joined and left, by key. */
export interface PresenceDiff {
  joins: PresenceState;
  leaves: PresenceState;
}

/** `current` is undefined on the key's first join (a user's first tab). */
export type PresenceJoin = (key: string, current: PresenceEntry | undefined, joined: PresenceEntry) => void;
/** `current.metas` is empty on the key's last leave (a user's last tab). */
export type PresenceLeave = (key: string, current: PresenceEntry, left: PresenceEntry) => void;

/** Who is on a channel's topic, synced from `presence_state` and `presence_diff` (Phoenix's protocol and API). */
export class Presence {
  constructor(channel: Channel);
  onJoin(callback: PresenceJoin): void;
  onLeave(callback: PresenceLeave): void;
  /** After every state or diff applied. */
  onSync(callback: () => void): void;
  /** Every key's presence, or what `chooser` makes of each. */
  list(): PresenceEntry[];
  list<T>(chooser: (key: string, presence: PresenceEntry) => T): T[];
  static syncState(current: PresenceState, next: PresenceState, onJoin?: PresenceJoin, onLeave?: PresenceLeave): PresenceState;
  static syncDiff(current: PresenceState, diff: PresenceDiff, onJoin?: PresenceJoin, onLeave?: PresenceLeave): PresenceState;
  static list<T = PresenceEntry>(state: PresenceState, chooser?: (key: string, presence: PresenceEntry) => T): T[];
}

/** `import Maze from "/maze.js"`: `new Maze.Socket(...)`, as pages written for Amber's client do. */
declare const Maze: { Socket: typeof Socket; Channel: typeof Channel; Push: typeof Push; Presence: typeof Presence };
export default Maze;
