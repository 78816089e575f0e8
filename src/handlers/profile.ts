// Values as evidence: what each value of a column looks like (an address, a host name, an OS, an
// environment word, a serial...), and how sure a share of a sample lets us be.
import { classVerdict, familyOfText, isEnvironmentWord } from './asset-rules.ts';
import type { CanonicalField, ColumnProfile, ValueKind } from './types.ts';
import { isDate, isFqdn, isMac, memoise, parseNumber, trimText, valuePatterns } from './values.ts';

const BOOLEANS = new Set(['true', 'false', 'yes', 'no', 'y', 'n']);
const HOST = /^[a-z0-9](?:[a-z0-9_-]{0,62})$/i;
const UUID = /^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$/i;
// sys_id, Archi's "id-<hex>", "CI0001234"-style record numbers.
const KEY = /^[0-9a-f]{32}$|^id-[0-9a-f-]{8,}$|^[A-Z]{2,6}\d{5,}$/i;
const SERIAL = /^[A-Z0-9][A-Z0-9-]{5,23}$/;
const RELATION_TYPE = /^[^:]{2,40}::[^:]{2,40}$|relationship$|^(depends on|runs on|hosted on|hosts|uses|used by|contains|member of|connects to|connected to|cabled to|provides|provided by|sends data to|parent of|child of|managed by|backed up by|related to)$/i;

/** Letters and digits change places several times in a serial (5CG1234XYZ), rarely in a host name (PRDWEB01). */
function isSerial(text: string): boolean {
  if (!SERIAL.test(text) || !/[A-Z]/.test(text) || !/\d/.test(text)) return false;
  let switches = 0;
  let previous = '';
  for (const char of text) {
    const kind = char >= '0' && char <= '9' ? 'd' : char === '-' ? previous : 'a';
    if (previous !== '' && kind !== previous) switches++;
    previous = kind;
  }
  return switches >= 2;
}

/** The kinds one value belongs to; several can hold ("Linux Server" is an OS text and a class). */
export const valueKinds = memoise((input: string): readonly ValueKind[] => {
  const text = trimText(input).replace(/^\*+\s*/, '');
  const kinds: ValueKind[] = [];
  for (const pattern of valuePatterns(text)) {
    if (pattern === 'ipv4' || pattern === 'ipv6' || pattern === 'fqdn' || pattern === 'mac' || pattern === 'date' || pattern === 'email' || pattern === 'url') kinds.push(pattern);
    else if (pattern === 'number_with_unit') kinds.push('number_with_unit');
    else if (pattern === 'key_value_list') kinds.push('key_value');
  }
  const lower = text.toLowerCase();
  if (BOOLEANS.has(lower)) kinds.push('boolean');
  if (/^-?\d+$/.test(text)) kinds.push('integer');
  else if (!kinds.includes('date') && parseNumber(text)?.unit === null) kinds.push('number');
  if (isEnvironmentWord(text)) kinds.push('environment');
  const os = familyOfText(text) !== null && lower !== 'microsoft';
  if (os) kinds.push('os');
  const verdict = classVerdict(text);
  if (verdict.rule !== undefined && verdict.rule.type !== 'unknown') kinds.push('class');
  if (UUID.test(text) || KEY.test(text)) kinds.push('key');
  if (RELATION_TYPE.test(text)) kinds.push('relation_type');
  const serial = isSerial(text);
  if (serial) kinds.push('serial');
  // A host name has a letter and a digit or hyphen (web01, lnx-db-2): plain words are names of other things.
  if (!serial && !os && HOST.test(text) && /[a-z]/i.test(text) && /[\d-]/.test(text) && !kinds.includes('environment') && !isDate(text) && !isMac(text) && !UUID.test(text) && !KEY.test(text)) kinds.push('host');
  else if (isFqdn(text) && !kinds.includes('host')) kinds.push('host');
  return kinds;
});

/** Counts kinds over sampled values; `finish` gives each kind's share. */
export class KindCounter {
  private readonly counts = new Map<ValueKind, number>();
  sampled = 0;

