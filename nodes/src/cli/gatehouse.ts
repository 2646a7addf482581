/**
 * `gatehouse start --config FILE [--workers N|auto]`, `gatehouse validate --config FILE`,
 * `gatehouse hash-key KEY` (the sha256: digest to store for key-auth),
 * `gatehouse hash-password PASSWORD|- [--cost N]` (the scrypt: hash to store for basic-auth),
 * `gatehouse register --etcd URL --service NAME --url URL ...` (cli/register.ts).
 */
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { parseArgs } from './args.ts';
import { readConfigFile } from '../config/file.ts';
import { formatErrors } from '../schema/validate.ts';
import { validateConfig } from '../validation/validate.ts';
import { runNode } from '../main.ts';
import { runRegister, REGISTER_USAGE } from './register.ts';
import { hashPassword, parseScrypt, DEFAULT_PARAMS } from '../policies/basic-auth/scrypt.ts';

const USAGE = `usage:
  gatehouse start --config FILE [--workers N|auto]
  gatehouse validate --config FILE
  gatehouse hash-key KEY          print the sha256: digest to store in consumers.<name>.keys
  gatehouse hash-password PASSWORD [--cost N]
                                  print scrypt:N:r:p:saltB64:hashB64 for consumers.<name>.passwords
                                  (PASSWORD - reads one line from stdin, keeping it out of shell history)
${REGISTER_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { c: 'config', w: 'workers' });
  const cmd = args._[0];
  const config = typeof args.flags.config === 'string' ? args.flags.config : undefined;
  switch (cmd) {
    case 'validate': {
      if (!config) { console.error(USAGE); return 2; }
      const { doc, error } = readConfigFile(config);
      if (error) { console.error(`${config}: ${error}`); return 1; }
      const errs = validateConfig(doc, dirname(resolve(config)));
      if (errs.length) { console.error(formatErrors(errs)); return 1; }
      console.log(`${config}: ok`);
      return 0;
    }
    case 'start': {
      if (!config) { console.error(USAGE); return 2; }
      const w = args.flags.workers;
      return runNode(config, typeof w === 'string' ? w : undefined);
    }
    case 'hash-key': {
      const key = args._[1];
      if (!key) { console.error(USAGE); return 2; }
      console.log(`sha256:${createHash('sha256').update(key).digest('hex')}`);
      return 0;
    }
    case 'hash-password': {
      const arg = args._[1];
      if (!arg) { console.error(USAGE); return 2; }
      const password = arg === '-' ? await readLine() : arg;
      const cost = typeof args.flags.cost === 'string' ? Number(args.flags.cost) : DEFAULT_PARAMS.N;
      const params = { ...DEFAULT_PARAMS, N: cost };
      try { parseScrypt(`scrypt:${cost}:${params.r}:${params.p}:AAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAA==`); } catch (err) { console.error(`gatehouse: ${(err as Error).message}`); return 2; }
      console.log(await hashPassword(password, params));
      return 0;
    }
    case 'register':
      return runRegister(args);
    default:
      console.error(USAGE);
      return cmd === undefined || cmd === 'help' || args.flags.help ? 0 : 2;
  }
}

/** First line of stdin without its line ending. */
async function readLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

main(process.argv.slice(2)).then((code) => { if (code !== -1) process.exitCode = code; }, (err) => {
  console.error(`gatehouse: ${(err as Error).message}`);
  process.exitCode = 1;
});
