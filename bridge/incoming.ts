import type { IncomingMessage } from 'node:http';

/** One value of a request header (Node gives repeated headers as a list). */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The 2026-07-28 continuation a request carries in its params, if any. */
export function requestStateOf(body: unknown): string | undefined {
  const state = (body as { params?: { requestState?: unknown } } | undefined)?.params?.requestState;
  return typeof state === 'string' ? state : undefined;
}
