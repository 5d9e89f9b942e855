import { base64url, fromBase64url } from './base64url.ts';

/**
 * Authenticated encryption (AES-256-GCM) for what must be stored or carried but not read by
 * whoever holds it: a person's upstream tokens at rest in KV, the connect page's cookie, and a
 * token on its way to the bridge. Each use has a key of its own, derived (HKDF-SHA256) from a
 * secret and the use's name, and each sealed value is bound to its context (the AES-GCM
 * additional data): a value moved to another KV key or another request does not open.
 * Runtime-neutral: WebCrypto is the same in workerd and in Node.
 */

type AesKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ivBytes = 12;

/** What each key is for: one key per use, never shared between them. */
export type SealingUse = 'upstream-tokens' | 'connect-cookie' | 'bridge-credential' | 'approval-state';

const derived = new Map<string, Promise<AesKey>>();

/** The key for one use of one secret, derived once per isolate (or bridge). */
export function sealingKey(secret: string, use: SealingUse): Promise<AesKey> {
  const id = `${use}:${secret}`;
  let key = derived.get(id);
  if (key === undefined) {
    if (derived.size >= 16) derived.clear();
    key = derive(secret, use);
    derived.set(id, key);
  }
  return key;
}

async function derive(secret: string, use: SealingUse): Promise<AesKey> {
  const material = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: encoder.encode('mcp-edge-gateway'),
      info: encoder.encode(`mcp-edge-gateway/${use}/v1`),
    },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** The text, encrypted and bound to `context`: base64url of a random IV and the ciphertext. */
export async function seal(key: AesKey, text: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(ivBytes));
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(context) },
    key,
    encoder.encode(text),
  );
  const out = new Uint8Array(ivBytes + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), ivBytes);
  return base64url(out);
}

/** The text sealed for this context, or undefined: altered, another key's, or another context's. */
export async function unseal(key: AesKey, sealed: string, context: string): Promise<string | undefined> {
  const bytes = sealed.length <= 64 * 1024 ? fromBase64url(sealed) : undefined;
  if (bytes === undefined || bytes.length <= ivBytes) return undefined;
  try {
    const text = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.slice(0, ivBytes), additionalData: encoder.encode(context) },
      key,
      bytes.slice(ivBytes),
    );
    return decoder.decode(text);
  } catch {
    return undefined;
  }
}
