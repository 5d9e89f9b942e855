import { type JSONRPCMessage, paramsOf } from '../../shared/protocol/jsonrpc.ts';
import { type ParamHeaders, paramHeaderMismatch, paramHeadersOf } from '../../shared/protocol/revision.ts';

const ttlMs = 60_000;

/**
 * SEP-2243: arguments a tool marks `x-mcp-header` travel in `Mcp-Param-*` headers too, for
 * intermediaries to route on; a server refuses a call whose headers and arguments disagree.
 * The marks come from the server's tool list: learned from lists that pass by, else asked for,
 * once a minute at most and one listing at a time. A failed listing keeps the last marks.
 */
export class ParamHeaderChecks<Asker = undefined> {
  private known: { tools: ParamHeaders; at: number } | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly list: (asker: Asker) => Promise<Record<string, unknown> | undefined>;

  /** `list`: the server's complete tool list, asked for `asker`, or undefined when it could not be had. */
  constructor(list: (asker: Asker) => Promise<Record<string, unknown> | undefined>) {
    this.list = list;
  }

  /** Why a `tools/call` is refused, or undefined when its headers agree with its arguments. */
  async mismatch(headers: Headers, call: JSONRPCMessage, asker: Asker): Promise<string | undefined> {
    if (this.known === undefined || Date.now() - this.known.at > ttlMs) {
      this.refreshing ??= this.refresh(asker).finally(() => {
        this.refreshing = undefined;
      });
      await this.refreshing;
    }
    const params = paramsOf(call);
    const declared = this.known?.tools.get(String(params?.name));
    const args = params?.arguments as Record<string, unknown> | undefined;
    return paramHeaderMismatch(declared, args, (name) => headers.get(name) ?? undefined);
  }

  learn(listed: Record<string, unknown>): void {
    this.known = { tools: paramHeadersOf(listed), at: Date.now() };
  }

  private async refresh(asker: Asker): Promise<void> {
    const listed = await this.list(asker);
    if (listed !== undefined) this.learn(listed);
    else this.known = { tools: this.known?.tools ?? new Map(), at: Date.now() };
  }
}
