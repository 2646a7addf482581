/**
 * A separate process registering one service instance, so a test can SIGKILL it: a real crash.
 * Args: endpoint prefix service id url ttl. Prints "ready" once registered.
 */
import { registerInstance } from '../../nodes/src/discovery/registry.ts';

const [endpoint = '', prefix = '', service = '', id = '', url = '', ttl = '2'] = process.argv.slice(2);
await registerInstance({ endpoints: [endpoint], prefix, service, id, url, ttl: Number(ttl) });
process.stdout.write('ready\n');
