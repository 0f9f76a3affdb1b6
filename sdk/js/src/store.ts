/** The unacknowledged events in localStorage, so that a reload or a closed tab loses none. The
 *  tabs of an origin share one key: each write keeps what other tabs stored, and a tracker takes
 *  over what was stored before it started. The stored list is bounded; when it overflows the
 *  oldest go first, counted. */

import type { Item } from "./event";
import { read, usable, write } from "./storage";

interface Stored {
  /** the events */
  q: Item[];
  /** how many were dropped unsent, ever */
  d: number;
}

export class Store {
  /** Ids this tracker holds or held since its last write; the rest of the stored list is others'. */
  private own = new Set<string>();
  /** Drops not yet written. */
  dropped = 0;
  private readonly on = usable("localStorage");

  constructor(
    private readonly key: string,
    private readonly max: number,
  ) {}

  private get(): Stored {
    return read<Stored>("localStorage", this.key) || { q: [], d: 0 };
  }

  /** Everything stored, now this tracker's to send. */
  adopt(): Item[] {
    const q = this.get().q;
    q.forEach((i) => this.own.add(i.e.event_id));
    return q;
  }

  /** Writes `queue` in place of this tracker's earlier list, keeping other tabs' events. */
  save(queue: Item[]): void {
    if (!this.on) return;
    const s = this.get();
    const q = s.q.filter((i) => !this.own.has(i.e.event_id));
    const over = q.length + queue.length - this.max;
    // Others' events go first: this tracker's own are at most `max` and still in its memory.
    if (over > 0) this.dropped += q.splice(0, over).length;
    q.push(...queue);
    this.own = new Set(queue.map((i) => i.e.event_id));
    const d = s.d + this.dropped;
    this.dropped = 0;
    // A full quota: keep the newest half until it fits.
    while (!write("localStorage", this.key, q.length || d ? { q, d } : null) && q.length) {
      q.splice(0, Math.ceil(q.length / 2));
    }
  }

  /** Events dropped unsent, over every page of the origin. */
  total(): number {
    return this.get().d + this.dropped;
  }
}
