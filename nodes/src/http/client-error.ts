/**
 * Requests Node's parser refuses never reach the handler; answer them here with the same
 * problem+json shape (no parser text to the client) and close the connection, since the
 * stream can no longer be trusted (request smuggling: RFC 9112 §6.3, §11.2).
 */
import type { Socket } from 'node:net';
import { errors, problemBody, type ErrorCode } from '../errors.ts';
import { requestId } from './ids.ts';

const REASON: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };

export function clientErrorCode(err: NodeJS.ErrnoException): ErrorCode {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': return 'GW_HEADERS_TOO_LARGE';
    case 'ERR_HTTP_REQUEST_TIMEOUT': return 'GW_REQUEST_TIMEOUT';
    default: return 'GW_BAD_REQUEST';
  }
}

export function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable || (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const code = clientErrorCode(err);
  const status = errors[code].status;
  const body = problemBody(code, requestId(undefined));
  socket.end(`HTTP/1.1 ${status} ${REASON[status] ?? 'Error'}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroySoon?.();
}

/**
 * CONNECT (a tunnel request) never reaches the request handler: Node hands it to the
 * server's 'connect' event and, with no listener, closes the socket without a word. The
 * gateway is no forward proxy: answer 405 problem+json and close.
 */
export function onConnectMethod(_req: unknown, socket: Socket): void {
  const body = problemBody('GW_METHOD_NOT_ALLOWED', requestId(undefined), 'CONNECT is not supported');
  socket.on('error', () => undefined);
  socket.end(`HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
