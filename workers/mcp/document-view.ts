import {
  filterDiscoverResult,
  filterListResult,
  isFilteredList,
  mayDeliver,
} from '../../shared/policy/gate.ts';
import { filterListText } from '../../shared/policy/list-text.ts';
import { loadDocument } from '../documents.ts';
import { namedTools, observeList } from './listed.ts';
import type { McpRequest, Passage } from './passage.ts';
import type { View } from './view.ts';

/** One server's answers, read by its document: the one in force, followed when it changes. */
export function documentView(x: McpRequest, passage: Passage): View {
  let known = JSON.stringify(passage.doc);
  return {
    mayDeliver: (message) => mayDeliver(passage.doc, passage.principal, message),
    filtered(method, result) {
      if (method === 'server/discover') return filterDiscoverResult(passage.doc, passage.principal, result);
      if (!isFilteredList(method)) return undefined;
      if (method === 'tools/list' && Array.isArray(result.tools))
        observeList(x, passage, passage.doc, () => namedTools(result));
      return filterListResult(passage.doc, passage.principal, method, result);
    },
    filteredText(method, text) {
      const filtered = filterListText(passage.doc, passage.principal, method, text);
      if (filtered === undefined) return undefined;
      if (method === 'tools/list') observeList(x, passage, passage.doc, filtered.listed);
      return filtered.spliced;
    },
    async changed() {
      const loaded = await loadDocument(x.env.GATEWAY_KV, x.server, x.settings.DOCUMENT_CACHE_SECONDS);
      const now = JSON.stringify(loaded.ok ? loaded.document : null);
      if (now === known) return false;
      known = now;
      // What the stream still carries is filtered by the document in force, not the one it opened under.
      if (loaded.ok) passage.doc = loaded.document;
      return true;
    },
  };
}
