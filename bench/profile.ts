/**
 * `npm run bench:profile`: where the bridge's CPU time goes per call. The bridge runs under
 * `node --cpu-prof`, once per session mode, while SDK clients call server-everything's `echo`
 * back to back; its profile (written when it stops) is summed by who spent the time (our
 * modules, each dependency, Node's internals, the garbage collector) and by function, and
 * divided by the calls it served. The measuring process is not the one measured.
 * `--setup`: the same for session set-up (SDK client connect, then DELETE), one session at a
 * time, a quarter second apart, as sessions arrive; "calls" are then sessions.
 * `--sessions N`: N concurrent sessions instead of 8 (the throughput bench's 32, say).
 * `--bytes N`: each `echo` carries N bytes (the 1 MiB echo of `npm run bench`: 1048576).
 * `--interval µs`: the profiler's sampling interval, 97 unless told. Node's default, 1,000 µs, is
 * about one call's round trip at one session: a sample then lands at much the same point of each
 * call, and the profile blames whatever runs there (2026-12-02: Node's header parsing got 0.058 ms
 * of samples per call, where timing it gave 0.006). A short interval that is no round number takes
 * some ten samples a call, at points that drift from call to call.
 * Beside the bridge's own CPU, the CPU of the MCP servers it spawned, per call: in isolated
 * mode one child per session shares the load, in shared mode one takes it all.
 * `--edge`: the edge Worker's instead, as deployed, in workerd (bench/edge-profile.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort } from '../scripts/processes.ts';
import { startBridgeProcess } from './bridge-process.ts';
import { cpuSeconds, type Profile, type ProfileNode, printTables } from './cpu-profile.ts';
import { profileEdge } from './edge-profile.ts';
import { type Call, callRate, echoCall, warm } from './throughput.ts';

const repo = join(import.meta.dirname, '..');
const node = process.execPath;
const server = [join(repo, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'];
const quick = process.argv.includes('--quick');
const seconds = quick ? 3 : 10;
const sessionsAt = process.argv.indexOf('--sessions');
const sessions = sessionsAt > 0 ? Number(process.argv[sessionsAt + 1]) : 8;
if (!Number.isInteger(sessions) || sessions < 1) throw new Error('--sessions takes a whole number above 0');
const setup = process.argv.includes('--setup');
const bytesAt = process.argv.indexOf('--bytes');
const bytes = bytesAt > 0 ? Number(process.argv[bytesAt + 1]) : 0;
if (!Number.isInteger(bytes) || bytes < 0) throw new Error('--bytes takes a whole number');
const intervalAt = process.argv.indexOf('--interval');
const interval = intervalAt > 0 ? Number(process.argv[intervalAt + 1]) : 97;
if (!Number.isInteger(interval) || interval < 1)
  throw new Error('--interval takes a whole number of µs above 0');
/** The call every session makes: a short `echo`, or one of `--bytes` bytes. */
const long = 'x'.repeat(bytes);
const echo = (tag: string): Call =>
  bytes > 0 ? () => ({ name: 'echo', arguments: { message: long } }) : echoCall(tag);

/** Now on the monotonic clock, in µs: the clock a V8 profile's times are on, in any process. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * The profile of the measured time only, `from` to `to` (µs, monotonic). Start-up (module
 * loading, the pool's first spawns), the warm-up and the shutdown fall outside.
 */
function windowed(profile: Profile, from: number, to: number): Profile {
  const at: number[] = [];
  let t = profile.startTime;
  for (const delta of profile.timeDeltas) {
    t += delta;
    at.push(t);
  }
  const kept = at.map((time, i) => (time >= from && time <= to ? i : -1)).filter((i) => i >= 0);
  return {
    startTime: from,
    nodes: profile.nodes,
    samples: kept.map((i) => profile.samples[i] ?? 0),
    timeDeltas: kept.map((i) => profile.timeDeltas[i] ?? 0),
  };
}

