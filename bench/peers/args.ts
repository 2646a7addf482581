/**
 * Every peer is started as `node bench/peers/<peer>.ts <port> [upstream-url]` and listens
 * on 127.0.0.1 only (bench traffic must never leave loopback).
 */
export interface PeerArgs { port: number; upstream: string }

export function peerArgs(): PeerArgs {
  const port = Number(process.argv[2]);
  const upstream = process.argv[3] ?? '';
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: <peer>.ts <port> [upstream-url]');
  return { port, upstream };
}

/** Shut down promptly on SIGTERM so the runner's "port is free" check does not wait. */
export function exitOnSignal(): void {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(0));
}
