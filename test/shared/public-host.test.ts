import { describe, expect, it } from 'vitest';
import { isPublicHost } from '../../shared/security/public-host.ts';

/** Hosts as `new URL(clientId).hostname` gives them: the WHATWG parser has already normalised them. */
const hostOf = (url: string) => new URL(url).hostname;

describe('which hosts a client metadata document may come from', () => {
  it('refuses loopback, private, link-local, shared, reserved and internal names', () => {
    for (const url of [
      'https://127.0.0.1/c',
      'https://127.1.2.3/c',
      'https://2130706433/c',
      'https://0x7f000001/c',
      'https://10.0.0.8/c',
      'https://172.16.0.1/c',
      'https://172.31.255.255/c',
      'https://192.168.1.1/c',
      'https://169.254.169.254/c',
      'https://100.64.0.1/c',
      'https://0.0.0.0/c',
      'https://224.0.0.1/c',
      'https://255.255.255.255/c',
      'https://[::1]/c',
      'https://[::]/c',
      'https://[::ffff:127.0.0.1]/c',
      'https://[::ffff:10.0.0.1]/c',
      'https://[fd00::1]/c',
      'https://[fe80::1]/c',
      'https://localhost/c',
      'https://api.localhost/c',
      'https://printer.local/c',
      'https://metadata.google.internal/c',
      'https://intranet/c',
      'https://router.home.arpa/c',
    ]) {
      expect(isPublicHost(hostOf(url)), url).toBe(false);
    }
  });

  it('accepts public addresses and names', () => {
    for (const url of [
      'https://claude.ai/oauth/client.json',
      'https://vscode.dev/client',
      'https://8.8.8.8/c',
      'https://172.32.0.1/c',
      'https://192.169.0.1/c',
      'https://[2606:4700:4700::1111]/c',
    ]) {
      expect(isPublicHost(hostOf(url)), url).toBe(true);
    }
  });
});
