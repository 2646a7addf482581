/**
 * A separate process holding a Membership, so a test can SIGKILL it: a real crash, with no
 * revoke and no more keepalives. Args: endpoint prefix id ttl. Prints "ready" once listed.
 */
import pino from 'pino';
import { Membership } from '../../nodes/src/cluster/membership.ts';

const [endpoint = '', prefix = '', id = '', ttl = '2'] = process.argv.slice(2);
const m = new Membership({ endpoints: [endpoint], prefix, id, address: '127.0.0.1:0', version: 'test', ttl: Number(ttl), logger: pino({ level: 'silent' }) });
await m.start();
process.stdout.write('ready\n');
