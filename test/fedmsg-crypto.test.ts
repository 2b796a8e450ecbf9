import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { signedBytes, signEnvelope, undoDatagrepperArtefacts, verifyEnvelope } from '../common/fedmsg-crypto.js';
import { makePki } from './helpers/pki.js';
import { rawMessageTexts } from '../bus/backfill.js';
import { FIXTURES_DIR } from '../sandbox/seed.js';

const vector = readFileSync(`${FIXTURES_DIR}messages/pungi.compose.status.change.FINISHED_INCOMPLETE.wire-reconstructed.json`, 'utf8');
const vectorBytes = readFileSync(`${FIXTURES_DIR}messages/pungi.compose.status.change.FINISHED_INCOMPLETE.wire-reconstructed.signed-bytes.txt`, 'utf8');
const NO_CA = { caCertificates: [] };

describe('fedmsg X.509 signatures', () => {
  it('reproduce the exact signed bytes of the real vector', () => {
    assert.equal(signedBytes(vector), vectorBytes);
  });

  it('verify the real signed pungi message', () => {
    assert.deepEqual(verifyEnvelope(vector, 'pungi.compose.status.change', NO_CA), { valid: true, signer: 'releng-branched-composer.phx2.fedoraproject.org' });
  });

  it('verify all 25 real messages of a datagrepper capture once its artefacts are undone', () => {
    const raw = JSON.parse(readFileSync(`${FIXTURES_DIR}datagrepper/raw-response.2017-09-05.json`, 'utf8')) as { raw_messages: unknown[] };
    // Re-read the page losslessly: each message's own text, numbers as captured.
    const text = readFileSync(`${FIXTURES_DIR}datagrepper/raw-response.2017-09-05.json`, 'utf8');
    const messages = rawMessageTexts(text);
    assert.equal(messages.length, raw.raw_messages.length);
    for (const message of messages) {
      const result = verifyEnvelope(undoDatagrepperArtefacts(message), 'x', NO_CA);
      assert.equal(result.valid, true, `${message.slice(0, 120)}: ${result.valid ? '' : result.reason}`);
    }
  });

  it('reject a message whose body was changed after signing', () => {
    const forged = vector.replace('FINISHED_INCOMPLETE', 'FINISHED');
    const result = verifyEnvelope(forged, 'pungi.compose.status.change', NO_CA);
    assert.equal(result.valid, false);
    assert.match(result.valid ? '' : result.reason, /signature does not match/);
    const renumbered = vector.replace('"i": 1', '"i": 1.0');
    assert.notEqual(renumbered, vector);
    assert.equal(verifyEnvelope(renumbered, 'pungi.compose.status.change', NO_CA).valid, false, 'number text is part of what is signed');
  });

  it('reject unsigned messages', () => {
    const { signature: _s, certificate: _c, crypto: _x, ...unsigned } = JSON.parse(vector);
    assert.deepEqual(verifyEnvelope(JSON.stringify(unsigned), 'pungi.compose.status.change', NO_CA), { valid: false, reason: 'unsigned message' });
  });

  describe('with a CA and a routing policy', () => {
    let pki: ReturnType<typeof makePki>;
    before(() => {
      pki = makePki();
    });
    const envelope = () => ({
      topic: 'org.fedoraproject.prod.pungi.compose.status.change',
      msg_id: '2026-0c7f37f3-d0b5-474f-b600-198d9b3be748',
      timestamp: Math.floor(Date.now() / 1000),
      i: 1,
      username: 'root',
      msg: { compose_id: 'Fedora-Rawhide-20261123.n.0', location: 'https://kojipkgs.example.org/compose/x', status: 'FINISHED', note: 'naïve “quotes” \u2603 \ud83d\ude80' },
    });
    const policy = { 'pungi.compose.status.change': ['releng-rawhide-composer.example.org'] };

    it('accept what a trusted signer sends, non-ASCII included', () => {
      const signed = JSON.stringify(signEnvelope(envelope(), pki.signer));
      assert.deepEqual(verifyEnvelope(signed, 'pungi.compose.status.change', { caCertificates: [pki.ca], routingPolicy: policy }), {
        valid: true,
        signer: 'releng-rawhide-composer.example.org',
      });
    });

    it('reject a certificate from another CA', () => {
      const signed = JSON.stringify(signEnvelope(envelope(), pki.stranger));
      const result = verifyEnvelope(signed, 'pungi.compose.status.change', { caCertificates: [pki.ca] });
      assert.match(result.valid ? '' : result.reason, /not issued by a trusted CA/);
    });

    it('reject a trusted signer the routing policy does not allow for the topic', () => {
      const signed = JSON.stringify(signEnvelope(envelope(), pki.other));
      const result = verifyEnvelope(signed, 'pungi.compose.status.change', { caCertificates: [pki.ca], routingPolicy: policy });
      assert.match(result.valid ? '' : result.reason, /bodhi-backend\.example\.org may not send pungi\.compose\.status\.change/);
    });

    it('reject a message sent outside its certificate\'s validity', () => {
      const signed = JSON.stringify(signEnvelope({ ...envelope(), timestamp: 946684800 }, pki.signer));
      const result = verifyEnvelope(signed, 'pungi.compose.status.change', { caCertificates: [pki.ca] });
      assert.match(result.valid ? '' : result.reason, /was not valid when the message was sent/);
    });
  });
});

describe('canonical JSON', () => {
  it('matches Python\'s json.dumps(sort_keys=True, separators=(",", ":")) byte for byte', () => {
    const tricky = '{"z": 1, "a": [1.50, -0.0, 12345678901234567890], "é": "naïve “q” \\u2603 \\ud83d\\ude80 \\u0001\\t\\n\\"\\\\/", "B": {"y": null, "x": true, "\\ud83d\\ude80": false, "\\uffff": 0}, "": ""}';
    const python = execFileSync('python3', ['-c', 'import json,sys; print(json.dumps(json.loads(sys.stdin.read(), parse_float=lambda s: __import__("decimal").Decimal(s)), sort_keys=True, separators=(",", ":"), default=str), end="")'], { input: tricky }).toString();
    // Python re-renders Decimals through default=str as strings; compare structure with numbers as text.
    const expected = python.replace(/"(-?\d[\d.eE+-]*)"/g, '$1');
    assert.equal(signedBytes(tricky), expected);
  });
});
