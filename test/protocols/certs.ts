/**
 * Throwaway PKI for the protocol tests, made with the openssl CLI: a CA, server
 * certificates with chosen names (SAN), client certificates signed by a client CA.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Pki { dir: string; file(name: string): string; cleanup(): void }

function ossl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

export function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-pki-'));
  return { dir, file: (n) => path.join(dir, n), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A self-signed CA: `<name>.pem`, `<name>-key.pem`. */
export function makeCa(pki: Pki, name: string): void {
  ossl(pki.dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`]);
}

/** A leaf signed by `ca`: `<name>.pem`, `<name>-key.pem`. `sans` like ['DNS:a.test']; empty = CN only. */
export function makeLeaf(pki: Pki, ca: string, name: string, subject: string, sans: string[], usage: 'serverAuth' | 'clientAuth' = 'serverAuth'): void {
  ossl(pki.dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subject, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`]);
  const ext = [`extendedKeyUsage=${usage}`, ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : [])].join('\n');
  fs.writeFileSync(path.join(pki.dir, `${name}.ext`), ext + '\n');
  ossl(pki.dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

/** SHA-256 fingerprint of a PEM certificate as openssl prints it (AA:BB:...). */
export function fingerprint(pki: Pki, name: string): string {
  const out = execFileSync('openssl', ['x509', '-in', `${name}.pem`, '-noout', '-fingerprint', '-sha256'], { cwd: pki.dir, encoding: 'utf8' });
  return out.trim().split('=')[1]!;
}

/** A self-signed certificate for localhost and 127.0.0.1, read into memory; its files are gone. */
export function selfSignedLocalhost(): { key: Buffer; cert: Buffer } {
  const pki = makePki();
  try {
    ossl(pki.dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
    return { key: fs.readFileSync(pki.file('key.pem')), cert: fs.readFileSync(pki.file('cert.pem')) };
  } finally {
    pki.cleanup();
  }
}
