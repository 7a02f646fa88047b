import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeKey, dh, generateKeyPair, genkey, privateKeyObject, pubkey } from '../src/keys.js';

const b64 = (h: string) => Buffer.from(h, 'hex').toString('base64');

describe('keys', () => {
  it('derives the RFC 7748 §6.1 public keys', () => {
    assert.equal(
      pubkey(b64('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')),
      b64('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'),
    );
    assert.equal(
      pubkey(b64('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')),
      b64('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'),
    );
  });

  it('computes the RFC 7748 §6.1 shared secret', () => {
    const a = privateKeyObject(
      decodeKey(b64('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')),
    );
    const bPub = decodeKey(b64('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'));
    assert.equal(
      Buffer.from(dh(a, bPub) as Uint8Array).toString('hex'),
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    );
  });

  it('rejects a low-order public key (all-zero shared secret)', () => {
    assert.equal(dh(generateKeyPair().privateKey, new Uint8Array(32)), null);
  });

  it('generates clamped keys in WireGuard base64 form', () => {
    const k = genkey();
    assert.equal(k.length, 44);
    const raw = decodeKey(k);
    assert.equal(raw[0] & 7, 0);
    assert.equal(raw[31] & 0xc0, 0x40);
    assert.notEqual(genkey(), k);
    assert.equal(pubkey(k).length, 44);
  });

  it('rejects malformed keys with ERR_BAD_KEY', () => {
    for (const bad of ['', 'abc', `${'A'.repeat(43)}`, `${'A'.repeat(43)}==`, `${'A'.repeat(42)}B=`])
      assert.throws(() => decodeKey(bad), { code: 'ERR_BAD_KEY' });
  });
});
