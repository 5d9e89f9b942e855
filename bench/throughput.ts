/** What a throughput measurement needs of a client: an MCP tool call (SDK 1.x or 2.x). */
export interface Caller {
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
}

/** The call client number `i` makes, again and again. */
export type Call = (i: number) => { name: string; arguments: Record<string, unknown> };

/** `echo` of a message tagged with the client's number. */
export const echoCall =
  (tag = 's'): Call =>
  (i) => ({ name: 'echo', arguments: { message: `${tag}${i}` } });

/** Calls per second of every client calling at once, back to back, for `seconds`. */
export async function callRate(clients: Caller[], seconds: number, call: Call = echoCall()): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let calls = 0;
  await Promise.all(
    clients.map(async (c, i) => {
      while (performance.now() < deadline) {
        await c.callTool(call(i));
        calls += 1;
      }
    }),
  );
  return calls / seconds;
}

/**
 * Each client makes `calls` calls back to back, all at once, unmeasured, or fewer if `seconds`
 * pass first: a session's child then runs the warm code it will run for days. Returns the
 * fewest calls any client made.
 */
export async function warm(clients: Caller[], calls: number, seconds: number, call: Call = echoCall('warm')) {
  const deadline = performance.now() + seconds * 1000;
  const made = await Promise.all(
    clients.map(async (c, i) => {
      let n = 0;
      while (n < calls && performance.now() < deadline) {
        await c.callTool(call(i));
        n += 1;
      }
      return n;
    }),
  );
  return Math.min(...made);
}
