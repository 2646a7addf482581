/**
 * `npm start`: the demo echo upstream (examples/echo-upstream.ts, port 8081) and one
 * standalone gateway node with examples/gateway.yaml in the foreground. Stopping the
 * gateway (Ctrl-C / SIGTERM) stops the demo upstream too.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const echo = spawn(process.execPath, [here('./echo-upstream.ts')], { stdio: ['ignore', 'inherit', 'inherit'] });
const gw = spawn(process.execPath, [here('../nodes/bin/gatehouse.js'), 'start', '--config', here('./gateway.yaml'), ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => gw.kill(sig));
gw.on('exit', (code) => { echo.kill('SIGTERM'); process.exitCode = code ?? 0; });