  add(text: string): void {
    this.sampled++;
    for (const kind of valueKinds(text)) this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  finish(): Partial<Record<ValueKind, number>> {
    const shares: Partial<Record<ValueKind, number>> = {};
    for (const [kind, count] of [...this.counts].sort((a, b) => b[1] - a[1])) shares[kind] = Math.round((count / this.sampled) * 1000) / 1000;
    return shares;
  }
}

/**
 * How sure a share seen in a sample of n lets us be: halfway between the share and its 95% Wilson
 * lower bound, so two matching values out of two count for less than 200 out of 200.
 */
export function certainty(share: number, n: number): number {
  if (n <= 0) return 0;
  const z = 1.96;
  const z2 = z * z;
  const centre = share + z2 / (2 * n);
  const margin = z * Math.sqrt((share * (1 - share)) / n + z2 / (4 * n * n));
  const lower = Math.max(0, (centre - margin) / (1 + z2 / n));
  return (share + lower) / 2;
}

/** "97% IPv4" for evidence lists. */
export function describeShare(kind: ValueKind, share: number): string {
  const names: Record<ValueKind, string> = {
    ipv4: 'IPv4 addresses', ipv6: 'IPv6 addresses', fqdn: 'FQDNs', host: 'host-like names', os: 'OS names',
    environment: 'environment words', mac: 'MAC addresses', serial: 'serial-like values', integer: 'integers',
    number: 'numbers', number_with_unit: 'numbers with units', date: 'dates', boolean: 'booleans', key: 'record keys',
    email: 'e-mail addresses', url: 'URLs', key_value: 'key=value lists', class: 'class names', relation_type: 'relation types',
  };
  return `${Math.round(share * 100)}% ${names[kind]}`;
}

// What each field's values look like. A column mapped to a field gains confidence when its values
// are of these kinds, and loses it when they are clearly of another.
const EXPECTED: Partial<Record<CanonicalField, ValueKind[]>> = {
  ip_addresses: ['ipv4', 'ipv6'], src_ip: ['ipv4', 'ipv6'], dst_ip: ['ipv4', 'ipv6'],
  fqdn: ['fqdn'], hostname: ['host', 'fqdn'], name: ['host', 'fqdn'], src_host: ['host', 'fqdn'], dst_host: ['host', 'fqdn'],
  virtualization_host: ['host', 'fqdn'], cluster: ['host', 'fqdn'],
  mac_address: ['mac'], serial_number: ['serial'], os_name: ['os'], os_family: ['os'], environment: ['environment'],
  cpu_cores: ['integer'], memory_mb: ['integer', 'number', 'number_with_unit'], disk_gb: ['integer', 'number', 'number_with_unit'],
  dst_port: ['integer'], asset_class: ['class'], rel_type: ['relation_type'], tags: ['key_value'], owner: ['email'],
};
// Kinds so specific that a column full of them is about them, whatever its header says.
const STRONG: ValueKind[] = ['ipv4', 'ipv6', 'mac', 'date', 'email', 'url', 'boolean', 'fqdn', 'integer', 'number'];
// Fields whose values are text: a column of numbers is something else.
const TEXT_FIELDS = new Set<CanonicalField>(['name', 'hostname', 'fqdn', 'ip_addresses', 'mac_address', 'os_name', 'os_family', 'environment', 'asset_class', 'manufacturer', 'tags', 'src_ip', 'dst_ip', 'src_host', 'dst_host', 'process']);
const NUMBER_KINDS: ValueKind[] = ['integer', 'number'];
const NUMERIC_FIELDS = new Set<CanonicalField>(['cpu_cores', 'memory_mb', 'disk_gb', 'dst_port']);
// FQDNs name hosts, clusters, services, locations...: they only contradict fields that never hold one.
const FQDN_NEVER = new Set<CanonicalField>(['environment', 'os_name', 'os_family', 'os_version', 'asset_class', 'manufacturer', 'model', 'cpu_cores', 'memory_mb', 'disk_gb', 'serial_number', 'mac_address', 'ip_addresses', 'criticality', 'operational_status', 'lifecycle_status', 'cost_center', 'dst_port']);

export interface Support {
  effect: 'confirms' | 'contradicts';
  certainty: number;
  evidence: string;
}

function uniqueShare(profile: ColumnProfile, rows: number): number {
  const filled = rows * (1 - profile.emptyShare);
  return filled <= 0 ? 0 : profile.distinct / filled;
}

/** Whether a column's values confirm or contradict that it holds `target`; null when they say nothing either way. */
export function valueSupport(target: CanonicalField, profile: ColumnProfile | undefined, rows: number): Support | null {
  if (!profile || profile.sampled === 0) return null;
  const n = profile.sampled;
  if (target === 'source_key') {
    const unique = uniqueShare(profile, rows);
    if (unique >= 0.98) return { effect: 'confirms', certainty: certainty(1, n), evidence: `values: unique per row (${profile.distinct} distinct)` };
    if (unique < 0.5 && rows >= 10) return { effect: 'contradicts', certainty: certainty(1 - unique, n), evidence: `values: repeat (${profile.distinct} distinct in ${rows} rows), so they cannot be record keys` };
    return null;
  }
  const expected = EXPECTED[target] ?? [];
  let best: { kind: ValueKind; share: number } | null = null;
  for (const kind of expected) {
    const share = profile.kinds[kind] ?? 0;
    if (!best || share > best.share) best = { kind, share };
  }
  if (best && best.share >= 0.8) return { effect: 'confirms', certainty: certainty(best.share, n), evidence: `values: ${describeShare(best.kind, best.share)}` };
  if (NUMERIC_FIELDS.has(target) && n >= 5) {
    const numeric = (profile.kinds.integer ?? 0) + (profile.kinds.number ?? 0) + (profile.kinds.number_with_unit ?? 0);
    if (numeric < 0.3) return { effect: 'contradicts', certainty: certainty(1 - numeric, n), evidence: `values: only ${Math.round(numeric * 100)}% numbers, not ${target} values` };
  }
  for (const kind of STRONG) {
    const share = profile.kinds[kind] ?? 0;
    if (share < 0.8 || expected.includes(kind)) continue;
    if (NUMBER_KINDS.includes(kind) && !TEXT_FIELDS.has(target)) continue;
    if (kind === 'fqdn' && !FQDN_NEVER.has(target)) continue;
    return { effect: 'contradicts', certainty: certainty(share, n), evidence: `values: ${describeShare(kind, share)}, not ${target} values` };
  }
  return null;
}

const VALUE_TARGETS: { kind: ValueKind; target: CanonicalField; base: number; unique?: boolean }[] = [
  { kind: 'ipv4', target: 'ip_addresses', base: 0.85 },
  { kind: 'ipv6', target: 'ip_addresses', base: 0.85 },
  { kind: 'mac', target: 'mac_address', base: 0.9 },
  { kind: 'fqdn', target: 'fqdn', base: 0.85 },
  { kind: 'host', target: 'name', base: 0.8, unique: true },
  { kind: 'environment', target: 'environment', base: 0.85 },
  { kind: 'os', target: 'os_name', base: 0.8 },
  { kind: 'key_value', target: 'tags', base: 0.7 },
  { kind: 'serial', target: 'serial_number', base: 0.65, unique: true },
  { kind: 'class', target: 'asset_class', base: 0.6 },
  { kind: 'relation_type', target: 'rel_type', base: 0.8 },
];

export interface ValueCandidate {
  target: CanonicalField;
  confidence: number;
  evidence: string;
}

/** The fields a column's values alone point to, best first: 95% host names make a name column whatever the header. */
export function valueCandidates(profile: ColumnProfile | undefined, rows: number): ValueCandidate[] {
  if (!profile || profile.sampled === 0) return [];
  const found: ValueCandidate[] = [];
  for (const rule of VALUE_TARGETS) {
    const share = profile.kinds[rule.kind] ?? 0;
    if (share < 0.8 || (rule.unique && uniqueShare(profile, rows) < 0.9)) continue;
    if (found.some((candidate) => candidate.target === rule.target)) continue;
    found.push({ target: rule.target, confidence: Math.round(rule.base * certainty(share, profile.sampled) * 100) / 100, evidence: `values: ${describeShare(rule.kind, share)} in ${profile.sampled} sampled${rule.unique ? ', unique per row' : ''}` });
  }
  return found.sort((a, b) => b.confidence - a.confidence);
}
