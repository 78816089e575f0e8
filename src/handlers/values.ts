// Value recognisers and converters shared by every discovery step.
// They must stay cheap: each runs once per cell on 100k-row exports.
import type { Cell, ValuePattern } from './types.ts';

/**
 * Remembers a pure function of one string. Exports repeat the same few classes, OS names and
 * environments on every row; past `limit` distinct inputs it stops remembering, so unique values cost no memory.
 */
export function memoise<T>(compute: (text: string) => T, limit = 10_000): (text: string) => T {
  const cache = new Map<string, T>();
  return (text) => {
    const cached = cache.get(text);
    if (cached !== undefined || cache.has(text)) return cached as T;
    if (cache.size >= limit) return compute(text);
    // A cell may be a slice of the whole uploaded text: cache (and compute from) a copy, so the
    // module-level cache never keeps an upload alive.
    const key = detach(text);
    const value = compute(key);
    cache.set(key, value);
    return value;
  };
}

/** A fresh copy of `text` that shares no memory with the string it came from. */
function detach(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/**
 * Remembers the first value stored under each string key. A new key, the usual case, costs one hash
 * operation (set(), then a size check) instead of get() then set(): on 100k-row exports these maps
 * are large and every operation on them is a cache miss. The first repeated key switches to get-before-set.
 */
export class FirstSeen<V extends {} | null> {
  private readonly map = new Map<string, V>();
  // Keys and values in order while no key repeated: set() on a repeat overwrites, and this restores it.
  private log: { keys: string[]; values: V[] } | null = { keys: [], values: [] };

  /** The value first stored under `key`; undefined (after storing `value`) when the key is new. */
  claim(key: string, value: V): V | undefined {
    if (this.log === null) {
      const first = this.map.get(key);
      if (first !== undefined || this.map.has(key)) return first;
      this.map.set(key, value);
      return undefined;
    }
    const size = this.map.size;
    this.map.set(key, value);
    if (this.map.size !== size) {
      this.log.keys.push(key);
      this.log.values.push(value);
      return undefined;
    }
    const first = this.log.values[this.log.keys.indexOf(key)];
    this.map.set(key, first);
    this.log = null;
    return first;
  }
}

// Exporters write these where a value is missing; treating them as values would
// invent assets named "N/A" and IPs that fail validation.
const PLACEHOLDERS = new Set(['', '-', '--', 'n/a', 'na', 'none', 'null', 'nil', 'unknown', 'tbd', '?', '(empty)', 'undefined']);

/**
 * text.trim(), skipping the call when both ends are printable ASCII (parsed cells are already trimmed).
 * trim() is a runtime call in V8 and it showed up in profiles of 100k-row exports.
 */
export function trimText(text: string): string {
  const last = text.length - 1;
  if (last < 0) return text;
  const start = text.charCodeAt(0);
  const end = text.charCodeAt(last);
  return start > 32 && start < 127 && end > 32 && end < 127 ? text : text.trim();
}

export function cellText(value: Cell | undefined): string | null {
  if (value === null || value === undefined) return null;
  const text = typeof value === 'string' ? trimText(value) : String(value);
  return text === '' ? null : text;
}

// The longest placeholder ("undefined") has 9 characters: longer values skip the set lookup.
const MAX_PLACEHOLDER_LENGTH = 9;

export function isPlaceholder(text: string): boolean {
  const value = trimText(text);
  return value.length <= MAX_PLACEHOLDER_LENGTH && PLACEHOLDERS.has(value.toLowerCase());
}

/** Text of a cell, or null when it is empty or a placeholder such as "N/A". */
export function meaningful(value: Cell | undefined): string | null {
  const text = cellText(value);
  return text === null || isPlaceholder(text) ? null : text;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARS = /^[0-9a-f:.]+$/i;

/** Strips a CIDR suffix (`/24`) and an IPv6 zone id (`%eth0`) so addresses can be compared. */
export function bareIp(text: string): string {
  let value = trimText(text);
  const slash = value.indexOf('/');
  if (slash > 0) value = value.slice(0, slash);
  const zone = value.indexOf('%');
  if (zone > 0) value = value.slice(0, zone);
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1);
  return value.toLowerCase();
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

export function isIpv4(text: string): boolean {
  // An IPv4 address starts with a digit, or with "[" when bracketed: most names fail here without any copying.
  const value = trimText(text);
  const code = value.charCodeAt(0);
  if (!isDigit(code) && code !== 91) return false;
  return IPV4.test(bareIp(value));
}

export function isIpv6(text: string): boolean {
  // bareIp only removes characters, so an address without ":" can never become IPv6.
  if (!text.includes(':')) return false;
  const value = bareIp(text);
  if (!value.includes(':') || !IPV6_CHARS.test(value)) return false;
  const doubleColons = value.split('::').length - 1;
  if (doubleColons > 1) return false;
  const groups = value.split(':');
  const last = groups[groups.length - 1];
  const embeddedV4 = last.includes('.');
  if (embeddedV4 && !IPV4.test(last)) return false;
  const maxGroups = embeddedV4 ? 7 : 8;
  if (doubleColons === 0 && groups.length !== maxGroups) return false;
  if (groups.length > maxGroups + 1) return false;
  return groups.every((group, index) => group === '' || (embeddedV4 && index === groups.length - 1) || /^[0-9a-f]{1,4}$/i.test(group));
}

export function isIp(text: string): boolean {
  return isIpv4(text) || isIpv6(text);
}

// Characters that make splitList do more than return the value itself.
const LIST_SYNTAX = /[[\]"',;|\s]/;

/** Splits a cell holding one or several addresses ("10.0.0.1, 10.0.0.2", "a;b", JSON-ish lists). */
export function splitList(text: string): string[] {
  // A single value (the usual case) needs no replacing and splitting; \s and trim() strip the same characters.
  if (!LIST_SYNTAX.test(text)) return text === '' || isPlaceholder(text) ? [] : [text];
  return text
    .replace(/[[\]"']/g, ' ')
    .split(/[,;|\s]+/)
    .map((part) => part.trim())
    .filter((part) => part !== '' && !isPlaceholder(part));
}

// Private, loopback, link-local, CGNAT and unique-local ranges: an unresolved endpoint
// there is an inventory gap (orphan), anywhere else it is outside the estate (external).
export function isPublicIp(text: string): boolean {
  const value = bareIp(text);
  if (isIpv4(value)) {
    const [a, b] = value.split('.').map(Number);
    if (a === 10 || a === 127 || a === 0 || a >= 224) return false;
    if (a === 172 && b >= 16 && b <= 31) return false;
    if (a === 192 && b === 168) return false;
    if (a === 169 && b === 254) return false;
    if (a === 100 && b >= 64 && b <= 127) return false;
    return true;
  }
  if (isIpv6(value)) {
    return !(value === '::1' || value === '::' || /^fe[89ab]/.test(value) || /^f[cd]/.test(value) || value.startsWith('ff'));
  }
  return false;
}

// File extensions that look like top-level domains: "svchost.exe" is a process, not a host.
const NOT_TLDS = new Set(['exe', 'dll', 'sh', 'py', 'jar', 'bin', 'so', 'bat', 'cmd', 'ps1', 'js', 'txt', 'csv', 'json', 'xml', 'log', 'msi', 'war', 'ear', 'pl', 'rb', 'php', 'conf', 'cfg', 'ini', 'zip', 'gz', 'tar', 'xlsx', 'pdf']);
const FQDN = /^(?=.{4,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+([a-z][a-z0-9-]{0,22}[a-z0-9])\.?$/i;

export function isFqdn(text: string): boolean {
  const value = trimText(text);
  // Every FQDN has a dot between labels.
  if (!value.includes('.')) return false;
  const match = FQDN.exec(value);
  if (!match) return false;
  return !NOT_TLDS.has(match[2].toLowerCase()) && !isIpv4(value);
}

const HOSTNAME = /^[a-z0-9_](?:[a-z0-9_-]{0,62})$/i;
const HAS_LETTER = /[a-z]/i;
export function isHostname(text: string): boolean {
  return HOSTNAME.test(trimText(text)) && HAS_LETTER.test(text);
}

const MAC = /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$|^([0-9a-f]{4}\.){2}[0-9a-f]{4}$|^[0-9a-f]{12}$/i;
const MAC_STRICT = /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$|^([0-9a-f]{4}\.){2}[0-9a-f]{4}$/i;
export function isMac(text: string, strict = true): boolean {
  return (strict ? MAC_STRICT : MAC).test(trimText(text));
}

const DATE = [
  /^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/,
  /^\d{1,2}\/\d{1,2}\/\d{2,4}( \d{1,2}:\d{2}(:\d{2})?( ?[AP]M)?(-\d{1,2}:\d{2})?)?$/i,
  /^\d{1,2}\.\d{1,2}\.\d{4}( \d{1,2}:\d{2}(:\d{2})?)?$/,
  /^\d{1,2}[- ](jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[- ]\d{2,4}$/i,
];
export function isDate(text: string): boolean {
  const value = trimText(text);
  return value.length >= 6 && DATE.some((pattern) => pattern.test(value));
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[a-z]{2,}$/i;
const URL_PATTERN = /^(https?|ftp):\/\/\S+$/i;
const KEY_VALUE = /^\s*[^=;,]+=[^=;]*(\s*[;,]\s*[^=;,]+=[^=;]*)*\s*;?\s*$/;
const SEPARATED_NUMBER = /^-?\d{1,3}([, \u00a0\u202f]\d{3})+(\.\d+)?$|^-?\d{1,3}(\.\d{3})+(,\d+)?$/;
const NUMBER_WITH_UNIT = /^-?\d[\d,. ]*\s*(b|kb|mb|gb|tb|pb|kib|mib|gib|tib|bytes?|hz|khz|mhz|ghz|cores?|vcpus?|cpus?|%|ms|s|gbps|mbps)$/i;

/** The recognisable shapes of one value, in a stable order. */
export function valuePatterns(text: string): ValuePattern[] {
  const value = trimText(text);
  const found: ValuePattern[] = [];
  const parts = value.includes(',') || value.includes(';') || value.includes(' ') ? splitList(value) : [value];
  if (parts.length > 0 && parts.every(isIpv4)) found.push('ipv4');
  else if (parts.length > 0 && parts.every(isIp) && parts.some(isIpv6)) found.push('ipv6');
  if (isFqdn(value)) found.push('fqdn');
  if (isMac(value)) found.push('mac');
  if (isDate(value)) found.push('date');
  if (SEPARATED_NUMBER.test(value)) found.push('number_with_separators');
  if (NUMBER_WITH_UNIT.test(value)) found.push('number_with_unit');
  if (EMAIL.test(value)) found.push('email');
  if (URL_PATTERN.test(value)) found.push('url');
  if (KEY_VALUE.test(value) && !URL_PATTERN.test(value)) found.push('key_value_list');
  return found;
}

const PLAIN_INTEGER = /^-?\d+$/;

export interface ParsedNumber {
  value: number;
  unit: string | null;
}

/**
 * Reads "3,665", "1.234,5", "16 GB", "16,384 MB", "4 vCPU" and plain numbers.
 * Returns null for anything that is not a number, so callers can flag it.
 */
export function parseNumber(input: Cell | undefined): ParsedNumber | null {
  if (typeof input === 'number') return Number.isFinite(input) ? { value: input, unit: null } : null;
  if (typeof input !== 'string') return null;
  // Plain integers ("16384", "-4") are most cells: the general path reads them the same way.
  if (PLAIN_INTEGER.test(input)) {
    const value = Number(input);
    return Number.isFinite(value) ? { value, unit: null } : null;
  }
  // Formatted numbers ("8,192", "32 GB") repeat down a column: parse each text once, hand out copies.
  const parsed = parseFormatted(input);
  return parsed === null ? null : { value: parsed.value, unit: parsed.unit };
}

const parseFormatted = memoise((input: string): Readonly<ParsedNumber> | null => {
  const text = trimText(input).replace(/[\u00a0\u202f]/g, ' ');
  if (text === '') return null;
  const match = /^(-?[\d][\d,. ']*)\s*([a-z%]+)?\.?$/i.exec(text);
  if (!match) return null;
  let digits = match[1].trim().replace(/'/g, '');
  const unit = match[2] ? match[2].toLowerCase() : null;
  if (/^-?\d{1,3}(\.\d{3})+(,\d+)?$/.test(digits) && (digits.includes(',') || digits.split('.').length > 2)) {
    digits = digits.replace(/\./g, '').replace(',', '.');
  } else if (/^-?\d+,\d{1,2}$/.test(digits)) {
    digits = digits.replace(',', '.');
  } else {
    digits = digits.replace(/[, ]/g, '');
  }
  if (!/^-?\d+(\.\d+)?$/.test(digits)) return null;
  const value = Number(digits);
  return Number.isFinite(value) ? { value, unit } : null;
});

export function columnTokens(column: string): string[] {
  return column
    .replace(/([a-z]{2,}|[0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((token) => token !== '');
}

const SIZE_UNITS: Record<string, number> = {
  b: 1 / (1024 * 1024), byte: 1 / (1024 * 1024), bytes: 1 / (1024 * 1024),
  k: 1 / 1024, kb: 1 / 1024, kib: 1 / 1024,
  m: 1, mb: 1, mib: 1,
  g: 1024, gb: 1024, gib: 1024,
  t: 1024 * 1024, tb: 1024 * 1024, tib: 1024 * 1024,
  p: 1024 ** 3, pb: 1024 ** 3, pib: 1024 ** 3,
};

/** The size unit a column name announces ("Provisioned MB", "ram_gb", "Memory (In MB)"), if any. */
// Called once per cell with a handful of distinct column names: worth remembering.
const sizeUnitCache = new Map<string, string | null>();

export function columnSizeUnit(column: string): string | null {
  const cached = sizeUnitCache.get(column);
  if (cached !== undefined) return cached;
  let unit: string | null = null;
  for (const token of columnTokens(column)) {
    if (token in SIZE_UNITS && token.length >= 2) unit = token;
    const suffix = /^(?:[a-z]+?)(kb|mb|gb|tb|kib|mib|gib|tib)$/.exec(token);
    if (unit === null && suffix && token.length > 2) unit = suffix[1];
    if (unit !== null) break;
  }
  if (sizeUnitCache.size < 10_000) sizeUnitCache.set(column, unit);
  return unit;
}

/** Converts a size to MB; a bare number is taken in `defaultUnit` (the column's unit, else MB for memory). */
export function toMegabytes(input: Cell | undefined, defaultUnit: string): number | null {
  return parsedToMegabytes(parseNumber(input), defaultUnit);
}

/** toMegabytes for a value already read by parseNumber. */
export function parsedToMegabytes(parsed: ParsedNumber | null, defaultUnit: string): number | null {
  if (!parsed) return null;
  const unit = parsed.unit ?? defaultUnit;
  const factor = SIZE_UNITS[unit];
  if (factor === undefined) return null;
  return parsed.value * factor;
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function slug(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Lower-cased identity used to compare names across files ("*ANNIE-IBM" and "annie-ibm" are one host). */
export function identityKey(text: string): string {
  const value = trimText(text);
  // Only a leading "*" needs the regular expression.
  return (value.charCodeAt(0) === 42 ? value.replace(/^\*+\s*/, '') : value).toLowerCase();
}
