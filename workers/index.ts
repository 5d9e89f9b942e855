import { AutoRouter, type IRequest } from 'itty-router';
import { type Env, settingsOf } from './env.ts';
import { handleMcp, refusal as refusalOf } from './mcp.ts';

const serverName = /^[a-z0-9][a-z0-9-]{0,62}$/;

function misconfigured(problems: string[]): Response {
  console.error(JSON.stringify({ event: 'gateway.misconfigured', problems }));
  return refusalOf({ kind: 'gateway_misconfigured' });
}

const router = AutoRouter<IRequest, [Env, ExecutionContext]>({
  catch: (error: unknown) => {
    console.error(JSON.stringify({ event: 'gateway.error', error: String(error).slice(0, 300) }));
    return new Response(JSON.stringify({ error: 'internal error' }), {
      status: 500,
      headers: { 'content-type': 'application/json' },
    });
  },
  missing: () => refusalOf({ kind: 'not_found' }),
});

router.get('/healthz', () => ({ status: 'alive' }));

router.get('/.well-known/oauth-protected-resource/:server/mcp', (request) => {
  const url = new URL(request.url);
  const server = request.params.server ?? '';
  if (!serverName.test(server)) return refusalOf({ kind: 'not_found' });
  return {
    resource: `${url.origin}/${server}/mcp`,
    bearer_methods_supported: ['header'],
    resource_name: server,
  };
});

router.all('/:server/mcp', (request, env, ctx) => {
  const server = request.params.server ?? '';
  if (!serverName.test(server)) return refusalOf({ kind: 'not_found' });
  if (!['GET', 'POST', 'DELETE'].includes(request.method)) {
    return refusalOf({ kind: 'method_not_allowed', allow: 'GET, POST, DELETE' });
  }
  const settings = settingsOf(env);
  if (!settings.ok) return misconfigured(settings.problems);
  return handleMcp({ request, env, ctx, settings: settings.settings, server });
});

export default { fetch: router.fetch } satisfies ExportedHandler<Env>;
