/**
 * XML-RPC as Koji's hub speaks it: `<nil/>` for None, `<i8>` beyond 32 bits, standard faults,
 * keyword arguments as a trailing struct marked `__starstar`. One codec for the sandbox hub and
 * the Koji client, so both sides agree byte for byte.
 */
import { XMLParser } from 'fast-xml-parser';

export type XmlRpcValue =
  | string
  | number
  | boolean
  | null
  | Date
  | Uint8Array
  | XmlRpcValue[]
  | { [key: string]: XmlRpcValue };

export interface XmlRpcFault {
  readonly faultCode: number;
  readonly faultString: string;
}

export class XmlRpcFaultError extends Error implements XmlRpcFault {
  override name = 'XmlRpcFaultError';
  constructor(
    readonly faultCode: number,
    readonly faultString: string,
  ) {
    super(`XML-RPC fault ${faultCode}: ${faultString}`);
  }
}

export class XmlRpcParseError extends Error {
  override name = 'XmlRpcParseError';
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function encodeValue(value: XmlRpcValue | undefined): string {
  if (value === null || value === undefined) return '<value><nil/></value>';
  if (typeof value === 'string') return `<value><string>${escapeXml(value)}</string></value>`;
  if (typeof value === 'boolean') return `<value><boolean>${value ? 1 : 0}</boolean></value>`;
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      return value >= INT32_MIN && value <= INT32_MAX ? `<value><int>${value}</int></value>` : `<value><i8>${value}</i8></value>`;
    }
    return `<value><double>${value}</double></value>`;
  }
  if (value instanceof Date) {
    const iso = value.toISOString().replace(/[-]/g, '').replace(/\.\d{3}Z$/, '');
    return `<value><dateTime.iso8601>${iso}</dateTime.iso8601></value>`;
  }
  if (value instanceof Uint8Array) return `<value><base64>${Buffer.from(value).toString('base64')}</base64></value>`;
  if (Array.isArray(value)) return `<value><array><data>${value.map(encodeValue).join('')}</data></array></value>`;
  const members = Object.entries(value)
    .map(([name, member]) => `<member><name>${escapeXml(name)}</name>${encodeValue(member)}</member>`)
    .join('');
  return `<value><struct>${members}</struct></value>`;
}

const PROLOGUE = "<?xml version='1.0'?>\n";

export function encodeMethodCall(method: string, params: readonly XmlRpcValue[]): string {
  const encoded = params.map((p) => `<param>${encodeValue(p)}</param>`).join('');
  return `${PROLOGUE}<methodCall><methodName>${escapeXml(method)}</methodName><params>${encoded}</params></methodCall>`;
}

export function encodeMethodResponse(result: XmlRpcValue): string {
  return `${PROLOGUE}<methodResponse><params><param>${encodeValue(result)}</param></params></methodResponse>`;
}

export function encodeFault(fault: XmlRpcFault): string {
  return `${PROLOGUE}<methodResponse><fault>${encodeValue({ faultCode: fault.faultCode, faultString: fault.faultString })}</fault></methodResponse>`;
}

// preserveOrder keeps array elements and struct members in document order.
type Node = { [tag: string]: Node[] | string | undefined } & { '#text'?: string };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
});

function tagOf(node: Node): string | undefined {
  return Object.keys(node).find((k) => k !== '#text' && k !== ':@');
}

function elements(children: Node[]): Node[] {
  return children.filter((c) => tagOf(c) !== undefined);
}

function textOf(children: Node[]): string {
  return children.map((c) => (typeof c['#text'] === 'string' || typeof c['#text'] === 'number' ? String(c['#text']) : '')).join('');
}

function childrenOf(node: Node, tag: string): Node[] {
  const kids = node[tag];
  if (!Array.isArray(kids)) throw new XmlRpcParseError(`<${tag}> has no content`);
  return kids;
}

function only(children: Node[], tag: string, where: string): Node[] {
  const match = elements(children).find((c) => tagOf(c) === tag);
  if (!match) throw new XmlRpcParseError(`expected <${tag}> in ${where}`);
  return childrenOf(match, tag);
}

