/** How long to wait before sending a refused batch again. */

/** The wait before attempt `attempt` + 1 (1-based count of failures so far): exponential from 1 s,
 *  capped at `max`, never shorter than the server's `Retry-After`, plus up to a quarter more at
 *  random, so that clients refused together do not come back together. */
export function retryDelay(attempt: number, retryAfter: number | null, max: number, random = Math.random()): number {
  const backoff = Math.min(max, 1000 * 2 ** Math.min(attempt - 1, 20));
  return Math.max(retryAfter || 0, backoff) * (1 + random / 4);
}

/** A `Retry-After` header in milliseconds (seconds or an HTTP date), or null. */
export function parseRetryAfter(header: string | null, now: number): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return at ? Math.max(0, at - now) : null;
}
