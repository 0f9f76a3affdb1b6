/** An event as the api's contract has it (api/openapi.json, `Event`), and the queue's entry for one. */

export interface LakehouseEvent {
  event_id: string;
  event_type: string;
  session_id: string;
  timestamp: string;
  user_id?: string;
  event_name?: string;
  url?: string;
  referrer?: string;
  title?: string;
  value?: number;
  properties?: { [key: string]: unknown };
  /** Campaign attribution; when absent, the api reads each from the `url`'s query. */
  utm_source?: string;
  utm_medium?: string;
  utm_campaign?: string;
  utm_term?: string;
  utm_content?: string;
}

/** The fields a caller may set beside the type and properties. */
export type Fields = Pick<
  LakehouseEvent,
  | "event_name"
  | "value"
  | "url"
  | "referrer"
  | "title"
  | "utm_source"
  | "utm_medium"
  | "utm_campaign"
  | "utm_term"
  | "utm_content"
>;

/** A queued event: `s` is when it was last sent (ms), absent before its first send. */
export interface Item {
  e: LakehouseEvent;
  s?: number;
}
