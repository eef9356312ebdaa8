import struct, os
B = 0x30000000
class G:
    def __init__(s, num=8):
        s.ram = bytearray(0x10000); s.num = num; s.next = {}; s.avail = {}; s.alloc = 0x1000
    def buf(s, data=b'', size=None):
        size = size if size is not None else len(data)
        a = s.alloc; s.ram[a:a+len(data)] = data; s.alloc = (a + size + 15) & ~15
        return B + a
    def chain(s, q, bufs):   # bufs: (gpa, len, writable)
        d0 = q * 0x100; i = s.next.get(q, 0); head = i
        for k, (g, l, w) in enumerate(bufs):
            idx = (i + k) % s.num
            fl = (2 if w else 0) | (1 if k + 1 < len(bufs) else 0)
            struct.pack_into('<QIHH', s.ram, d0 + 16 * idx, g, l, fl, (idx + 1) % s.num)
        s.next[q] = (i + len(bufs)) % s.num
        av = 0x400 + q * 0x40; n = s.avail.get(q, 0)
        struct.pack_into('<H', s.ram, av + 4 + 2 * (n % s.num), head)
        s.avail[q] = n + 1; struct.pack_into('<H', s.ram, av + 2, n + 1)
    def write(s, path, features, kicks, numsel=3):
        hdr = struct.pack('<QB', features, numsel) + bytes(kicks + [0xff] * (7 - len(kicks)))
        open(path, 'wb').write(hdr + bytes(s.ram).rstrip(b'\0'))
ALL = 0xffffffffffffffff
C = 'fuzz/corpus/'
for t in ['blk', 'rng', 'balloon', 'net', 'vsock']: os.makedirs(C + t, exist_ok=True)
# blk: write, read, get id, flush, discard, write zeroes
g = G()
def blkreq(t, sector, data=None, dlen=0, dw=False, extra=None):
    bufs = [(g.buf(struct.pack('<IIQ', t, 0, sector)), 16, False)]
    if data is not None: bufs.append((g.buf(data), len(data), False))
    if dlen: bufs.append((g.buf(size=dlen), dlen, dw))
    bufs.append((g.buf(b'\xee'), 1, True))
    g.chain(0, bufs)
blkreq(1, 1, data=bytes(range(256)) * 2)
blkreq(0, 1, dlen=512, dw=True)
blkreq(8, 0, dlen=20, dw=True)
blkreq(4, 0)
g.write(C + 'blk/write_read_id_flush', ALL, [0])
g = G()
blkreq(11, 0, data=struct.pack('<QII', 8, 16, 0))
blkreq(13, 0, data=struct.pack('<QII', 100, 8, 1))
blkreq(0, 2047, dlen=1024, dw=True)   # past the end
g.write(C + 'blk/discard_zeroes_out_of_range', ALL, [0, 0])
# rng: two writable buffers, one readable (wrong)
g = G()
g.chain(0, [(g.buf(size=64), 64, True)])
g.chain(0, [(g.buf(size=16), 16, True), (g.buf(size=16), 16, True)])
g.chain(0, [(g.buf(b'x' * 8), 8, False)])
g.write(C + 'rng/three_requests', ALL, [0, 0])
# balloon: inflate 2 pages, deflate 1, stats report, then the timer
g = G()
g.chain(0, [(g.buf(struct.pack('<II', 0x30008, 0x30009)), 8, False)])
g.chain(1, [(g.buf(struct.pack('<I', 0x30008)), 4, False)])
stats = b''.join(struct.pack('<HQ', tag, 1000 * tag) for tag in range(10))
g.chain(2, [(g.buf(stats), len(stats), False)])
g.write(C + 'balloon/inflate_deflate_stats', ALL, [0, 1, 2, 0x82, 2])
g = G()
g.chain(0, [(g.buf(struct.pack('<III', 0x7ffff, 0x80010, 0xffffffff)), 12, False)])
g.write(C + 'balloon/pages_outside_ram', ALL, [0])
# net: a tx frame (ARP request), rx buffers, a frame from the network
g = G()
arp = bytes.fromhex('ffffffffffff525400123456' '0806' '0001080006040001' '525400123456' '0a00020f' '000000000000' '0a000202') + bytes(18)
g.chain(1, [(g.buf(bytes(12)), 12, False), (g.buf(arp), len(arp), False)])
g.chain(1, [(g.buf(bytes(12) + arp), 12 + len(arp), False)])
g.chain(0, [(g.buf(size=1526), 1526, True)])
g.chain(0, [(g.buf(size=100), 100, True), (g.buf(size=1500), 1500, True)])
g.ram[0x3000:0x3000 + len(arp)] = arp
g.write(C + 'net/tx_arp_rx_frame', ALL, [1, 0x80 | (1 << 3), 0x80 | (0 << 3)])
g = G()
for k in range(4): g.chain(0, [(g.buf(size=256), 256, True)])
g.ram[0x3000:0x3000 + 600] = bytes(range(200)) * 3
g.write(C + 'net/mergeable_rx', (1 << 15) | (1 << 5), [0x80 | (6 << 3), 0])
# vsock: REQUEST to host port 1234 (no listener: RST), RW without a connection, rx buffers
g = G()
def pkt(op, src_port=1024, dst_port=1234, data=b'', dst_cid=2):
    return struct.pack('<QQIIIHHIII', 3, dst_cid, src_port, dst_port, len(data), 1, op, 0, 65536, 0) + data
for k in range(4): g.chain(0, [(g.buf(size=256 + 44), 256 + 44, True)])
g.chain(1, [(g.buf(pkt(1)), 44, False)])
p = pkt(5, data=b'hello')
g.chain(1, [(g.buf(p[:44]), 44, False), (g.buf(p[44:]), 5, False)])
g.chain(1, [(g.buf(pkt(6)), 44, False)])
g.chain(1, [(g.buf(pkt(4)), 44, False)])
g.chain(1, [(g.buf(pkt(3)), 44, False)])
g.write(C + 'vsock/request_rw_credit_shutdown_rst', ALL, [1, 0, 1])
