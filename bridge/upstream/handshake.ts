import { resultOf } from '../../shared/protocol/jsonrpc.ts';
import { bridgeCapabilities, bridgeRevision } from '../sessions/versions.ts';
import type { Channel } from './channel.ts';
import type { Upstream } from './upstream.ts';

const initTimeoutMs = 10_000;
const warmupTimeoutMs = 5000;
let pings = 0;

/**
 * A ping before initialize (which MCP allows) proves the child speaks JSON-RPC before a
 * session gets it, and warms its code paths: the first initialize then takes ~4 ms, not ~12.
 * A server that ignores pings before initialize is still usable: it is taken after a while.
 */
export function warmUp(upstream: Upstream): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const id = `bridge-warmup-${++pings}`;
    const settle = () => {
      clearTimeout(timer);
      upstream.onmessage = undefined;
      upstream.onexit = undefined;
    };
    const timer = setTimeout(() => {
      settle();
      resolve(upstream);
    }, warmupTimeoutMs);
    upstream.onmessage = (message) => {
      if (!('id' in message) || message.id !== id || 'method' in message) return;
      settle();
      resolve(upstream);
    };
    upstream.onexit = (_reason, detail) => {
      settle();
      reject(new Error(`before it was ready, ${detail}`));
    };
    upstream.send({ jsonrpc: '2.0', id, method: 'ping' }).catch(() => undefined);
  });
}

const bridgeClient = {
  protocolVersion: bridgeRevision,
  capabilities: bridgeCapabilities,
  clientInfo: { name: 'mcp-edge-gateway-bridge', version: '0.1.0' },
};

/**
 * The 2025 handshake with a server: by the bridge as its own client, or (`params`) with a
 * client's own `initialize`, as a portal starts a member. Its result. With `announce: false`
 * the `notifications/initialized` is left to the client that will use it (a primed spare).
 */
export function initialize(
  upstream: Channel,
  params: Record<string, unknown> = bridgeClient,
  announce = true,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const id = 'bridge-initialize';
    const timer = setTimeout(
      () => reject(new Error('the MCP server did not answer initialize')),
      initTimeoutMs,
    );
    upstream.onexit = (_reason, detail) => {
      clearTimeout(timer);
      reject(new Error(detail));
    };
    upstream.onmessage = (message) => {
      if (!('id' in message) || message.id !== id || 'method' in message) return;
      clearTimeout(timer);
      const result = resultOf(message);
      if (result === undefined) return reject(new Error('the MCP server refused initialize'));
      if (typeof result.protocolVersion === 'string') upstream.setProtocolVersion(result.protocolVersion);
      if (!announce) return resolve(result);
      upstream
        .send({ jsonrpc: '2.0', method: 'notifications/initialized' })
        .then(() => resolve(result), reject);
    };
    upstream.send({ jsonrpc: '2.0', id, method: 'initialize', params }).catch((error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
