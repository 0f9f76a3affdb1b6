/** The tracker: events are queued with their id and time, persisted, batched by count and time,
 *  sent until the api takes them (the same `event_id`s on every attempt, so that the warehouse and
 *  the lake store each once), and sent by beacon when the page goes away. */

import { retryDelay } from "./backoff";
import type { Fields, Item, LakehouseEvent } from "./event";
import { Session } from "./session";
import { Store } from "./store";
import { KEEPALIVE_BYTES, beacon, bytes, post } from "./transport";
import { uuidv7 } from "./uuid";

export interface Options {
  /** The api's ingest URL, e.g. `https://events.example.com/analytics`. */
  endpoint: string;
  /** The project's API key (a browser key: it is visible to anyone who loads the page). */
  apiKey: string;
  /** Send when this many events are queued (default 50; the api takes at most 500 a request). */
  batchSize?: number;
  /** Send at most this long (ms) after an event was queued (default 2000). */
  flushInterval?: number;
  /** Events kept unsent, in memory and in localStorage; the oldest go first (default 1000). */
  maxQueue?: number;
  /** The longest wait (ms) between attempts, unless the api asks for longer (default 60000). */
  maxBackoff?: number;
  /** A new session after this long (ms) without an event (default 30 minutes). */
  sessionTimeout?: number;
  /** Track nothing when the browser sends Do Not Track or Global Privacy Control (default false:
   *  the api applies its PRIVACY_POLICY to such requests instead). */
  honorDnt?: boolean;
  /** gzip bodies where the runtime has CompressionStream (default true). */
  gzip?: boolean;
  /** Called with events dropped for good, and why: refused by the api, or pushed out of a full queue. */
  onDrop?: (events: LakehouseEvent[], reason: string) => void;
}

/** A sent event unacknowledged for this long is not sent again: the lake deduplicates ids within
 *  DEDUP_WINDOW_HOURS (24 by default), and the earlier attempt may have arrived. */
export const RESEND_WINDOW = 12 * 3600e3;

export interface Stats {
  /** Events waiting to be acknowledged. */
  queued: number;
  /** Events dropped unsent because the queue was full or they were too old, on any page of the origin. */
  dropped: number;
  /** Events the api refused (a 4xx, or a 202's `rejected`). */
  refused: number;
  /** Attempts that will be made again. */
  retries: number;
}

/** The next batch of `items`: the oldest, up to `max` and (beyond the first) the keepalive limit. */
function next(items: Item[], max: number): Item[] {
  let size = 0;
  const batch: Item[] = [];
  for (const i of items) {
    size += bytes(JSON.stringify(i.e)) + 1;
    if (batch.length == max || (batch.length && size > KEEPALIVE_BYTES)) break;
    batch.push(i);
  }
  return batch;
}

export class Tracker {
  private readonly o: Required<Omit<Options, "onDrop">> & Pick<Options, "onDrop">;
  private queue: Item[] = [];
  private readonly store: Store;
  private readonly session: Session;
  private readonly off: boolean;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private busy = false;
  /** No attempt before this (ms): the backoff after a refusal. */
  private until = 0;
  private attempt = 0;
  private waiting: (() => void)[] = [];
  private refused = 0;
  private retries = 0;

  constructor(options: Options) {
    this.o = {
      batchSize: 50,
      flushInterval: 2000,
      maxQueue: 1000,
      maxBackoff: 60000,
      sessionTimeout: 1800e3,
      honorDnt: false,
      gzip: true,
      ...options,
    };
    const g = globalThis as any;
    const n = g.navigator || {};
    this.off = this.o.honorDnt && (n.doNotTrack == "1" || g.doNotTrack == "1" || n.globalPrivacyControl === true);
    this.session = new Session(this.o.sessionTimeout);
    this.store = new Store(`lh:q:${this.o.apiKey}`, this.o.maxQueue);
    if (this.off) return;

    const now = Date.now();
    const stored = this.store.adopt();
    const old = stored.filter((i) => i.s && now - i.s > RESEND_WINDOW);
    this.queue = stored.filter((i) => !old.includes(i));
    this.drop(old, "unacknowledged 12 h after its last send");
    if (this.queue.length) setTimeout(() => this.pump());

    const hide = () => this.beacon();
    g.addEventListener?.("pagehide", hide);
    g.document?.addEventListener("visibilitychange", () => g.document.visibilityState == "hidden" && hide());
  }

