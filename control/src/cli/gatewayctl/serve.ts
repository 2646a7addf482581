/**
 * `gatewayctl serve --etcd URL[,URL] [--prefix /gatehouse] [--listen 127.0.0.1:9180]
 * [--token-file FILE]`: runs the admin API until SIGINT / SIGTERM. Refuses to start without a
 * token; binds loopback unless told otherwise, and says so loudly when told otherwise (the
 * API speaks plain HTTP: anything beyond this host belongs behind TLS).
 */
import { readFileSync } from 'node:fs';
import { loadToken, parseTokensFile, type TokensFile } from '../../admin-api/auth.ts';
import { DEFAULT_BODY_LIMIT } from '../../admin-api/body.ts';
import { str, UsageError, type Parsed } from './args.ts';
import type { IO } from './commands.ts';

export const DEFAULT_LISTEN = '127.0.0.1:9180';

export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(s) ?? /^()()([0-9]{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new UsageError(`--listen must be host:port (like ${DEFAULT_LISTEN}), not ${JSON.stringify(s)}`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export async function serve(p: Parsed, io: IO): Promise<number> {
  const etcd = str(p, 'etcd');
  if (!etcd) throw new UsageError('serve needs --etcd URL[,URL]');
  const endpoints = etcd.split(',').map((s) => s.trim()).filter(Boolean);
  const prefix = str(p, 'prefix') ?? '/gatehouse';
  if (!prefix.startsWith('/')) throw new UsageError('--prefix must start with /');
  const { host, port } = parseListen(str(p, 'listen') ?? DEFAULT_LISTEN);
  const limitRaw = str(p, 'body-limit');
  const bodyLimit = limitRaw === undefined ? DEFAULT_BODY_LIMIT : Number(limitRaw);
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) throw new UsageError('--body-limit must be a number of bytes, at least 1024');
  const historyRaw = str(p, 'history');
  const historyLimit = historyRaw === undefined ? undefined : Number(historyRaw);
  if (historyLimit !== undefined && (!Number.isInteger(historyLimit) || historyLimit < 1 || historyLimit > 10_000)) throw new UsageError('--history must be a number of entries, 1 to 10000');
  // --tokens-file (named tokens with roles), --token-file / $GATEHOUSE_ADMIN_TOKEN (one admin token), or both.
  const tokensFile = str(p, 'tokens-file');
  let tokens: TokensFile | undefined;
  let token: ReturnType<typeof loadToken> | undefined;
  try {
    if (tokensFile) {
      let text: string;
      try { text = readFileSync(tokensFile, 'utf8'); } catch (err) { throw new Error(`cannot read tokens file ${tokensFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err }); }
      tokens = parseTokensFile(text, tokensFile);
    }
    if (!tokens || str(p, 'token-file') || process.env.GATEHOUSE_ADMIN_TOKEN) token = loadToken({ tokenFile: str(p, 'token-file'), env: process.env });
  } catch (err) {
    io.err(`gatewayctl serve: refusing to start: ${(err as Error).message}`);
    return 2;
  }
  // Loaded once the arguments are good: a refusal answers at once.
  const [{ default: pino }, { createAdminServer, listen }, { createStoreClient }, { ConfigStore }] = await Promise.all([
    import('pino'), import('../../admin-api/server.ts'), import('../../store/client.ts'), import('../../store/config-store.ts'),
  ]);
  const level = str(p, 'log-level') ?? 'info';
  const logger = pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
  for (const w of token?.warnings ?? []) logger.warn(w);
  const client = createStoreClient(endpoints);
  const store = new ConfigStore(client, prefix, historyLimit !== undefined ? { historyLimit } : {});
  const server = createAdminServer({ store, token: token?.token, tokens, bodyLimit, logger });
  let admin: Awaited<ReturnType<typeof listen>>;
  try {
    admin = await listen(server, host, port);
  } catch (err) {
    client.close();
    io.err(`gatewayctl serve: cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return 1;
  }
  if (!isLoopback(host)) {
    logger.warn({ listen: `${host}:${port}` }, 'admin API listens beyond loopback: it speaks plain HTTP, so put it behind TLS and a firewall; the token is all that guards every route');
  }
  logger.info({ url: admin.url, etcd: endpoints, prefix, token: token?.from, tokens: tokens?.identities.map((t) => `${t.name} (${t.role}${t.prefix !== undefined ? `, ${t.prefix}*` : ''})`) }, `admin API listening on ${admin.url}`);
  store.read().then(
    (s) => logger.info({ revision: s.revision }, 'etcd reachable'),
    (err: Error) => logger.warn({ err: err.message }, 'etcd not reachable yet; requests answer 503 until it is'),
  );
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  logger.info({ signal }, 'admin API shutting down');
  await admin.close();
  client.close();
  return 0;
}
