/** The session and the user an event belongs to. No identifier outlives the tab: the session id
 *  lives in sessionStorage (gone when the tab closes) and is replaced after a spell without events;
 *  the user id is only what the app passed to `identify`. */

import { read, write } from "./storage";
import { uuidv7 } from "./uuid";

const KEY = "lh:s";

interface Record {
  /** session id */
  i: string;
  /** last event, ms */
  t: number;
  /** user id */
  u?: string;
}

export class Session {
  private mem: Record | null = null;

  constructor(private readonly timeout: number) {}

  private load(): Record | null {
    return read<Record>("sessionStorage", KEY) || this.mem;
  }

  private store(r: Record): Record {
    this.mem = r;
    write("sessionStorage", KEY, r);
    return r;
  }

  /** The session of an event at `now`: the current one, or a new one after `timeout` idle. */
  touch(now: number): { id: string; user?: string } {
    const r = this.load();
    const live = r && now - r.t <= this.timeout;
    const s = this.store({ i: live ? r.i : uuidv7(now), t: now, u: r?.u });
    return { id: s.i, user: s.u };
  }

  identify(user: string): void {
    const r = this.load();
    this.store({ i: r ? r.i : uuidv7(), t: r ? r.t : Date.now(), u: user });
  }

  /** Forgets the user and starts a new session (a log-out). */
  reset(): void {
    this.mem = null;
    write("sessionStorage", KEY, null);
  }
}
