# The attacker of `npm run soak`: crafted frames from the lab's attacker
# namespace against a protect()ed server, for as long as the soak runs, one
# attack after another: handshakes with MSS 0, oversized data behind the
# final ACK, duplicate SYNs with a new ISN, RST storms across the window,
# source port 0, guessed cookie ACKs, spoofed SYNs on the real client's
# address (some land on its live connections) and ICMP errors quoting flows.
# Handshakes use this host's own address and ports 40000-40999 (the soak
# keeps this namespace's kernel from resetting them); one-way attacks spoof.
# Prints one JSON line of what it sent and what came back.
#   python3 soak-attacker.py '{"iface":..,"src":..,"dst":..,"dport":..,"client":..,"seconds":..}'
import json, random, sys, time
from scapy.all import IP, ICMP, TCP, Raw, AsyncSniffer, conf

conf.verb = 0
a = json.loads(sys.argv[1])
iface, src, dst, dport, client = a['iface'], a['src'], a['dst'], a['dport'], a['client']
end = time.time() + a['seconds']
out = conf.L3socket(iface=iface)
sent = {}
seen = {'synack': 0, 'http': 0, 'rst': 0, 'ack': 0}
plans = {}  # our port -> (attack, our ISN)
REQUEST = b'GET / HTTP/1.0\r\n\r\n'


def send(kind, pkt):
    sent[kind] = sent.get(kind, 0) + 1
    out.send(pkt)


def on_reply(p):
    if TCP not in p:
        return
    t = p[TCP]
    flags = str(t.flags)
    if 'R' in flags:
        seen['rst'] += 1
    if Raw in p and bytes(p[Raw].load).startswith(b'HTTP/1.1 200'):
        seen['http'] += 1
    plan = plans.get(t.dport)
    if flags != 'SA' or plan is None:
        if flags == 'A':
            seen['ack'] += 1
        return
    seen['synack'] += 1
    attack, isn = plans.pop(t.dport)
    ip = IP(src=src, dst=dst)
    mine, theirs = t.ack, t.seq + 1
    base = TCP(sport=t.dport, dport=dport)
    if attack == 'rststorm':
        # RSTs across the window, none at exactly IRS+1 (only that one may drop the entry).
        for k in range(1, 17):
            send('rst-in-window', ip / TCP(sport=t.dport, dport=dport, flags='R', seq=mine + k * 997))
    send(attack, ip / TCP(sport=t.dport, dport=dport, flags='A', seq=mine, ack=theirs))
    if attack == 'oversize':
        # Far more than the window we were given, in segments the server must bound.
        for k in range(64):
            send('oversize-data', ip / TCP(sport=t.dport, dport=dport, flags='PA', seq=mine + k * 1400, ack=theirs) / Raw(b'x' * 1400))
    else:
        send(attack + '-request', ip / TCP(sport=t.dport, dport=dport, flags='PA', seq=mine, ack=theirs) / Raw(REQUEST))


sniffer = AsyncSniffer(iface=iface, filter='(tcp and src port %d) or icmp' % dport, prn=on_reply, store=False)
sniffer.start()
time.sleep(0.5)
port = 40000
ts = lambda: [('MSS', 1460), ('Timestamp', (random.getrandbits(32), 0)), ('WScale', 7), ('SAckOK', b'')]
while time.time() < end:
    port = 40000 + (port - 40000 + 1) % 1000
    isn = random.getrandbits(32)
    ip = IP(src=src, dst=dst)
    for attack, opts in (('mss0', [('MSS', 0)]), ('oversize', ts()), ('dupsyn', ts()), ('rststorm', ts())):
        port = 40000 + (port - 40000 + 1) % 1000
        plans[port] = (attack, isn)
        send(attack + '-syn', ip / TCP(sport=port, dport=dport, flags='S', seq=isn, options=opts))
        if attack == 'dupsyn':
            send('dupsyn-new-isn', ip / TCP(sport=port, dport=dport, flags='S', seq=(isn + 100000) % 2**32, options=opts))
    send('port0', ip / TCP(sport=0, dport=dport, flags='S', seq=isn, options=ts()))
    spoofed = '198.19.%d.%d' % (random.randrange(256), random.randrange(1, 255))
    send('cookie-guess', IP(src=spoofed, dst=dst) / TCP(sport=random.randrange(1024, 65536), dport=dport, flags='A', seq=random.getrandbits(32), ack=random.getrandbits(32)))
    # The real client's address, a port wrk may be using: a SYN on a live connection.
    send('spoofed-syn-on-client', IP(src=client, dst=dst) / TCP(sport=random.randrange(32768, 61000), dport=dport, flags='S', seq=random.getrandbits(32), options=ts()))
    send('icmp-unreachable', IP(src=spoofed, dst=dst) / ICMP(type=3, code=1) / IP(src=dst, dst=client) / TCP(sport=dport, dport=random.randrange(32768, 61000), seq=random.getrandbits(32)))
    time.sleep(0.02)
time.sleep(1)
sniffer.stop()
print(json.dumps({'sent': sent, 'seen': seen}))