  /** Queues an event; returns its `event_id` (undefined when tracking is off). */
  track(type: string, properties?: { [key: string]: unknown }, fields?: Fields): string | undefined {
    if (this.off) return;
    const now = Date.now();
    const s = this.session.touch(now);
    const e: LakehouseEvent = {
      event_id: uuidv7(now),
      event_type: type,
      session_id: s.id,
      timestamp: new Date(now).toISOString(),
      user_id: s.user,
      url: (globalThis as any).location?.href,
      properties,
      ...fields,
    };
    this.queue.push({ e });
    const over = this.queue.length - this.o.maxQueue;
    if (over > 0) this.drop(this.queue.splice(0, over), "the queue is full");
    this.store.save(this.queue);
    if (this.queue.length >= this.o.batchSize) this.pump();
    else if (!this.timer && !this.busy) this.timer = setTimeout(() => this.pump(), this.o.flushInterval);
    return e.event_id;
  }

  /** A `page_view` of the current page: its URL, referrer and title. */
  page(properties?: { [key: string]: unknown }): string | undefined {
    const d = (globalThis as any).document || {};
    return this.track("page_view", properties, { referrer: d.referrer || undefined, title: d.title || undefined });
  }

  /** A `funnel_step`: step `step` (1-based) of funnel `funnel`. */
  step(funnel: string, step: number, properties?: { [key: string]: unknown }): string | undefined {
    return this.track("funnel_step", { ...properties, funnel, step });
  }

  /** Attaches `userId` to the events that follow, for this tab's session. */
  identify(userId: string): void {
    this.session.identify(userId);
  }

  /** Forgets the user and starts a new session (call it on log-out). */
  reset(): void {
    this.session.reset();
  }

  /** Sends what is queued now; resolves once the queue is empty (through any retries). */
  flush(): Promise<void> {
    if (this.off) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.pump();
    });
  }

  stats(): Stats {
    return { queued: this.queue.length, dropped: this.store.total(), refused: this.refused, retries: this.retries };
  }

  private drop(items: Item[], reason: string): void {
    if (!items.length) return;
    this.store.dropped += items.length;
    this.report(items, [reason]);
  }

  private report(items: Item[], problems: string[]): void {
    console.warn(`[lakehouse] dropped ${items.length} event(s): ${problems.join("; ")}`);
    this.o.onDrop?.(
      items.map((i) => i.e),
      problems.join("; "),
    );
  }

  /** Sends batch after batch until the queue is empty or the api asks to wait. */
  private async pump(): Promise<void> {
    if (this.busy) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const wait = this.until - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.pump(), wait);
      return;
    }
    const batch = next(this.queue, this.o.batchSize);
    if (!batch.length) {
      this.waiting.splice(0).forEach((resolve) => resolve());
      return;
    }
    this.busy = true;
    const now = Date.now();
    batch.forEach((i) => (i.s = now));
    this.store.save(this.queue);
    const outcome = await post(
      this.o.endpoint,
      this.o.apiKey,
      batch.map((i) => i.e),
      this.o.gzip,
    );
    this.busy = false;
    if (outcome.retry) {
      this.retries++;
      this.until = Date.now() + retryDelay(++this.attempt, outcome.wait, this.o.maxBackoff);
    } else {
      this.attempt = 0;
      const sent = new Set(batch);
      this.queue = this.queue.filter((i) => !sent.has(i));
      this.store.save(this.queue);
      if (outcome.refused.length) {
        this.refused += outcome.refused.length;
        this.report(
          outcome.refused.map((index) => batch[index]),
          outcome.problems,
        );
      }
    }
    return this.pump();
  }

  /** The page is going away (or hidden, and may never come back): everything queued goes by beacon.
   *  The events stay queued and stored until a fetch is answered, so that a beacon that did not
   *  arrive is made up for; one that did makes the later send a duplicate the stores ignore. */
  private beacon(): void {
    const now = Date.now();
    let from = 0;
    while (from < this.queue.length) {
      const batch = next(this.queue.slice(from), this.o.batchSize);
      if (!beacon(this.o.endpoint, this.o.apiKey, batch.map((i) => i.e))) break;
      batch.forEach((i) => (i.s = now));
      from += batch.length;
    }
    this.store.save(this.queue);
  }
}
