/**
 * Resource URIs as the policy reads them. Two spellings of one resource must get one decision,
 * and a URI that a server could read differently from the policy gets none:
 * - scheme and authority compare in lower case, percent-escapes of unreserved characters are
 *   decoded and the rest upper-cased (RFC 3986 §6.2.2), characters beyond ASCII are escaped as
 *   UTF-8 (RFC 3987 §3.1);
 * - `file:/x` and `file://localhost/x` are `file:///x`;
 * - refused: dot segments (`.`, `..`), an empty segment (`//`) inside the path, escaped `/`, `\`
 *   or `%`, a backslash, control characters or spaces, a malformed escape, no scheme, user
 *   information or an empty port in the authority, a file URI with another host or a relative
 *   path, more than 4096 characters.
 * URI templates (`{name}`) pass through the same rules.
 */
export type CanonicalUri = { ok: true; uri: string } | { ok: false; why: string };

const maxUriLength = 4096;
const unreserved = /^[A-Za-z0-9\-._~]$/;
const schemePattern = /^([A-Za-z][A-Za-z0-9+.-]*):/;

const refused = (why: string): CanonicalUri => ({ ok: false, why });

export function canonicalUri(raw: string): CanonicalUri {
  if (raw.length > maxUriLength) return refused(`longer than ${maxUriLength} characters`);
  if ([...raw].some(isControlOrSpace) || raw.includes('\\')) {
    return refused('a control character, space or backslash');
  }
  const decoded = decodeUnreserved(raw);
  if (!decoded.ok) return decoded;
  const scheme = schemePattern.exec(decoded.uri)?.[1];
  if (scheme === undefined) return refused('no scheme');
  const lowerScheme = scheme.toLowerCase();
  const rest = decoded.uri.slice(scheme.length + 1);
  let authority = rest.startsWith('//') ? (/^\/\/[^/?#]*/.exec(rest)?.[0] ?? '//') : '';
  // user@host and host: (an empty port) name the host `host` to URL parsers, not to a pattern.
  if (authority.includes('@')) return refused('user information in the authority');
  if (authority.endsWith(':')) return refused('an empty port');
  const afterAuthority = rest.slice(authority.length);
  if (lowerScheme === 'file') {
    // file:/x, file://localhost/x and file:///x are one file.
    if (authority !== '' && authority.toLowerCase() !== '//localhost' && authority !== '//') {
      return refused('a file URI with a host');
    }
    if (!afterAuthority.startsWith('/')) return refused('a relative file path');
    authority = '//';
  }
  const pathEnd = afterAuthority.search(/[?#]/);
  const path = pathEnd === -1 ? afterAuthority : afterAuthority.slice(0, pathEnd);
  const segments = path.split('/');
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    return refused('a . or .. path segment');
  }
  // `a//b` is `a/b` to many file servers, and not to a pattern.
  if (segments.slice(1, -1).includes('')) return refused('an empty path segment (//)');
  return { ok: true, uri: `${lowerScheme}:${authority.toLowerCase()}${afterAuthority}` };
}

/**
 * What a deny is matched against: the canonical URI with its query and fragment removed (servers
 * that read files ignore them), escapes decoded, compatibility forms unified (NFKC: `ſ` is `s`,
 * `e` + combining accent is `é`) and case folded, so that no spelling a case-insensitive store
 * reads as the denied resource slips past. The full form is matched too.
 */
export function denyForms(canonical: string): string[] {
  const bare = canonical.replace(/[?#].*$/s, '');
  return [...new Set([canonical, bare].map(fold))];
}

/** A deny pattern in the form `denyForms` gives URIs (its `*` and `?` untouched). */
export function foldPattern(pattern: string): string {
  return fold(canonicalPattern(pattern));
}

function fold(text: string): string {
  let decoded = text;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    // escapes that are not UTF-8: compared as they are
  }
  return decoded.normalize('NFKC').toLowerCase();
}

/** `%7E` → `~`, `%2a` → `%2A`; an escaped `/`, `\`, `%` or control character is refused. */
function decodeUnreserved(raw: string): CanonicalUri {
  let out = '';
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw[i] as string;
    if (c.charCodeAt(0) > 0x7e) {
      // An IRI's `é` and a URI's `%C3%A9` are one resource to most servers: both become the latter.
      const encoded = utf8Escapes(raw, i);
      if (encoded === undefined) return refused('a lone surrogate');
      out += encoded.text;
      i += encoded.length - 1;
      continue;
    }
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return refused('a malformed percent-escape');
    const code = Number.parseInt(hex, 16);
    const char = String.fromCharCode(code);
    if (isControlOrSpace(char) || char === '/' || char === '\\' || char === '%') {
      return refused(`an escaped ${isControlOrSpace(char) ? 'control character or space' : char}`);
    }
    out += unreserved.test(char) ? char : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return { ok: true, uri: out };
}

/** The UTF-8 escapes of the code point at `i`, and how many UTF-16 units it took. */
function utf8Escapes(raw: string, i: number): { text: string; length: number } | undefined {
  const point = raw.codePointAt(i) ?? 0;
  const length = point > 0xffff ? 2 : 1;
  try {
    return { text: encodeURIComponent(raw.slice(i, i + length)), length };
  } catch {
    return undefined;
  }
}

function isControlOrSpace(char: string): boolean {
  const code = char.charCodeAt(0);
  return code <= 0x20 || code === 0x7f;
}

/** A rule's pattern in the same form as the URIs it is matched against (`*` alone stays `*`). */
export function canonicalPattern(pattern: string): string {
  const canonical = canonicalUri(pattern);
  if (canonical.ok) return canonical.uri;
  // A pattern without a scheme (`*secret*`) still gets its escapes in the URIs' form.
  const escapes = decodeUnreserved(pattern);
  return escapes.ok ? escapes.uri : pattern;
}
