/**
 * How a portal names what its member servers offer, so that nothing of two members can collide,
 * and so that the member and its own name are read back from the name alone (no lookup table,
 * which would have to live somewhere and stay in step):
 * - tools and prompts: `<member>__<name>`. A member name has no `_` (`[a-z0-9][a-z0-9-]*`), so
 *   the first `__` ends it, and the result keeps to the tool-name characters of the MCP spec
 *   (`A-Z a-z 0-9 _ - .`) whenever the member's own name does;
 * - resource URIs and URI templates: `portal://<member>/<uri>`, a URI (and a template) whatever
 *   the member's scheme, with the member as its authority.
 * A portal may serve one member's names as they are (`unprefixed`), so that it can replace that
 * server's own URL without renaming what clients and prompts already use. That member's names
 * are prefixed only where they would read as another member's (a name with `__`, a `portal://`
 * URI); everything else that reads as no member's is that member's.
 */

/** Where a portal is served, at the edge and at the bridge. */
export const portalPath = '/mcp';

const separator = '__';
const uriPrefix = 'portal://';
const memberName = /^[a-z0-9][a-z0-9-]{0,62}$/;

export type Named = { member: string; name: string };

export function namespaced(member: string, name: string): string {
  return `${member}${separator}${name}`;
}

/** The member and its own name; undefined for a name no member gave. */
export function memberOf(name: string): Named | undefined {
  const at = name.indexOf(separator);
  if (at < 1) return undefined;
  const member = name.slice(0, at);
  const own = name.slice(at + separator.length);
  return memberName.test(member) && own !== '' ? { member, name: own } : undefined;
}

export function namespacedUri(member: string, uri: string): string {
  return `${uriPrefix}${member}/${uri}`;
}

/** The member and its own URI (or template); undefined for a URI no member gave. */
export function memberOfUri(uri: string): Named | undefined {
  if (!uri.startsWith(uriPrefix)) return undefined;
  const rest = uri.slice(uriPrefix.length);
  const slash = rest.indexOf('/');
  if (slash < 1) return undefined;
  const member = rest.slice(0, slash);
  const own = rest.slice(slash + 1);
  return memberName.test(member) && own !== '' ? { member, name: own } : undefined;
}

export function isMemberName(name: string): boolean {
  return memberName.test(name);
}

/** How one portal names its members' tools, prompts and resources, and reads the names back. */
export interface Naming {
  /** The member whose own names are served as they are, if any. */
  readonly unprefixed: string | undefined;
  name(member: string, own: string): string;
  uri(member: string, own: string): string;
  ofName(name: string): Named | undefined;
  ofUri(uri: string): Named | undefined;
}

export function naming(unprefixed?: string): Naming {
  if (unprefixed === undefined) {
    return { unprefixed, name: namespaced, uri: namespacedUri, ofName: memberOf, ofUri: memberOfUri };
  }
  const plain = (own: string): Named => ({ member: unprefixed, name: own });
  return {
    unprefixed,
    name: (member, own) =>
      member === unprefixed && memberOf(own) === undefined ? own : namespaced(member, own),
    uri: (member, own) =>
      member === unprefixed && memberOfUri(own) === undefined ? own : namespacedUri(member, own),
    ofName: (name) => memberOf(name) ?? (name === '' ? undefined : plain(name)),
    ofUri: (uri) => memberOfUri(uri) ?? (uri === '' ? undefined : plain(uri)),
  };
}

/** Every member's names prefixed: the portal at `/mcp`, and a named portal that says nothing else. */
export const prefixed = naming();
