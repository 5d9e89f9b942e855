import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { clientRequestMethods, modernClientRequestMethods } from '../../shared/protocol/jsonrpc.ts';
import type { SessionConfig } from '../config.ts';
import type { Logger } from '../log.ts';

/**
 * Every metric the bridge exports: names, labels and the bounded sets their values
 * come from. `toolhive_mcp_*` keep ToolHive's names and label names so that the lab's
 * queries, dashboards and alerts work unchanged. Documented in docs/metrics.md.
 */

/** Fine enough for a bridge: 100 µs up to 5 minutes (ToolHive's start at 10 ms). */
export const durationBuckets = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
  120, 300,
];

export type Status = 'success' | 'error';
/** HTTP-equivalent outcome of one exchange: 200 answered (even with an error), 502 upstream gone, 504 timed out. */
export type StatusCode = '200' | '502' | '504';

/** The bounded label for an answer's HTTP status: a timeout, another failure of the server, or neither. */
export function statusCodeOf(httpStatus: number): StatusCode {
  return httpStatus === 504 ? '504' : httpStatus >= 500 ? '502' : '200';
}
export type SessionEnd = 'client' | 'idle' | 'upstream_exit' | 'drain';
export type ChildExit = 'crash' | 'closed' | 'spawn_error';
export type DroppedLine = 'not_json' | 'too_long' | 'stderr_rate';
export type ChildState = 'warm' | 'busy' | 'spare' | 'leased' | 'bound';

/** `mcp_method` is one of MCP's client methods; anything else is `other`. */
export function boundedMethod(method: string): string {
  return clientRequestMethods.has(method) || modernClientRequestMethods.has(method) ? method : 'other';
}

const maxNamesPerFamily = 1000;

/**
 * The tool, prompt and resource names a server listed itself: only those may become
 * label values, so a client cannot blow up cardinality by calling made-up names.
 */
export class KnownNames {
  private readonly families = new Map<string, Set<string>>();
  learn(method: string, names: readonly string[]): void {
    const family = familyOf(method);
    if (family === undefined) return;
    const known = this.families.get(family) ?? new Set<string>();
    this.families.set(family, known);
    for (const name of names) {
      if (known.size >= maxNamesPerFamily) return;
      known.add(name);
    }
  }
  bound(method: string, name: string | undefined): string {
    if (name === undefined) return '';
    const family = familyOf(method);
    return family !== undefined && this.families.get(family)?.has(name) ? name : 'other';
  }
}

