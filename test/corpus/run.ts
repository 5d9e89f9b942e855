import type { Case } from '../../scripts/corpus.ts';

/** What one corpus case got back, and whether it was a clear answer. */
export interface Outcome {
  family: string;
  name: string;
  status: number | 'hang' | 'threw';
  clear: boolean;
  detail: string;
}

export function bodyOf(c: Case): string | Uint8Array | undefined {
  if (c.bodyRepeat)
    return c.bodyRepeat.prefix + c.bodyRepeat.text.repeat(c.bodyRepeat.times) + c.bodyRepeat.suffix;
  if (c.bodyBase64 !== undefined) return Uint8Array.from(atob(c.bodyBase64), (ch) => ch.charCodeAt(0));
  return c.body;
}

/** A clear error: a 4xx with a JSON-RPC error that says something, or a normal MCP answer. */
function clearAnswer(status: number, contentType: string, text: string, method: string): boolean {
  if (status >= 500) return false;
  if (status === 202 || status === 204 || method === 'HEAD' || method === 'OPTIONS') return true;
  if (method === 'DELETE' && status < 300) return true;
  // A stream that opened: a standing GET stream may start with a comment, not an event.
  if (contentType.includes('text/event-stream')) return status === 200;
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown }; result?: unknown };
    if (status >= 400) return typeof body.error?.message === 'string' && body.error.message.length > 0;
    return body.error !== undefined || body.result !== undefined;
  } catch {
    return false;
  }
}

/** A stream's first chunk (a standing SSE stream never ends), or a whole body. */
async function firstText(response: Response): Promise<string> {
  if (!(response.headers.get('content-type') ?? '').includes('text/event-stream')) return response.text();
  const reader = response.body?.getReader();
  const first = await reader?.read();
  await reader?.cancel();
  return first?.value ? new TextDecoder().decode(first.value) : '';
}

/** Runs every case through `send`, each bounded in time, and says what each got. */
export async function runCorpus(
  cases: Case[],
  send: (c: Case) => Promise<Response>,
  timeoutMs = 10_000,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const c of cases) {
    const method = c.method ?? 'POST';
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<'hang'>((resolve) => {
      timer = setTimeout(() => resolve('hang'), timeoutMs);
    });
    try {
      const answer = await Promise.race([send(c).then(async (r) => ({ r, text: await firstText(r) })), hang]);
      if (answer === 'hang') {
        outcomes.push({ family: c.family, name: c.name, status: 'hang', clear: false, detail: '' });
        continue;
      }
      const contentType = answer.r.headers.get('content-type') ?? '';
      const clear = clearAnswer(answer.r.status, contentType, answer.text, method);
      outcomes.push({
        family: c.family,
        name: c.name,
        status: answer.r.status,
        clear,
        detail: answer.text.slice(0, 200),
      });
    } catch (error) {
      outcomes.push({
        family: c.family,
        name: c.name,
        status: 'threw',
        clear: false,
        detail: String(error).slice(0, 200),
      });
    } finally {
      clearTimeout(timer);
    }
  }
  return outcomes;
}

export function summary(where: string, outcomes: Outcome[], leaked?: number): string {
  const crashes = outcomes.filter(
    (o) => o.status === 'threw' || (typeof o.status === 'number' && o.status >= 500),
  );
  const hangs = outcomes.filter((o) => o.status === 'hang');
  const unclear = outcomes.filter((o) => !o.clear);
  const leaks = leaked === undefined ? '' : `, ${leaked} denied calls reached the upstream`;
  return `${where}: ${outcomes.length} cases, ${crashes.length} crashes, ${hangs.length} hangs${leaks}, ${unclear.length} answers that were not a clear error`;
}
