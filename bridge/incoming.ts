/** The 2026-07-28 continuation a request carries in its params, if any. */
export function requestStateOf(body: unknown): string | undefined {
  const state = (body as { params?: { requestState?: unknown } } | undefined)?.params?.requestState;
  return typeof state === 'string' ? state : undefined;
}
