/** Sending a batch to the api (README "Posting events"): `fetch` with `keepalive` and gzip while
 *  the page lives, `navigator.sendBeacon` as it goes away, and what each answer means. */

import { parseRetryAfter } from "./backoff";
import type { LakehouseEvent } from "./event";

/** Chromium and Firefox refuse keepalive fetches and beacons past 64 KiB in flight per page. */
export const KEEPALIVE_BYTES = 60000;

/** What to do with a batch after an answer. */
export type Outcome =
  /** Not stored (or not known to be): send the same events again, after at least `wait` ms. */
  | { retry: true; wait: number | null }
  /** Answered for good: `problems` lists what was refused (a 202's `rejected`, or a 4xx). */
  | { retry: false; refused: number[]; problems: string[] };

interface ErrorBody {
  error?: { code?: string; message?: string; details?: Detail[] };
  rejected?: Detail[];
}

interface Detail {
  index?: number;
  field?: string;
  error?: string;
}

export const bytes = (s: string): number => new TextEncoder().encode(s).length;

function body(events: LakehouseEvent[], now: number): string {
  return JSON.stringify({ batch: events, sent_at: new Date(now).toISOString() });
}

async function gzip(json: string): Promise<ArrayBuffer> {
  const stream = new Blob([json]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

const describe = (d: Detail): string => (d.index != null ? `event ${d.index}: ` : "") + `${d.field} ${d.error}`;

/** Posts `events` as one batch; never throws. */
export async function post(
  endpoint: string,
  apiKey: string,
  events: LakehouseEvent[],
  compress: boolean,
): Promise<Outcome> {
  const now = Date.now();
  const json = body(events, now);
  const headers: Record<string, string> = { "content-type": "application/json", "x-api-key": apiKey };
  try {
    let payload: string | ArrayBuffer = json;
    if (compress && json.length > 1024 && typeof CompressionStream == "function") {
      payload = await gzip(json);
      headers["content-encoding"] = "gzip";
    }
    const size = typeof payload == "string" ? bytes(payload) : payload.byteLength;
    const r = await fetch(endpoint, {
      method: "POST",
      headers,
      body: payload,
      keepalive: size <= KEEPALIVE_BYTES,
      credentials: "omit",
    });
    const s = r.status;
    if (s == 408 || s == 429 || s >= 500) {
      return { retry: true, wait: parseRetryAfter(r.headers.get("retry-after"), now) };
    }
    const a: ErrorBody = await r.json().catch(() => ({}));
    if (s < 300) {
      const rejected = a.rejected || [];
      return { retry: false, refused: rejected.map((d) => d.index as number), problems: rejected.map(describe) };
    }
    const e = a.error || {};
    return {
      retry: false,
      refused: events.map((_, i) => i),
      problems: [`${s} ${e.code}: ${e.message}`, ...(e.details || []).map(describe)],
    };
  } catch {
    // A network error, or an answer the browser hid (CORS): the request may or may not have arrived.
    return { retry: true, wait: null };
  }
}

/** Queues `events` with `navigator.sendBeacon` (text/plain, the key in the query, as the api
 *  accepts from a page that is going away); false when the browser refused it. */
export function beacon(endpoint: string, apiKey: string, events: LakehouseEvent[]): boolean {
  const url = `${endpoint}${endpoint.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(apiKey)}`;
  try {
    return navigator.sendBeacon(url, body(events, Date.now()));
  } catch {
    return false;
  }
}
