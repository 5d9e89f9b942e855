import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { StdioDelivery } from '../config.ts';
import type { IssuedToken } from './exchange.ts';

type Delivery = StdioDelivery;

/**
 * One upstream's credential of one person: the `Authorization` of an HTTP upstream's requests,
 * or, for a stdio child, the variables it starts with and the files they name (the token, a
 * kubeconfig), private to the bridge's user and rewritten whole before the token expires.
 */
export class Credential {
  readonly subject: string;
  private token: IssuedToken;
  private readonly delivery: Delivery | undefined;
  private dir: string | undefined;

  constructor(subject: string, token: IssuedToken, delivery?: Delivery) {
    this.subject = subject;
    this.token = token;
    this.delivery = delivery;
  }

  /** The server refused the token (401): the next request gets a new one, whatever its expiry said. */
  private refused = false;

  /** The token it holds now: whether it is still fresh is the exchange's to say. */
  get current(): IssuedToken {
    return this.token;
  }

  get stale(): boolean {
    return this.refused;
  }

  refusedByServer(): void {
    this.refused = true;
  }

  authorization(): string {
    return `Bearer ${this.token.value}`;
  }

  /** What a stdio child starts with: the variables the config names, its files written first. */
  env(): Record<string, string> {
    const d = this.delivery;
    if (d === undefined) return {};
    this.write();
    const env: Record<string, string> = {};
    if (d.tokenEnv !== undefined) env[d.tokenEnv] = this.token.value;
    if (d.tokenFileEnv !== undefined) env[d.tokenFileEnv] = this.file('token');
    if (d.kubeconfig !== undefined) env[d.kubeconfig.env] = this.file('kubeconfig');
    return env;
  }

  /** A newer token of the same person: what the next request uses, the files first. */
  renew(token: IssuedToken): void {
    this.token = token;
    this.refused = false;
    if (this.dir !== undefined) this.write();
  }

  close(): void {
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  private file(name: string): string {
    this.dir ??= mkdtempSync(join(tmpdir(), 'mcp-identity-'));
    return join(this.dir, name);
  }

  private write(): void {
    const d = this.delivery;
    if (d?.tokenFileEnv !== undefined) replace(this.file('token'), this.token.value);
    if (d?.kubeconfig !== undefined) replace(this.file('kubeconfig'), this.kubeconfig(d.kubeconfig));
  }

  private kubeconfig(k: NonNullable<Delivery['kubeconfig']>): string {
    const cluster = {
      server: k.server,
      ...(k.certificateAuthority ? { 'certificate-authority': k.certificateAuthority } : {}),
    };
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'upstream', cluster }],
      users: [{ name: 'caller', user: { token: this.token.value } }],
      contexts: [{ name: 'upstream', context: { cluster: 'upstream', user: 'caller' } }],
      'current-context': 'upstream',
    });
  }
}

/** Written beside, then renamed over: a reader sees the old file or the new one, never half of one. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.next`, text, { mode: 0o600 });
  renameSync(`${path}.next`, path);
}
