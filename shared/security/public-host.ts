/**
 * Whether a URL's host may be fetched on a client's say-so (a client metadata document): not
 * a loopback, private, link-local, shared or reserved address, nor a name that only resolves
 * inside a network. Names are checked as written; in production the Worker's
 * `global_fetch_strictly_public` flag also refuses what a public name resolves to.
 */
export function isPublicHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('[')) return publicV6(host.slice(1, -1));
  const v4 = ipv4(host);
  if (v4 !== undefined) return publicV4(v4);
  if (!host.includes('.')) return false;
  return !internalSuffixes.some((suffix) => host === suffix || host.endsWith(`.${suffix}`));
}

const internalSuffixes = [
  'localhost',
  'local',
  'internal',
  'intranet',
  'lan',
  'home.arpa',
  'corp',
  'test',
  'invalid',
  'example',
  'onion',
];

function ipv4(host: string): number[] | undefined {
  const parts = host.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return undefined;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** [first octet, second octet range] of every non-public IPv4 block (RFC 6890 and friends). */
const privateV4: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 255],
  [10, 0, 255],
  [100, 64, 127],
  [127, 0, 255],
  [169, 254, 254],
  [172, 16, 31],
  [192, 168, 168],
  [198, 18, 19],
];

function publicV4([a = 0, b = 0, c = 0]: number[]): boolean {
  if (a >= 224) return false;
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return false;
  if ((a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)) return false;
  return !privateV4.some(([first, low, high]) => a === first && b >= low && b <= high);
}

function publicV6(host: string): boolean {
  if (host === '::' || host === '::1') return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1];
  if (mapped !== undefined) return publicV4(ipv4(mapped) ?? [0]);
  if (/^::ffff:/.test(host)) return false;
  const first = Number.parseInt(host.split(':')[0] || '0', 16);
  // fc00::/7 unique local, fe80::/10 link-local, ff00::/8 multicast, 2001:db8::/32 documentation.
  if ((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00) return false;
  if (host.startsWith('2001:db8:') || host.startsWith('64:ff9b:')) return false;
  return first !== 0;
}
