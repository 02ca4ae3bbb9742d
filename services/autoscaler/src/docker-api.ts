// The few Docker Engine API calls the Swarm driver makes (list services, inspect one, update one), as
// plain JSON over HTTP with undici — on the unix socket, or tcp:// — rather than dockerode, whose
// dependencies (grpc-js, protobufjs, ssh2, tar-fs) would be most of the image for three calls.
import { Agent, request } from 'undici';

export class DockerApiError extends Error {
  override name = 'DockerApiError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface DockerApi {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  delete(path: string): Promise<void>;
  close(): Promise<void>;
}

/** A client for DOCKER_HOST (unix:///var/run/docker.sock or tcp://host:port), each call bounded. */
export function dockerApi(dockerHost: string, timeoutMs = 10_000): DockerApi {
  const unix = /^unix:\/\/(\/.+)$/.exec(dockerHost);
  const tcp = /^tcp:\/\/([^/]+:\d+)$/.exec(dockerHost);
  if (!unix && !tcp) throw new Error(`DOCKER_HOST ${dockerHost}: neither unix:///path nor tcp://host:port`);
  const dispatcher = new Agent({
    ...(unix ? { connect: { socketPath: unix[1]! } } : {}),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  // On a socket the host part is only the Host header the engine expects.
  const origin = unix ? 'http://docker' : `http://${tcp![1]}`;
  const call = async <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> => {
    const res = await request(`${origin}${path}`, {
      method,
      dispatcher,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // not JSON: the text as it is
      }
      throw new DockerApiError(res.statusCode, `${method} ${path}: ${res.statusCode} ${message.trim()}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    delete: (path) => call('DELETE', path),
    close: () => dispatcher.close(),
  };
}
