// Fault injection between the toolkit and what it talks to. Each proxy passes traffic through until its
// trigger request has gone by, then turns into the fault until heal():
//   - awsFaultProxy, in front of the AWS endpoint: 'down' (connections refused: the endpoint stopped)
//     or 'expired-token' (every call answered as AWS answers one signed with expired credentials);
//   - dockerFaultProxy, in front of the Docker engine's socket: the engine goes away during a build.
// From the client's side this is the endpoint or engine stopping; the emulator's state survives, as
// AWS's does, so "nothing lost" and "rerun completes" can be asserted.
import { existsSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export interface FaultProxy {
  /** Resolves with the request that triggered the fault. */
  triggered: Promise<string>;
  /** Every request seen, as `ecs:UpdateService`, `sts:GetCallerIdentity`, `PUT /bucket/key`. */
  seen: string[];
  heal(): Promise<void>;
  close(): Promise<void>;
}

/** A short name for an AWS request: its JSON target or query Action, else S3's method and path. */
function operation(req: http.IncomingMessage, body: string): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.split('.').pop()!;
  const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body)?.[1];
  return action ?? `${req.method} ${req.url?.split('?')[0]}`;
}

/** How AWS answers a call signed with expired credentials, in the request's protocol. */
function expiredTokenReply(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (typeof req.headers['x-amz-target'] === 'string') {
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'ExpiredTokenException' });
    res.end(JSON.stringify({ __type: 'ExpiredTokenException', message: 'The security token included in the request is expired' }));
  } else if (/x-www-form-urlencoded/.test(String(req.headers['content-type']))) {
    res.writeHead(403, { 'content-type': 'text/xml' });
    res.end(
      '<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>',
    );
  } else {
    res.writeHead(400, { 'content-type': 'application/xml' });
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><RequestId>fault-proxy</RequestId></Error>',
    );
  }
}

export async function awsFaultProxy(
  target: string,
  options: { after: RegExp; fault: 'down' | 'expired-token' },
): Promise<FaultProxy & { url: string }> {
  const upstream = new URL(target);
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  let faulted = false;
  let fire!: (op: string) => void;
  const triggered = new Promise<string>((resolve) => (fire = resolve));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const op = operation(req, body.toString('utf8'));
      seen.push(op);
      if (faulted) return expiredTokenReply(req, res); // only 'expired-token' gets here: 'down' refuses
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', () => {
            if (!faulted && options.after.test(op)) {
              faulted = true;
              fire(op);
              if (options.fault === 'down') res.on('finish', goDown);
            }
          });
        },
      );
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const goDown = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    triggered,
    async heal() {
      faulted = false;
      options.after = /$^/; // never again
      if (!server.listening) await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async close() {
      goDown();
    },
  };
}

/**
 * A proxy for the Docker engine's socket that goes away during the first build: the classic builder's
 * POST /build is answered with the start of a build stream and then cut, never reaching the engine; a
 * BuildKit session is cut `delayMs` after it starts.
 */
export async function dockerFaultProxy(
  socketPath: string,
  engine = '/var/run/docker.sock',
  delayMs = 300,
): Promise<FaultProxy & { host: string }> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  let armed = true;
  let fire!: (op: string) => void;
  const triggered = new Promise<string>((resolve) => (fire = resolve));
  const goDown = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  const server = net.createServer((client) => {
    const up = net.connect(engine);
    let cut = false; // this connection carried the build: nothing more reaches the engine
    let body = ''; // the tail of the build context upload, to see where it ends
    sockets.add(client).add(up);
    // one side gone, the other goes too: nothing is left open to keep the test process alive
    client.on('close', () => {
      sockets.delete(client);
      up.destroy();
    });
    up.on('close', () => {
      sockets.delete(up);
      if (!cut) client.destroy();
    });
    const answerThenGoAway = () => {
      // the "engine" starts answering, then goes away mid-stream (a clean close: docker reads `unexpected EOF`)
      const first = '{"stream":"Step 1/4 : FROM node:20-alpine\\n"}\r\n';
      client.write(
        `HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${first.length.toString(16)}\r\n${first}\r\n`,
        () => {
          server.close();
          client.end();
        },
      );
    };
    client.on('data', (chunk) => {
      if (cut) {
        // the build context is read to its end (the chunked upload's last chunk) before the answer, so docker
        // fails at the same point every time, never while still uploading
        body = (body + chunk.toString('latin1')).slice(-16);
        if (body.endsWith('0\r\n\r\n')) answerThenGoAway();
        return;
      }
      const line = /^(GET|POST|PUT|DELETE|HEAD) (\S+)/m.exec(chunk.toString('latin1'));
      if (line) seen.push(`${line[1]} ${line[2]!.split('?')[0]}`);
      if (armed && line && /\/build\b/.test(line[2]!)) {
        // the classic builder's POST /build: never forwarded.
        armed = false;
        cut = true;
        fire(`${line[1]} ${line[2]}`);
        up.destroy();
        body = chunk.toString('latin1').slice(-16);
        if (body.endsWith('0\r\n\r\n')) answerThenGoAway();
        return;
      }
      if (armed && line && /\/(session|grpc)\b/.test(line[2]!)) {
        // BuildKit streams over a hijacked session: cut it shortly after it starts
        armed = false;
        fire(`${line[1]} ${line[2]}`);
        setTimeout(goDown, delayMs);
      }
      up.write(chunk);
    });
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  if (existsSync(socketPath)) rmSync(socketPath);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    host: `unix://${socketPath}`,
    seen,
    triggered,
    async heal() {
      if (!server.listening) {
        if (existsSync(socketPath)) rmSync(socketPath);
        await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      }
    },
    async close() {
      goDown();
    },
  };
}

/** What a proxy does with one request: pass it on, answer 500 for S3, or pass it on and drop the answer. */
export type RequestFault = 'pass' | 'error-500' | 'lost-answer';

/**
 * A proxy in front of the AWS endpoint that asks `decide` about each request (its method, headers and body):
 * 'error-500' answers as S3 does when it fails inside (InternalError) without forwarding; 'lost-answer'
 * forwards it (the write lands) and then drops the connection before any answer reaches the client.
 */
export async function requestFaultProxy(
  target: string,
  decide: (req: http.IncomingMessage, body: string) => RequestFault,
): Promise<{ url: string; seen: { op: string; fault: RequestFault }[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const seen: { op: string; fault: RequestFault }[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fault = decide(req, body.toString('utf8'));
      seen.push({ op: operation(req, body.toString('utf8')), fault });
      if (fault === 'error-500') {
        res.writeHead(500, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>fault-proxy</RequestId></Error>',
        );
        return;
      }
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          if (fault === 'lost-answer') {
            up.resume();
            up.on('end', () => req.socket.destroy());
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    async close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
