/** The lakehouse browser and Node SDK: `init` a tracker, then `track`, `page`, `step`,
 *  `identify`, `reset`, `flush`. README "Browser and Node SDK" says what it guarantees. */

import { Tracker, type Options } from "./tracker";

export { Tracker, RESEND_WINDOW, type Options, type Stats } from "./tracker";
export type { Fields, LakehouseEvent } from "./event";
export { uuidv7 } from "./uuid";
export { retryDelay, parseRetryAfter } from "./backoff";

/** A tracker for `options`; on a page, make one per API key. */
export function init(options: Options): Tracker {
  return new Tracker(options);
}
