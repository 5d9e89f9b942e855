import { sourceOf } from '../../shared/protocol/body.ts';
import type { RequestId } from '../../shared/protocol/jsonrpc.ts';
import { oneLine } from '../upstream/lines.ts';

/**
 * The requests being POSTed to one session, by id, and the text of a request POSTed alone, for
 * its hop to the server: it goes on as it came, with no second serialisation, and a large
 * integer keeps its digits. The SDK's transport hands on a copy of the parsed body, after an
 * await, so the text is found again by the request's id: only while no other POST uses that id.
 */
export class PostedTexts {
  private readonly posting = new Map<RequestId, { count: number; text: string | undefined }>();

  /** `body`'s requests (`ids`) held until the returned release is called. */
  hold(body: unknown, ids: readonly RequestId[]): () => void {
    const text = Array.isArray(body) ? undefined : oneLine(sourceOf(body));
    for (const id of ids) {
      const entry = this.posting.get(id);
      // Two POSTs under one id at once: which text is whose cannot be told, so neither is used.
      if (entry) Object.assign(entry, { count: entry.count + 1, text: undefined });
      else this.posting.set(id, { count: 1, text });
    }
    return () => {
      for (const id of ids) {
        const entry = this.posting.get(id);
        if (entry && --entry.count === 0) this.posting.delete(id);
      }
    };
  }

  /** The text request `id` came in, once. */
  take(id: RequestId): string | undefined {
    const entry = this.posting.get(id);
    const text = entry?.text;
    if (entry) entry.text = undefined;
    return text;
  }
}
