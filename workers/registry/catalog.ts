import type { ServerDocument } from '../../shared/policy/document.ts';
import { mayConnect, type Principal, visibleTools } from '../../shared/policy/policy.ts';
import { namespaced, portalPath } from '../../shared/portal/names.ts';
import { clientEntries } from '../../shared/registry/client-configs.ts';
import { ToolSnapshotSchema, toolsKey } from '../../shared/storage/kv.ts';
import { documentNames, loadDocument } from '../documents.ts';
import { resourceOf } from '../sign-in/oauth.ts';
import { keyPlaceholder } from './page.ts';

/**
 * The MCP Registry API (v0.1) over this gateway's servers: only what the caller may use
 * (anonymous readers see the servers marked public), with each server's endpoint and the
 * tools the caller would see there.
 */
const serverSchema = 'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json';

export function namespaceOf(url: URL): string {
  return url.hostname.split('.').reverse().join('.');
}

function visibleTo(doc: ServerDocument, principal: Principal): boolean {
  if (principal.method === 'anonymous') return doc.public && doc.access.anonymous;
  return mayConnect(doc, principal) || doc.public;
}

async function toolsFor(kv: KVNamespace, doc: ServerDocument, principal: Principal) {
  const text = await kv.get(toolsKey(doc.name), 'text');
  if (text === null) return undefined;
  const parsed = ToolSnapshotSchema.safeParse(JSON.parse(text));
  if (!parsed.success) return undefined;
  return visibleTools(doc, principal, parsed.data.tools).map((t) => ({
    name: t.name,
    description: t.description,
  }));
}

/** Paste-ready configurations; the key is a placeholder the page fills in the browser. */
function clientConfigs(doc: ServerDocument, url: string): Record<string, string> {
  const endpoint = { name: doc.name, url, token: doc.access.anonymous ? undefined : keyPlaceholder };
  return clientEntries(endpoint);
}

/** The registry's own `repository` field, when the document names its source. */
function repositoryOf(doc: ServerDocument) {
  const repository = doc.provenance?.source?.repository;
  if (repository === undefined) return {};
  const host = new URL(repository).hostname;
  return { repository: { url: repository, source: host === 'github.com' ? 'github' : host } };
}

export async function entry(kv: KVNamespace, doc: ServerDocument, principal: Principal, url: URL) {
  return {
    server: {
      $schema: serverSchema,
      name: `${namespaceOf(url)}/${doc.name}`,
      description: doc.description,
      version: doc.serverVersion,
      ...repositoryOf(doc),
      remotes: [{ type: 'streamable-http', url: resourceOf(url.origin, doc.name) }],
      _meta: {
        'dev.mcp-edge-gateway/tools': (await toolsFor(kv, doc, principal)) ?? null,
        'dev.mcp-edge-gateway/provenance': doc.provenance ?? null,
        // Whose credential the server acts with; never the credential.
        'dev.mcp-edge-gateway/identity': doc.identity.mode,
        'dev.mcp-edge-gateway/client-configs': clientConfigs(doc, resourceOf(url.origin, doc.name)),
      },
    },
    _meta: { 'io.modelcontextprotocol.registry/official': { status: doc.status, isLatest: true } },
  };
}

/**
 * The portal as a registry entry: first, for a caller with a key and a server behind the bridge,
 * with every member's tools under the portal's names.
 */
async function portalEntry(
  kv: KVNamespace,
  members: ReadonlyMap<string, ServerDocument>,
  principal: Principal,
  url: URL,
) {
  const tools = [];
  for (const doc of members.values()) {
    const own = (await toolsFor(kv, doc, principal)) ?? [];
    tools.push(...own.map((t) => ({ ...t, name: namespaced(doc.name, t.name) })));
  }
  const endpoint = `${url.origin}${portalPath}`;
  return {
    server: {
      $schema: serverSchema,
      name: `${namespaceOf(url)}/portal`,
      description: `Every server you may use, behind one URL (${[...members.keys()].join(', ')}); tools are named <server>__<tool>`,
      version: '1.0.0',
      remotes: [{ type: 'streamable-http', url: endpoint }],
      _meta: {
        'dev.mcp-edge-gateway/tools': tools,
        'dev.mcp-edge-gateway/provenance': null,
        'dev.mcp-edge-gateway/client-configs': clientEntries({
          name: 'gateway',
          url: endpoint,
          token: keyPlaceholder,
        }),
      },
    },
    _meta: { 'io.modelcontextprotocol.registry/official': { status: 'active' as const, isLatest: true } },
  };
}

export interface Page {
  servers: (Awaited<ReturnType<typeof entry>> | Awaited<ReturnType<typeof portalEntry>>)[];
  metadata: { count: number; nextCursor?: string };
}

/** One page of servers, in name order; the cursor is the last name returned. */
export async function listServers(
  kv: KVNamespace,
  principal: Principal,
  url: URL,
  options: {
    limit: number;
    cursor: string | undefined;
    cacheSeconds: number;
    /** The servers behind the caller's portal; the portal comes first on the first page. */
    portal: ReadonlyMap<string, ServerDocument>;
  },
): Promise<Page> {
  const servers: Page['servers'] = [];
  if (options.cursor === undefined && options.portal.size > 0 && principal.method !== 'anonymous') {
    servers.push(await portalEntry(kv, options.portal, principal, url));
  }
  let last: string | undefined;
  let more = false;
  for await (const name of documentNames(kv)) {
    if (options.cursor !== undefined && name <= options.cursor) continue;
    if (servers.length >= options.limit) {
      more = true;
      break;
    }
    const loaded = await loadDocument(kv, name, options.cacheSeconds);
    if (!loaded.ok || !visibleTo(loaded.document, principal)) continue;
    servers.push(await entry(kv, loaded.document, principal, url));
    last = name;
  }
  return { servers, metadata: { count: servers.length, ...(more && last ? { nextCursor: last } : {}) } };
}

export async function getServer(
  kv: KVNamespace,
  principal: Principal,
  url: URL,
  name: string,
  cacheSeconds: number,
) {
  const loaded = await loadDocument(kv, name, cacheSeconds);
  if (!loaded.ok || !visibleTo(loaded.document, principal)) return undefined;
  return entry(kv, loaded.document, principal, url);
}
