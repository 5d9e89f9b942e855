/**
 * `npm run bench:profile -- --edge`: where the edge Worker's CPU time goes per call. The Worker
 * runs as its deploy bundle in workerd (scripts/edge-bundle.ts) with DevTools on, in front of
 * the bridge; an SDK client calls `echo` through it back to back. Two figures:
 * - what the kernel charged workerd per call, beside a `/healthz` request (the entry cost of
 *   any request: Miniflare's entry worker, HTTP in and out), without the profiler attached;
 * - the Worker isolate's V8 profile over the same calls, from the DevTools protocol, summed by
 *   who spent the time: each of our modules (the bundle's `// path` comments say where each
 *   begins), each dependency, and the runtime's own code (native: streams, fetch, crypto).
 * The profiler slows the isolate; read the profile for shares, the kernel's figure for cost.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createLogger } from '../bridge/log.ts';
import { type LocalEdge, startLocalEdge, startLocalGateway } from '../scripts/local-gateway.ts';
import { freePort } from '../scripts/processes.ts';
import { cpuSeconds, type Profile, type ProfileNode, printTables } from './cpu-profile.ts';

const worker = 'core:user:mcp-edge-gateway';

/** A DevTools protocol session with one target, over the WebSocket workerd serves. */
async function devtools(port: number, target: string) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
    id: string;
    webSocketDebuggerUrl: string;
  }[];
  const found = targets.find((t) => t.id === target);
  if (found === undefined) throw new Error(`no DevTools target ${target} among ${targets.map((t) => t.id)}`);
  const socket = new WebSocket(found.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let next = 0;
  const pending = new Map<number, { method: string; settle: (result: unknown, error?: Error) => void }>();
  const events: { method: string; params: Record<string, unknown> }[] = [];
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data));
    if (message.id === undefined) return void events.push(message);
    const call = pending.get(message.id);
    pending.delete(message.id);
    const error = message.error && new Error(`${call?.method}: ${message.error.message}`);
    call?.settle(message.result, error);
  };
  // workerd gone: nothing will answer.
  socket.onclose = () => {
    for (const call of pending.values()) call.settle(undefined, new Error(`${call.method}: DevTools closed`));
  };
  const send = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const settle = (result: unknown, error?: Error) => (error ? reject(error) : resolve(result as T));
      pending.set(++next, { method, settle });
      socket.send(JSON.stringify({ id: next, method, params }));
    });
  return { send, events, close: () => socket.close() };
}

/** The bundle's text, as workerd loaded it: where each of our modules begins. */
async function bundleModules(session: Awaited<ReturnType<typeof devtools>>) {
  await session.send('Debugger.enable');
  const parsed = session.events.filter((e) => e.method === 'Debugger.scriptParsed');
  const script = parsed.find((e) => String(e.params.url).endsWith('index.js'));
  const { scriptSource } = await session.send<{ scriptSource: string }>('Debugger.getScriptSource', {
    scriptId: script?.params.scriptId,
  });
  await session.send('Debugger.disable');
  const starts: [number, string][] = [];
  scriptSource.split('\n').forEach((line, i) => {
    const module = /^\/\/ ((?:workers|shared|node_modules)\/\S+\.(?:ts|js|mjs))$/.exec(line)?.[1];
    if (module) starts.push([i, module]);
  });
  return (line: number) => {
    let at = '';
    for (const [start, module] of starts) {
      if (start > line) break;
      at = module;
    }
    return at;
  };
}

function ownerIn(moduleAt: (line: number) => string) {
  return (frame: ProfileNode['callFrame']): string => {
    if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
    const module = moduleAt(frame.lineNumber);
    const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(module);
    return dependency?.[1] ?? (module || frame.url);
  };
}

/** What the kernel charged workerd (the runner's children) per `count` runs of `work`, in ms. */
async function charged(edge: LocalEdge, count: number, work: () => Promise<unknown>): Promise<number> {
  const workerd = () => cpuSeconds(edge.pid).children;
  const before = workerd();
  for (let i = 0; i < count; i++) await work();
  return ((workerd() - before) * 1000) / count;
}

export async function profileEdge(quick: boolean): Promise<void> {
  const calls = quick ? 1000 : 3000;
  const gateway = await startLocalGateway({
    edgePort: await freePort(),
    freeBridgePorts: true,
    log: createLogger('error'),
  });
  const inspectorPort = await freePort();
  const edge = await startLocalEdge(
    { edgePort: await freePort(), edge: 'deployed-bundle', inspectorPort },
    gateway.bridge.url,
    gateway.signingSecret,
  );
  const client = new Client({ name: 'profile', version: '1' });
  try {
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${edge.edgeUrl}/everything/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${edge.apiKey}` } },
      }),
    );
    const echo = () => client.callTool({ name: 'echo', arguments: { message: 'yardstick' } });
    const healthz = async () => (await fetch(`${edge.edgeUrl}/healthz`)).text();
    await charged(edge, 1000, echo);
    await charged(edge, 200, healthz);
    const perCall = await charged(edge, calls, echo);
    const perEntry = await charged(edge, calls, healthz);
    const session = await devtools(inspectorPort, worker);
    const moduleAt = await bundleModules(session);
    await session.send('Profiler.enable');
    await session.send('Profiler.setSamplingInterval', { interval: 200 });
    await session.send('Profiler.start');
    for (let i = 0; i < calls; i++) await echo();
    const { profile } = await session.send<{ profile: Profile }>('Profiler.stop');
    session.close();
    console.log(`## the edge Worker as deployed (bundle in workerd): ${calls} echo calls through it\n`);
    const busy = printTables(profile, calls, ownerIn(moduleAt));
    console.log(
      `\nCPU the kernel charged workerd, without the profiler: ${perCall.toFixed(3)} ms per call, ${perEntry.toFixed(3)} ms per /healthz (the entry cost of any request); the difference, ${(perCall - perEntry).toFixed(3)} ms, is the call's own. The profile's busy samples in the Worker's isolate (slowed by the profiler): ${(busy / calls / 1000).toFixed(3)} ms per call.`,
    );
  } finally {
    await client.close();
    await edge.stop();
    await gateway.stop();
  }
}
