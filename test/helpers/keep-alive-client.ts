// A keep-alive HTTP client in a lab's peer namespace (the kernel's TCP
// stack, one connection), for tests where a connection must outlive
// something done to the responder.
import { spawn } from 'node:child_process';
import type { PairLab } from '../../lib/lab/netns.js';
import { track } from './children.js';

/**
 * One connection to the responder's IPv4 address and `port`; get() sends a
 * request on it and resolves with the next line the client prints:
 * `status <code>` per response, `closed` if the connection ends, `error
 * CODE`, or a line saying no response came in 15 s. end() closes it.
 */
export function keepAliveClient(pair: PairLab, port: number): { get(): Promise<string>; end(): void } {
  const [cmd, args] = pair.peer.wrap(process.execPath, ['-e', `
    const s = require('net').connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${port} });
    s.setEncoding('latin1');
    s.on('data', (d) => { for (const m of d.matchAll(/HTTP\\/1\\.1 (\\d+)/g)) console.log('status ' + m[1]); });
    s.on('error', (e) => console.log('error ' + e.code));
    s.on('close', () => { console.log('closed'); process.exit(0); });
    require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
      if (l === 'get') s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
      if (l === 'end') s.end();
    });
  `]);
  const child = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let buffered = '';
  child.stdout!.on('data', (d) => {
    buffered += d;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line); else lines.push(line);
    }
  });
  return {
    get: () => {
      child.stdin!.write('get\n');
      const next = lines.shift();
      return next !== undefined ? Promise.resolve(next) : Promise.race([
        new Promise<string>((resolve) => waiting.push(resolve)),
        new Promise<string>((resolve) => setTimeout(() => resolve('no response in 15 s'), 15000).unref()),
      ]);
    },
    end: () => child.stdin!.end('end\n'),
  };
}
