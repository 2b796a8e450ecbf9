import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeMethodCall,
  decodeMethodResponse,
  encodeFault,
  encodeMethodCall,
  encodeMethodResponse,
  splitKojiKwargs,
  withKojiKwargs,
  XmlRpcFaultError,
  XmlRpcParseError,
} from '../common/xmlrpc.js';

describe('XML-RPC codec', () => {
  it('round-trips every type Koji uses, in order', () => {
    const value = {
      id: 42,
      big: 2 ** 40,
      neg: -7,
      ratio: 1504643044.5,
      name: 'kernel <&> "5.1"',
      empty: '',
      none: null,
      flag: true,
      off: false,
      when: new Date(Date.UTC(2026, 10, 23, 9, 30, 0)),
      blob: new Uint8Array([0, 1, 254, 255]),
      list: [1, 'two', [3], { four: 4 }],
    };
    const call = decodeMethodCall(encodeMethodCall('getBuild', [value, 'x']));
    assert.equal(call.method, 'getBuild');
    assert.deepEqual(call.params, [value, 'x']);
    assert.deepEqual(Object.keys(call.params[0] as object), Object.keys(value));
    assert.deepEqual(decodeMethodResponse(encodeMethodResponse([value])), [value]);
  });

  it('writes 64-bit integers as i8 and None as nil, as Koji does', () => {
    const xml = encodeMethodResponse({ id: 2 ** 33, small: 5, none: null });
    assert.match(xml, /<i8>8589934592<\/i8>/);
    assert.match(xml, /<int>5<\/int>/);
    assert.match(xml, /<nil\/>/);
  });

  it('reads what Python\'s xmlrpc.client writes: untyped strings, i4, whitespace', () => {
    const xml = `<?xml version='1.0'?>
<methodResponse>
<params>
<param>
<value><struct>
<member>
<name>nvr</name>
<value>kernel-5.1.7-200.fc29</value>
</member>
<member>
<name>state</name>
<value><i4>1</i4></value>
</member>
<member>
<name>tags</name>
<value><array><data>
<value><string>f29</string></value>
</data></array></value>
</member>
</struct></value>
</param>
</params>
</methodResponse>`;
    assert.deepEqual(decodeMethodResponse(xml), { nvr: 'kernel-5.1.7-200.fc29', state: 1, tags: ['f29'] });
  });

  it('turns faults into errors carrying Koji\'s code', () => {
    const xml = encodeFault({ faultCode: 1003, faultString: 'tag f29 is locked' });
    assert.throws(
      () => decodeMethodResponse(xml),
      (err: unknown) => err instanceof XmlRpcFaultError && err.faultCode === 1003 && err.faultString === 'tag f29 is locked',
    );
  });

  it('rejects malformed documents with a parse error', () => {
    assert.throws(() => decodeMethodCall('<methodCall><methodName>x</methodName><params><param><value><int>one</int></value></param></params></methodCall>'), XmlRpcParseError);
    assert.throws(() => decodeMethodCall('<notxmlrpc/>'), XmlRpcParseError);
    assert.throws(() => decodeMethodResponse('<methodResponse><params><param><value><frob>1</frob></value></param></params></methodResponse>'), XmlRpcParseError);
  });

  it('encodes and splits keyword arguments with the __starstar marker', () => {
    const params = withKojiKwargs(['f29-updates'], { latest: true, package: 'kernel' });
    assert.deepEqual(params[1], { latest: true, package: 'kernel', __starstar: true });
    assert.deepEqual(splitKojiKwargs(params), { args: ['f29-updates'], kwargs: { latest: true, package: 'kernel' } });
    assert.deepEqual(splitKojiKwargs(['a', { b: 1 }]), { args: ['a', { b: 1 }], kwargs: {} });
  });
});
