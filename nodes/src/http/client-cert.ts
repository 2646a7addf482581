/**
 * Client certificates (mTLS) as the pipeline sees them. The TLS listener decides once per
 * connection, at the handshake, and stores the verdict on the socket; a request reads it
 * with one property lookup (HTTP/2 requests reach the connection's socket through Node's
 * socket proxy).
 */
import type { TLSSocket } from 'node:tls';

export interface ClientCert {
  /** Subject as RFC 4514-like text: `CN=alice,O=Example`. */
  subject: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex (as OpenSSL prints it). */
  fingerprint: string;
}

/** verified: a certificate chained to clientCa; refused: the request gets a 401; none: no certificate, allowed. */
export type ClientCertVerdict = { state: 'verified'; cert: ClientCert } | { state: 'refused'; reason: string } | { state: 'none' };

export const CLIENT_CERT = Symbol.for('gatehouse.clientCert');

/** Identity headers the upstream can trust (client copies are always dropped: x-authenticated-*). */
export const H_CERT_SUBJECT = 'x-authenticated-client-subject';
export const H_CERT_FINGERPRINT = 'x-authenticated-client-fingerprint';

export type ClientAuthMode = 'handshake' | 'http' | 'optional';

/** Called once per TLS connection after the handshake. */
export function judgeClientCert(sock: TLSSocket, mode: ClientAuthMode): ClientCertVerdict {
  const peer = sock.getPeerCertificate();
  const has = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
  if (!has) return mode === 'optional' ? { state: 'none' } : { state: 'refused', reason: 'A client certificate is required' };
  if (!sock.authorized) return { state: 'refused', reason: 'The client certificate is not trusted' };
  return { state: 'verified', cert: { subject: subjectText(peer.subject as unknown as Record<string, string | string[]>), fingerprint: peer.fingerprint256 } };
}

function subjectText(s: Record<string, string | string[]> | undefined): string {
  if (!s) return '';
  const parts: string[] = [];
  for (const k of ['CN', 'OU', 'O', 'L', 'ST', 'C']) {
    const v = s[k];
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) parts.push(`${k}=${escapeRdn(one)}`);
  }
  return parts.join(',');
}

/** RFC 4514 escapes, and no control characters (the value becomes a header). */
function escapeRdn(v: string): string {
  return v.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The verdict for a request, or undefined when it did not come over the TLS listener with clientCa. */
export function clientCertOf(socket: object | null): ClientCertVerdict | undefined {
  return socket === null ? undefined : (socket as { [CLIENT_CERT]?: ClientCertVerdict })[CLIENT_CERT];
}
