/**
 * A pino logger whose records land in an array, so tests can check that something was logged
 * (a skipped key, a reload) without reading stdout.
 */
import pino, { type Logger } from 'pino';

export interface LogRecord { level: number; msg: string; [k: string]: unknown }

export function captureLogger(level: pino.Level = 'debug'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level }, { write: (line: string) => { records.push(JSON.parse(line) as LogRecord); } });
  return { logger, records };
}
