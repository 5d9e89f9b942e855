import type { ConsentDescription, ConsentTransaction } from '@cloudflare/workers-oauth-provider';

/** Every string here may come from a client's metadata: always escaped. */
export function html(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

// No form-action: Allow redirects on to the identity provider, which browsers check against it.
const security = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

const style = `<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; padding: 0 1rem; color: #1d1d1f; }
.warn { background: #fff4e5; padding: .6rem .8rem; border-radius: 6px; }
button { font: inherit; padding: .4rem 1.2rem; margin-right: .6rem; }
</style>`;

function who(details: ConsentDescription): string {
  if (details.clientDomain !== undefined) {
    return `Published by <strong data-client-domain>${html(details.clientDomain)}</strong>.`;
  }
  return 'This app registered itself: its name is not verified.';
}

/** The page that asks a person whether this app may use this MCP server in their name. */
export function consentPage(
  details: ConsentDescription,
  server: string,
  consent: ConsentTransaction,
): Response {
  const name = html(details.clientName);
  const local = details.redirectIsLoopback
    ? '<p class="warn">Access goes to an app on your own computer. Continue only if you just started signing in from it.</p>'
    : '';
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Allow ${name}?</title>${style}</head>
<body>
<h1>Allow <span data-client-name>${name}</span> to use <span data-server>${html(server)}</span>?</h1>
<p>${who(details)} Access will be sent to <strong data-redirect-host>${html(details.redirectHost)}</strong>.</p>
${local}
<p>It will be able to list and call the tools of the MCP server <strong>${html(server)}</strong> that you may use, as you. Next, you sign in with your organisation’s account.</p>
<form method="post">
<input type="hidden" name="handle" value="${html(consent.handle)}">
<button name="decision" value="allow">Allow</button><button name="decision" value="deny">Deny</button>
</form>
</body></html>`;
  const headers = new Headers(consent.headers);
  for (const [header, value] of Object.entries(security)) headers.set(header, value);
  return new Response(body, { headers });
}

/** A plain page for a person: errors that may not go back to the client. */
export function errorPage(status: number, message: string, title = 'Sign-in stopped'): Response {
  return htmlPage(status, title, `<p data-error>${html(message)}</p>`);
}

/** A page of the gateway's own, with its security headers: `body` is HTML, its text already escaped. */
export function htmlPage(status: number, title: string, body: string, headers: HeadersInit = {}): Response {
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title>${style}</head>
<body><h1>${html(title)}</h1>${body}</body></html>`;
  const all = new Headers(headers);
  for (const [header, value] of Object.entries(security)) all.set(header, value);
  return new Response(page, { status, headers: all });
}
