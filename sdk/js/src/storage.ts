/** JSON in Web Storage, tolerant of its absence (Node, workers) and of browsers that refuse it
 *  (private modes, sandboxed frames, a full quota): every access may throw, none may break the app. */

export type Area = "localStorage" | "sessionStorage";

/** The value under `key`, or null when absent, unreadable or storage is unavailable. */
export function read<T>(area: Area, key: string): T | null {
  try {
    return JSON.parse(globalThis[area].getItem(key) as string);
  } catch {
    return null;
  }
}

/** Stores `value` (removes the key for null); false when storage is unavailable or full. */
export function write(area: Area, key: string, value: unknown): boolean {
  try {
    const s = globalThis[area];
    value == null ? s.removeItem(key) : s.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

/** Whether `area` can be used at all. */
export function usable(area: Area): boolean {
  try {
    return !!globalThis[area];
  } catch {
    return false;
  }
}
