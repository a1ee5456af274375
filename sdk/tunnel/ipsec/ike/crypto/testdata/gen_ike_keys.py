# One-off generator of the expected values in ike/crypto/testdata (Python
# stdlib hmac/hashlib, written from RFC 7296 2.13-2.18, 2.15, 2.23).
import hmac, hashlib, struct
def prf(h, k, d): return hmac.new(k, d, h).digest()
def prfplus(h, k, s, n):
    out=b''; t=b''; i=1
    while len(out)<n:
        t=prf(h,k,t+s+bytes([i])); out+=t; i+=1
    return out[:n]
H=lambda s: bytes.fromhex(s)
gir=H('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')  # RFC 7748 6.1
ni=bytes(range(0x00,0x20)); nr=bytes(range(0xa0,0xc0))
spii=H('0102030405060708'); spir=H('f1f2f3f4f5f6f7f8')
def ike(h, hl, ek, skeyseed, ni, nr, spii, spir):
    ks=prfplus(h, skeyseed, ni+nr+spii+spir, 3*hl+2*ek)
    o=0; r={}
    for name,l in [('sk_d',hl),('sk_ei',ek),('sk_er',ek),('sk_pi',hl),('sk_pr',hl)]:
        r[name]=ks[o:o+l]; o+=l
    return r
def p(k,v): print(f'{k} = {v.hex()}')
for (pname,h,hl) in [('sha256',hashlib.sha256,32),('sha384',hashlib.sha384,48),('sha512',hashlib.sha512,64)]:
  for (ename,ek) in [('aes128gcm16',20),('aes256gcm16',36),('chacha20poly1305',36)]:
    print(f'\ncase = ike_sa_init {ename} prf{pname}')
    print(f'prf = {pname}\nencr = {ename}')
    p('ni',ni); p('nr',nr); p('g_ir',gir); p('spi_i',spii); p('spi_r',spir)
    sk=prf(h, ni+nr, gir); p('skeyseed', sk)
    r=ike(h,hl,ek,sk,ni,nr,spii,spir)
    for k in ['sk_d','sk_ei','sk_er','sk_pi','sk_pr']: p(k,r[k])
# Rekey + child for aes256gcm16/sha256.
h=hashlib.sha256
sk=prf(h, ni+nr, gir); old=ike(h,32,36,sk,ni,nr,spii,spir)
ni2=bytes(range(0x40,0x60)); nr2=bytes(range(0x60,0x80)); gir2=bytes(range(0xc0,0xe0))
spii2=H('a1a2a3a4a5a6a7a8'); spir2=H('b1b2b3b4b5b6b7b8')
print('\ncase = rekey aes256gcm16 prfsha256 -> chacha20poly1305 prfsha512')
p('ni',ni2); p('nr',nr2); p('g_ir',gir2); p('spi_i',spii2); p('spi_r',spir2); p('old_sk_d',old['sk_d'])
sk2=prf(h, old['sk_d'], gir2+ni2+nr2); p('skeyseed',sk2)
r=ike(hashlib.sha512,64,36,sk2,ni2,nr2,spii2,spir2)
for k in ['sk_d','sk_ei','sk_er','sk_pi','sk_pr']: p(k,r[k])
print('\ncase = child aes256gcm16 no pfs')
p('sk_d',old['sk_d']); p('ni',ni); p('nr',nr)
km=prfplus(h, old['sk_d'], ni+nr, 72); p('i_to_r',km[:36]); p('r_to_i',km[36:])
print('\ncase = child aes128gcm16 pfs')
p('sk_d',old['sk_d']); p('ni',ni2); p('nr',nr2); p('g_ir',gir2)
km=prfplus(h, old['sk_d'], gir2+ni2+nr2, 40); p('i_to_r',km[:20]); p('r_to_i',km[20:])
# PSK AUTH
print('\ncase = psk auth sha256')
msg1=bytes(range(256))[:180]; msg2=bytes(range(255,-1,-1))[:200]
idi=bytes([2,0,0,0])+b'client-psk@ssw.test'; idr=bytes([2,0,0,0])+b'gw.ssw.test'
psk=b'ssw-harness-psk-0123456789abcdef'
p('psk',psk); p('message1',msg1); p('message2',msg2); p('rest_of_idi',idi); p('rest_of_idr',idr)
p('sk_pi',old['sk_pi']); p('sk_pr',old['sk_pr'])
kp=prf(h,psk,b'Key Pad for IKEv2')
io=msg1+nr+prf(h,old['sk_pi'],idi); ro=msg2+ni+prf(h,old['sk_pr'],idr)
p('auth_i',prf(h,kp,io)); p('auth_r',prf(h,kp,ro))
# NAT-D
import ipaddress
for (sr,ip,port) in [('0000000000000000','172.29.1.1',500),(spir.hex(),'172.29.1.2',4500),(spir.hex(),'2001:db8::1',500),(spir.hex(),'::1',4500)]:
    print(f'\ncase = natd {ip} {port}')
    b=spii+H(sr)+ipaddress.ip_address(ip).packed+struct.pack('>H',port)
    p('spi_i',spii); p('spi_r',H(sr)); print(f'ip = "{ip}"'); print(f'port = {port}'); p('hash',hashlib.sha1(b).digest())
