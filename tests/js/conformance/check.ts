// maze.js against maze.d.ts: each export maze.js really has must be assignable
// to what maze.d.ts declares (every declared method present, with compatible
// types). The test copies maze.js here as impl.js (so that TypeScript infers
// its types from the code and its JSDoc, not from the declarations) and
// maze.d.ts as maze.d.ts.
import * as impl from "./impl.js";
import implDefault from "./impl.js";
import type * as declared from "./maze";
import type declaredDefault from "./maze";

export const socket: typeof declared.Socket = impl.Socket;
export const channel: typeof declared.Channel = impl.Channel;
export const push: typeof declared.Push = impl.Push;
export const maze: typeof declaredDefault = implDefault;
