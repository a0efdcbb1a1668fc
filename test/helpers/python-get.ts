// A Python client for the handoff tests: plain sockets from the peer's
// kernel stack, so what it reports about retransmits is the kernel's own.
/** Where pythonGet() connects from and to. */
export interface GetTarget { from: string; to: string; port: number }

/**
 * A Python client script: `requests` times, connect (from local port `port`
 * if given; with TCP_DEFER_ACCEPT the request rides on the final ACK), GET
 * /<path><i> and read to the end; prints each status line, or 'timeout'.
 * With `retrans`, also a line 'retrans <n> <body>': the segments this
 * connection's socket retransmitted (tcp_info.tcpi_total_retrans), counted
 * for this flow alone - the namespace's counters also take FINs that earlier
 * tests' connections still resend.
 */
export function pythonGet(t: GetTarget, o: { requests?: number; port?: number; deferAccept?: boolean; path?: string; retrans?: boolean; timeoutS: number }): string {
  return `
import socket, struct
for i in range(${o.requests ?? 1}):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ${o.port !== undefined ? `s.bind((${JSON.stringify(t.from)}, ${o.port}))` : 'pass'}
    ${o.deferAccept ? 's.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)' : 'pass'}
    s.settimeout(${o.timeoutS})
    try:
        s.connect((${JSON.stringify(t.to)}, ${t.port}))
        s.sendall(b'GET /${o.path ?? ''}%d HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' % i)
        data = b''
        while True:
            d = s.recv(4096)
            if not d: break
            data += d
        print(data.split(b'\\r\\n')[0].decode())
        ${o.retrans ? `print('retrans %d %s' % (struct.unpack_from('I', s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104), 100)[0], data.split(b'\\r\\n\\r\\n', 1)[-1].decode()))` : 'pass'}
    except socket.timeout:
        print('timeout')
    s.close()
`;
}

/** The 'retrans <n> <body>' lines of a pythonGet({ retrans: true }) run: bodies and the sum of n. */
export function retransReport(stdout: string): { bodies: string[]; retransmitted: number } {
  const lines = stdout.split('\n').filter((l) => l.startsWith('retrans '));
  return {
    bodies: lines.map((l) => l.split(' ').slice(2).join(' ')),
    retransmitted: lines.reduce((sum, l) => sum + Number(l.split(' ')[1]), 0),
  };
}
