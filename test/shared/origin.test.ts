import { describe, expect, it } from 'vitest';
import { checkOrigin, hostName, loopbackHosts } from '../../shared/security/origin.ts';

const local = { allowedHosts: [...loopbackHosts], allowedOrigins: [] };
const cluster = { allowedHosts: ['*'], allowedOrigins: ['https://inspector.example.com'] };

describe('origin policy', () => {
  it('reads host names with and without ports, IPv6 included', () => {
    expect(hostName('LocalHost:8080')).toBe('localhost');
    expect(hostName('[::1]:8080')).toBe('[::1]');
    expect(hostName('127.0.0.1')).toBe('127.0.0.1');
  });

  it('accepts non-browser clients on an allowed host', () => {
    expect(checkOrigin(local, '127.0.0.1:8080', undefined)).toBe('ok');
    expect(checkOrigin(local, '[::1]:8080', undefined)).toBe('ok');
  });

  it('refuses a rebinding attack: a foreign Host, whatever the Origin', () => {
    expect(checkOrigin(local, 'evil.example.com:8080', 'http://evil.example.com:8080')).toBe(
      'forbidden_host',
    );
    expect(checkOrigin(local, undefined, undefined)).toBe('forbidden_host');
  });

  it('refuses a foreign page on an allowed host, accepts its own origin', () => {
    expect(checkOrigin(local, 'localhost:8080', 'http://evil.example.com')).toBe('forbidden_origin');
    expect(checkOrigin(local, 'localhost:8080', 'http://127.0.0.1:8080')).toBe('ok');
    expect(checkOrigin(local, 'localhost:8080', 'null')).toBe('forbidden_origin');
  });

  it('with any host allowed, accepts only listed browser origins', () => {
    expect(checkOrigin(cluster, 'bridge.mcp.svc:8080', undefined)).toBe('ok');
    expect(checkOrigin(cluster, 'bridge.mcp.svc:8080', 'https://inspector.example.com')).toBe('ok');
    expect(checkOrigin(cluster, 'bridge.mcp.svc:8080', 'https://bridge.mcp.svc')).toBe('forbidden_origin');
  });
});
