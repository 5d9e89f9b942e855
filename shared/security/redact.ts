/**
 * What a server printed, made fit to show a client or write to a log: credentials in URLs,
 * bearer tokens, `name=value` pairs whose name says secret, and long opaque strings are masked.
 * A best effort for text we did not write; the bridge still never passes its secrets to children.
 */
const rules: [RegExp, string][] = [
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@'],
  [/\b(bearer|basic)\s+[\w~+/.=-]+/gi, '$1 ***'],
  [
    /\b([\w-]*(?:token|secret|passw(?:or)?d|api[_-]?key|credential)[\w-]*)(\s*[=:]\s*)("?)[^\s"',;&]+/gi,
    '$1$2$3***',
  ],
  [/[A-Za-z0-9+/_-]{32,}={0,2}/g, '***'],
];

export function redact(text: string): string {
  return rules.reduce((out, [pattern, mask]) => out.replace(pattern, mask), text);
}
