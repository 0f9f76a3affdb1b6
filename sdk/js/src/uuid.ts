/** UUIDv7 event ids (RFC 9562): 48 bits of Unix milliseconds, then random bits, so that ids sort
 *  by creation time. */

/** A fresh UUIDv7 for the moment `now` (milliseconds since the epoch). */
export function uuidv7(now: number = Date.now()): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 0; i < 6; i++) b[i] = (now / 2 ** (40 - 8 * i)) & 255;
  b[6] = (b[6] & 15) | 0x70; // version 7
  b[8] = (b[8] & 63) | 0x80; // variant 10
  const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
