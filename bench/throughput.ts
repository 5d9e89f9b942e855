/** What a throughput measurement needs of a client: an MCP tool call (SDK 1.x or 2.x). */
export interface Caller {
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
}

/** `echo` calls per second of every client calling at once, back to back, for `seconds`. */
export async function echoThroughput(clients: Caller[], seconds: number, tag = 's'): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let calls = 0;
  await Promise.all(
    clients.map(async (c, i) => {
      while (performance.now() < deadline) {
        await c.callTool({ name: 'echo', arguments: { message: `${tag}${i}` } });
        calls += 1;
      }
    }),
  );
  return calls / seconds;
}
