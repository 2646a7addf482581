/**
 * gatewayctl: the control plane CLI (contract "Commands"). Client commands talk to the admin
 * API; `serve` runs it. Exit codes: 0 done, 1 refused or failed, 2 usage or setup error.
 */
import { parseArgs, str, UsageError } from './args.ts';
import { AdminClient, ApiUnreachable } from './client.ts';
import { apply, del, diff, Failure, get, status, type IO } from './commands.ts';
import { loadToken } from '../../admin-api/auth.ts';

export const USAGE = `usage: gatewayctl COMMAND [options]

  apply -f FILE [--prune] [--dry-run] [--revision N]
                      write the routes, upstreams and consumers of FILE (YAML or JSON, - for stdin)
                      in one transaction; --prune also deletes items of the kinds FILE contains
                      that FILE lacks; --revision N refuses if the config changed since N
  diff -f FILE [--prune]
                      what apply would change, item by item
  get [KIND [NAME]] [-o table|yaml|json]
                      KIND is routes, upstreams or consumers; yaml/json print a document apply takes
  delete KIND NAME    delete one item (an upstream still used by a route is refused)
  status [-o table|yaml|json]
                      every node with the config revision it serves, and whether it is behind
  serve --etcd URL[,URL] [--prefix /gatehouse] [--listen 127.0.0.1:9180] [--token-file FILE]
        [--body-limit BYTES] [--log-level info]
                      run the admin API

options for the client commands:
  --admin URL         admin API (default $GATEHOUSE_ADMIN_URL or http://127.0.0.1:9180)
  --token-file FILE   file holding the admin token (default $GATEHOUSE_ADMIN_TOKEN)`;

const SPEC = {
  values: ['file', 'output', 'admin', 'token-file', 'etcd', 'prefix', 'listen', 'revision', 'body-limit', 'log-level'],
  switches: ['prune', 'dry-run', 'help'],
  short: { f: 'file', o: 'output', h: 'help' },
};

export async function main(argv: string[], io: IO): Promise<number> {
  try {
    const p = parseArgs(argv, SPEC);
    const cmd = p._[0];
    if (cmd === undefined || cmd === 'help' || p.flags.help) { (cmd === undefined && !p.flags.help ? io.err : io.out)(USAGE); return cmd === undefined && !p.flags.help ? 2 : 0; }
    // Loaded only for serve: the client commands need neither etcd nor the schema.
    if (cmd === 'serve') return await (await import('./serve.ts')).serve(p, io);
    const run = { apply, diff, get, delete: del, status }[cmd];
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

const io: IO = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) };

main(process.argv.slice(2), io).then((code) => { process.exitCode = code; }, (err: unknown) => {
  io.err(`gatewayctl: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
