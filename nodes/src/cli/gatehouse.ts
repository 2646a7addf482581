/**
 * `gatehouse start --config FILE [--workers N|auto]`, `gatehouse validate --config FILE`,
 * `gatehouse hash-key KEY` (the sha256: digest to store for key-auth).
 */
import { createHash } from 'node:crypto';
import { parseArgs } from './args.ts';
import { readConfigFile } from '../config/file.ts';
import { validateConfig, formatErrors } from '../schema/validate.ts';
import { runNode } from '../main.ts';

const USAGE = `usage:
  gatehouse start --config FILE [--workers N|auto]
  gatehouse validate --config FILE
  gatehouse hash-key KEY          print the sha256: digest to store in consumers.<name>.keys`;

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { c: 'config', w: 'workers' });
  const cmd = args._[0];
  const config = typeof args.flags.config === 'string' ? args.flags.config : undefined;
  switch (cmd) {
    case 'validate': {
      if (!config) { console.error(USAGE); return 2; }
      const { doc, error } = readConfigFile(config);
      if (error) { console.error(`${config}: ${error}`); return 1; }
      const errs = validateConfig(doc);
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
    default:
      console.error(USAGE);
      return cmd === undefined || cmd === 'help' || args.flags.help ? 0 : 2;
  }
}

main(process.argv.slice(2)).then((code) => { if (code !== -1) process.exitCode = code; }, (err) => {
  console.error(`gatehouse: ${(err as Error).message}`);
  process.exitCode = 1;
});