function decodeValue(valueChildren: Node[]): XmlRpcValue {
  const typed = elements(valueChildren)[0];
  if (!typed) return textOf(valueChildren); // untyped <value>text</value> is a string
  const tag = tagOf(typed)!;
  const kids = childrenOf(typed, tag);
  const text = textOf(kids).trim();
  switch (tag) {
    case 'string':
      return textOf(kids);
    case 'int':
    case 'i4':
    case 'i8': {
      if (!/^[+-]?\d+$/.test(text)) throw new XmlRpcParseError(`<${tag}> holds ${JSON.stringify(text)}`);
      return Number(text);
    }
    case 'boolean':
      if (text !== '0' && text !== '1') throw new XmlRpcParseError(`<boolean> holds ${JSON.stringify(text)}`);
      return text === '1';
    case 'double': {
      const n = Number(text);
      if (text === '' || Number.isNaN(n)) throw new XmlRpcParseError(`<double> holds ${JSON.stringify(text)}`);
      return n;
    }
    case 'nil':
      return null;
    case 'dateTime.iso8601': {
      const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(text);
      if (!m) throw new XmlRpcParseError(`<dateTime.iso8601> holds ${JSON.stringify(text)}`);
      return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
    }
    case 'base64':
      return new Uint8Array(Buffer.from(text, 'base64'));
    case 'array': {
      const data = only(kids, 'data', '<array>');
      return elements(data).map((v) => decodeValue(childrenOf(v, 'value')));
    }
    case 'struct': {
      const out: { [key: string]: XmlRpcValue } = {};
      for (const member of elements(kids)) {
        const parts = childrenOf(member, 'member');
        out[textOf(only(parts, 'name', '<member>'))] = decodeValue(only(parts, 'value', '<member>'));
      }
      return out;
    }
    default:
      throw new XmlRpcParseError(`unknown XML-RPC type <${tag}>`);
  }
}

function parseDocument(xml: string): Node[] {
  try {
    return parser.parse(xml) as Node[];
  } catch (err) {
    throw new XmlRpcParseError(`not well-formed XML: ${(err as Error).message}`);
  }
}

function decodeParams(children: Node[]): XmlRpcValue[] {
  const params = elements(children).find((c) => tagOf(c) === 'params');
  if (!params) return [];
  return elements(childrenOf(params, 'params')).map((p) => decodeValue(only(childrenOf(p, 'param'), 'value', '<param>')));
}

export interface MethodCall {
  readonly method: string;
  readonly params: XmlRpcValue[];
}

export function decodeMethodCall(xml: string): MethodCall {
  const call = only(parseDocument(xml), 'methodCall', 'the document');
  const method = textOf(only(call, 'methodName', '<methodCall>')).trim();
  if (!method) throw new XmlRpcParseError('empty <methodName>');
  return { method, params: decodeParams(call) };
}

/** The result of a response, or XmlRpcFaultError for a fault. */
export function decodeMethodResponse(xml: string): XmlRpcValue {
  const response = only(parseDocument(xml), 'methodResponse', 'the document');
  const fault = elements(response).find((c) => tagOf(c) === 'fault');
  if (fault) {
    const value = decodeValue(only(childrenOf(fault, 'fault'), 'value', '<fault>'));
    const { faultCode, faultString } = (value ?? {}) as { faultCode?: unknown; faultString?: unknown };
    throw new XmlRpcFaultError(typeof faultCode === 'number' ? faultCode : 1, typeof faultString === 'string' ? faultString : 'unknown fault');
  }
  const [result] = decodeParams(response);
  if (result === undefined) throw new XmlRpcParseError('<methodResponse> has no <param>');
  return result;
}

/** Splits Koji's trailing `{__starstar: true, ...}` keyword struct off the positional params. */
export function splitKojiKwargs(params: readonly XmlRpcValue[]): { args: XmlRpcValue[]; kwargs: Record<string, XmlRpcValue> } {
  const last = params[params.length - 1];
  if (last && typeof last === 'object' && !Array.isArray(last) && !(last instanceof Date) && !(last instanceof Uint8Array) && last['__starstar'] === true) {
    const { __starstar: _marker, ...kwargs } = last;
    return { args: params.slice(0, -1), kwargs };
  }
  return { args: [...params], kwargs: {} };
}

/** Adds keyword arguments the way Koji's client encodes them. */
export function withKojiKwargs(args: readonly XmlRpcValue[], kwargs: Record<string, XmlRpcValue> = {}): XmlRpcValue[] {
  return Object.keys(kwargs).length === 0 ? [...args] : [...args, { ...kwargs, __starstar: true }];
}
