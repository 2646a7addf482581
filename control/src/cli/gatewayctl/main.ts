/**
 * gatewayctl: the control plane CLI (contract "Commands"). Client commands talk to the admin
 * API; `serve` runs it. Exit codes: 0 done, 1 refused or failed, 2 usage or setup error.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs, str, UsageError } from './args.ts';
import { AdminClient, ApiUnreachable } from './client.ts';
import { apply, del, diff, Failure, get, historyCmd, rollback, status, type IO } from './commands.ts';
import { loadToken, tokenDigest } from '../../admin-api/auth.ts';

export const USAGE = `usage: gatewayctl COMMAND [options]

  apply -f FILE [--prune [--yes]] [--dry-run] [--revision N] [--wait [--timeout 30s]]
                      write the routes, upstreams and consumers of FILE (YAML or JSON, - for stdin)
                      in one transaction; --prune also deletes items of the kinds FILE contains
                      that FILE lacks (it lists them and asks first; --yes confirms without asking);
                      --revision N refuses if the config changed since N; --wait waits until every
                      live node serves the new revision and fails with the nodes' errors if one refuses it
  diff -f FILE [--prune]
                      what apply would change, item by item
  diff --revision REV what rollback REV would change
  get [KIND [NAME]] [-o table|yaml|json]
                      KIND is routes, upstreams or consumers; yaml/json print a document apply takes
  delete KIND NAME    delete one item (an upstream still used by a route is refused)
  status [--watch [--interval 1s]] [-o table|yaml|json]
                      every node: the revision it serves, the last one it refused, when it was last seen
                      (stale = alive in etcd but no heartbeat); --watch redraws until Ctrl-C
  history [-o table|yaml|json]
                      the recorded writes: revision, when, who (token name), what changed
  rollback REV [--dry-run] [--wait [--timeout 30s]]
                      make the config exactly what it was at revision REV, as a new revision
  token-digest        read a token on stdin, print the sha256:<hex> a --tokens-file line holds
  serve --etcd URL[,URL] [--prefix /gatehouse] [--listen 127.0.0.1:9180]
        [--token-file FILE] [--tokens-file FILE] [--history 50]
        [--body-limit BYTES] [--log-level info]
                      run the admin API

options for the client commands:
  --admin URL         admin API (default $GATEHOUSE_ADMIN_URL, else http://127.0.0.1:9180)
  --token-file FILE   file holding the token (default: the token in $GATEHOUSE_ADMIN_TOKEN)
  --version           print gatewayctl's version`;

const SPEC = {
  values: ['file', 'output', 'admin', 'token-file', 'tokens-file', 'etcd', 'prefix', 'listen', 'revision', 'body-limit', 'log-level', 'timeout', 'interval', 'history'],
  switches: ['prune', 'dry-run', 'help', 'wait', 'yes', 'watch', 'version'],
  short: { f: 'file', o: 'output', h: 'help', y: 'yes' },
};

export function version(): string {
  try {
    return String((JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0');
  } catch {
    return '0.0.0';
  }
}

export async function main(argv: string[], io: IO): Promise<number> {
  try {
    const p = parseArgs(argv, SPEC);
    const cmd = p._[0];
    if (p.flags.version || cmd === 'version') { io.out(`gatewayctl ${version()}`); return 0; }
    if (cmd === undefined || cmd === 'help' || p.flags.help) { (cmd === undefined && !p.flags.help ? io.err : io.out)(USAGE); return cmd === undefined && !p.flags.help ? 2 : 0; }
    // Loaded only for serve: the client commands need neither etcd nor the schema.
    if (cmd === 'serve') return await (await import('./serve.ts')).serve(p, io);
    if (cmd === 'token-digest') {
      const token = readFileSync(0, 'utf8').split(/\r?\n/)[0]?.trim() ?? '';
      if (token.length < 16) { io.err('gatewayctl: token-digest reads the token on stdin; at least 16 characters'); return 2; }
      io.out(tokenDigest(token));
      return 0;
    }
    const run = { apply, diff, get, delete: del, status, history: historyCmd, rollback }[cmd];
    if (!run) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    let token: string;
    try {
      token = loadToken({ tokenFile: str(p, 'token-file'), env: process.env }).token;
    } catch (err) {
      io.err(`gatewayctl: ${(err as Error).message}`);
      return 2;
    }
    const api = new AdminClient(str(p, 'admin') ?? process.env.GATEHOUSE_ADMIN_URL ?? 'http://127.0.0.1:9180', token);
    return await run(p, io, api);
  } catch (err) {
    if (err instanceof UsageError) { io.err(`gatewayctl: ${err.message}\n\n${USAGE}`); return 2; }
    if (err instanceof ApiUnreachable || err instanceof Failure) { io.err(`gatewayctl: ${err.message}`); return 1; }
    throw err;
  }
}

// `gatewayctl get | head`: once the reader is gone, stop quietly instead of crashing on EPIPE.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const io: IO = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  tty: process.stdout.isTTY === true,
  raw: (s) => process.stdout.write(s),
  ...(process.stdin.isTTY ? {
    confirm: async (q: string) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try { return /^y(es)?$/i.test((await rl.question(q)).trim()); } finally { rl.close(); }
    },
  } : {}),
};

main(process.argv.slice(2), io).then((code) => { process.exitCode = code; }, (err: unknown) => {
  io.err(`gatewayctl: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
