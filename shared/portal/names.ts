/**
 * How a portal names what its member servers offer, so that nothing of two members can collide,
 * and so that the member and its own name are read back from the name alone (no lookup table,
 * which would have to live somewhere and stay in step):
 * - tools and prompts: `<member>__<name>`. A member name has no `_` (`[a-z0-9][a-z0-9-]*`), so
 *   the first `__` ends it, and the result keeps to the tool-name characters of the MCP spec
 *   (`A-Z a-z 0-9 _ - .`) whenever the member's own name does;
 * - resource URIs and URI templates: `portal://<member>/<uri>`, a URI (and a template) whatever
 *   the member's scheme, with the member as its authority.
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