function familyOf(method: string): string | undefined {
  const family = method.split('/')[0];
  return family === 'tools' || family === 'prompts' || family === 'resources' ? family : undefined;
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const exchange = ['server', 'transport', 'mcp_method', 'mcp_resource_id', 'status', 'status_code'] as const;
  return {
    registry,
    requests: new Counter({
      name: 'toolhive_mcp_requests_total',
      help: 'MCP requests answered, by server, method, tool/prompt/resource and outcome',
      labelNames: exchange,
      registers,
    }),
    duration: new Histogram({
      name: 'toolhive_mcp_request_duration_seconds',
      help: 'Time from a request reaching the bridge to its answer leaving it',
      labelNames: exchange,
      buckets: durationBuckets,
      registers,
    }),
    toolCalls: new Counter({
      name: 'toolhive_mcp_tool_calls_total',
      help: 'tools/call requests by tool and outcome (isError results count as error)',
      labelNames: ['server', 'tool', 'status'] as const,
      registers,
    }),
    activeConnections: new Gauge({
      name: 'toolhive_mcp_active_connections',
      help: 'Open MCP sessions',
      labelNames: ['server', 'transport'] as const,
      registers,
    }),
    sessions: new Gauge({
      name: 'mcp_bridge_sessions',
      help: 'Open MCP sessions by server and session mode',
      labelNames: ['server', 'mode'] as const,
      registers,
    }),
    sessionStarts: new Counter({
      name: 'mcp_bridge_session_starts_total',
      help: 'Isolated sessions opened, by the child they got: primed (initialized ahead with the same initialize), warm (pooled), spawned (started for it)',
      labelNames: ['server', 'child'] as const,
      registers,
    }),
    sessionsEnded: new Counter({
      name: 'mcp_bridge_sessions_ended_total',
      help: 'Sessions ended, by reason',
      labelNames: ['server', 'reason'] as const,
      registers,
    }),
    children: new Gauge({
      name: 'mcp_bridge_child_processes',
      help: "Child processes by state (warm: pooled, primed: pooled and initialized ahead with a recent client's initialize, busy: serving sessions; for 2026-07-28 requests: spare, leased, bound: idle and kept for the one person it served)",
      labelNames: ['server', 'state'] as const,
      registers,
    }),
    leaseOwners: new Gauge({
      name: 'mcp_bridge_lease_owners',
      help: 'People holding children for their 2026-07-28 requests (isolated mode binds each child to one)',
      labelNames: ['server'] as const,
      registers,
    }),
    leasesWaiting: new Gauge({
      name: 'mcp_bridge_leases_waiting',
      help: '2026-07-28 requests waiting for a child',
      labelNames: ['server'] as const,
      registers,
    }),
    memory: new Gauge({
      name: 'mcp_bridge_memory_bytes',
      help: 'Memory the bridge admits by: used (the bridge and its stdio children, PSS), limit, and per_child (mean)',
      labelNames: ['measure'] as const,
      registers,
    }),
    childSpawns: new Counter({
      name: 'mcp_bridge_child_spawns_total',
      help: 'stdio child processes started',
      labelNames: ['server'] as const,
      registers,
    }),
    childExits: new Counter({
      name: 'mcp_bridge_child_exits_total',
      help: 'stdio child processes ended, by reason',
      labelNames: ['server', 'reason'] as const,
      registers,
    }),
    poolReady: new Gauge({
      name: 'mcp_bridge_pool_ready',
      help: 'Warm children ready to take a new session',
      labelNames: ['server'] as const,
      registers,
    }),
    rejected: new Counter({
      name: 'mcp_bridge_rejected_requests_total',
      help: 'HTTP requests refused before reaching a server, by reason',
      labelNames: ['server', 'reason'] as const,
      registers,
    }),
    forwarded: new Counter({
      name: 'mcp_bridge_forwarded_requests_total',
      help: "Requests for another instance's session, passed to it (relayed) or not (unreachable)",
      labelNames: ['server', 'outcome'] as const,
      registers,
    }),
    bytes: new Counter({
      name: 'mcp_bridge_bytes_total',
      help: 'JSON-RPC bytes relayed, by direction (in: from clients, out: to clients)',
      labelNames: ['server', 'direction'] as const,
      registers,
    }),
    toolDrift: new Counter({
      name: 'mcp_bridge_tool_drift_total',
      help: "Tools a pinned server listed whose definition matches none of its document's pins (changed, renamed or new), per tools/list",
      labelNames: ['server', 'tool'] as const,
      registers,
    }),
    droppedLines: new Counter({
      name: 'mcp_bridge_child_dropped_lines_total',
      help: 'Lines from a child that were dropped, by reason',
      labelNames: ['server', 'reason'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** How many children are in each state, and who waits: for the gauges. */
export interface LeaseCounts {
  spare: number;
  leased: number;
  /** Idle, kept for the one person they served (isolated mode). */
  bound: number;
  /** People holding at least one child (isolated mode). */
  owners: number;
  waiting: number;
}

/** The 2026-07-28 children of one server, by state, and who holds or waits for them. */
export function recordLeases(metrics: Metrics, server: string, counts: LeaseCounts): void {
  for (const state of ['spare', 'leased', 'bound'] as const) {
    metrics.children.set({ server, state }, counts[state]);
  }
  metrics.leaseOwners.set({ server }, counts.owners);
  metrics.leasesWaiting.set({ server }, counts.waiting);
}

/** One answered request: what it asked, when it started, how it ended. */
export interface AnsweredRequest {
  method: string;
  resource: string | undefined;
  started: bigint;
  status: Status;
  statusCode: StatusCode;
}

interface AnswerContext {
  config: SessionConfig;
  metrics: Metrics;
  log: Logger;
  names: KnownNames;
  /** A portal's: the member server a (bounded) name belongs to, and the member's own name. */
  attribute?: (resource: string) => { server: string; resource: string } | undefined;
}

interface Audit {
  principal: string | undefined;
  session?: string;
  revision?: string;
  outcome?: string;
}

/**
 * One answered request in the metrics; for `tools/call`, the bridge's half of the audit trail too
 * (the edge logged the decision, this logs the outcome). Sessions and stateless requests alike.
 * Timed now, recorded once the answer is on its way: the client does not wait for prom-client's
 * label hashing or the audit line's write (0.02 ms of a call at one session, bench:profile), and
 * both are done before the bridge reads anything more from any socket.
 */
export function recordAnswer(ctx: AnswerContext, answered: AnsweredRequest, audit: Audit): void {
  const seconds = Number(process.hrtime.bigint() - answered.started) / 1e9;
  setImmediate(() => record(ctx, answered, audit, seconds));
}

function record(ctx: AnswerContext, answered: AnsweredRequest, audit: Audit, seconds: number): void {
  const { config, metrics, names } = ctx;
  const { method, status, statusCode } = answered;
  const bounded = names.bound(method, answered.resource);
  const owner = ctx.attribute?.(bounded) ?? { server: config.name, resource: bounded };
  const { server, resource } = owner;
  const labels = {
    server,
    transport: config.transport.type,
    mcp_method: boundedMethod(method),
    mcp_resource_id: resource,
    status,
    status_code: statusCode,
  };
  metrics.requests.inc(labels);
  metrics.duration.observe(labels, seconds);
  if (method !== 'tools/call') return;
  metrics.toolCalls.inc({ server, tool: resource, status });
  ctx.log.log('info', 'mcp.tools.call', {
    event: 'audit',
    ...(audit.session === undefined ? {} : { session: audit.session }),
    ...(audit.revision === undefined ? {} : { revision: audit.revision }),
    principal: audit.principal,
    // Whose credential the server acted with: the bridge's, or the principal's own.
    ...('identity' in config ? { identity: (config.identity as { mode: string }).mode } : {}),
    tool: answered.resource?.slice(0, 128),
    status: audit.outcome ?? status,
    statusCode,
    ms: Math.round(seconds * 1000),
  });
}