/** Who a frame's time belongs to: a package, our own module, Node itself, or V8's bookkeeping. */
function ownerOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1] ?? url;
  if (url.startsWith('node:')) return 'node internals';
  const own = /\/((?:bridge|shared)\/.*)$/.exec(url);
  return own?.[1] ?? url;
}

async function profiled(mode: 'isolated' | 'shared') {
  const dir = await mkdtemp(join(tmpdir(), `profile-${mode}-`));
  const port = await freePort();
  const entry = { name: 'everything', transport: { type: 'stdio', command: node, args: server } };
  const modeSettings = mode === 'isolated' ? { pool: 4 } : { sessions: 'shared' }; // bench/bridge.ts's
  const bridge = await startBridgeProcess(
    { listen: { port }, metrics: { port: 0 }, servers: [{ ...entry, ...modeSettings }] },
    { nodeArgs: ['--cpu-prof', '--cpu-prof-interval', String(interval), '--cpu-prof-dir', dir] },
  );
  const url = new URL(`http://127.0.0.1:${port}/everything/mcp`);
  const clients: Client[] = [];
  let calls = 0;
  let cpu = { user: 0, system: 0, children: 0 };
  let from = 0;
  let to = 0;
  try {
    if (setup) await setups(url, 20);
    else {
      for (let i = 0; i < sessions; i++) clients.push(await connected(url));
      // As bench/bridge.ts warms: the pool's refills done, every session's child warm.
      await warm(clients, quick ? 300 : 1000, quick ? 5 : 20, echo('warm'));
    }
    const before = cpuSeconds(bridge.child.pid);
    from = monotonicUs();
    calls = setup
      ? await setups(url, seconds * 4)
      : Math.round((await callRate(clients, seconds, echo('s'))) * seconds);
    to = monotonicUs();
    const after = cpuSeconds(bridge.child.pid);
    cpu = {
      user: after.user - before.user,
      system: after.system - before.system,
      children: after.children - before.children,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await bridge.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no profile written in ${dir}`);
  const whole = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  return {
    profile: windowed(whole, from, to),
    calls,
    cpu,
    elapsed: (to - from) / 1e6,
    file: join(dir, file),
  };
}

async function connected(url: URL): Promise<Client> {
  const c = new Client({ name: 'profile', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(url));
  return c;
}

/** `count` sessions opened and ended one after another, 250 ms apart (the pool refills between). */
async function setups(url: URL, count: number): Promise<number> {
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const c = await connected(url);
    await (c.transport as StreamableHTTPClientTransport).terminateSession();
    await c.close();
  }
  return count;
}

function report(mode: string, run: Awaited<ReturnType<typeof profiled>>): void {
  const { profile, calls } = run;
  const what = setup ? `${calls} sessions set up, one at a time` : `${calls} calls by ${sessions} sessions`;
  const perCall = (us: number) => (us / calls / 1000).toFixed(3);
  console.log(`\n## ${mode}: ${what} in ${run.elapsed.toFixed(1)} s; ${run.file}\n`);
  const busy = printTables(profile, calls, ownerOf);
  console.log(
    `\nCPU the kernel charged the bridge: ${perCall((run.cpu.user + run.cpu.system) * 1e6)} ms per call (user ${perCall(run.cpu.user * 1e6)}, system ${perCall(run.cpu.system * 1e6)}${setup ? "; with the profiler's own sampling between sessions" : ''}); the profile's busy samples: ${perCall(busy)} ms per call`,
  );
  console.log(
    `CPU the kernel charged the MCP servers it spawned (${mode === 'isolated' ? 'one per session' : 'shared'}): ${perCall(run.cpu.children * 1e6)} ms per call`,
  );
}

if (process.argv.includes('--edge')) await profileEdge(quick);
else for (const mode of ['isolated', 'shared'] as const) report(mode, await profiled(mode));
