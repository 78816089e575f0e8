// NetBox Django fixtures (`[{ model, pk, fields }]`): foreign keys are pks or natural-key
// lists, so tables are only useful once references are resolved to names and addresses.
import type { Cell, Row, Table } from './types.ts';
import { isPlainObject } from './json.ts';

type Fields = Record<string, unknown>;

interface FixtureIndex {
  byModel: Map<string, Map<string, Fields>>;
  contentTypes: Map<string, string>;
}

// Which model a foreign-key field points at, per source model when names clash (`group`, `type`).
const FOREIGN_KEYS: Record<string, string> = {
  device_type: 'dcim.devicetype',
  role: 'dcim.devicerole',
  device_role: 'dcim.devicerole',
  tenant: 'tenancy.tenant',
  platform: 'dcim.platform',
  site: 'dcim.site',
  location: 'dcim.location',
  rack: 'dcim.rack',
  primary_ip4: 'ipam.ipaddress',
  primary_ip6: 'ipam.ipaddress',
  oob_ip: 'ipam.ipaddress',
  cluster: 'virtualization.cluster',
  device: 'dcim.device',
  virtual_chassis: 'dcim.virtualchassis',
  manufacturer: 'dcim.manufacturer',
  region: 'dcim.region',
  vrf: 'ipam.vrf',
  config_template: 'extras.configtemplate',
};
const MODEL_FOREIGN_KEYS: Record<string, Record<string, string>> = {
  'virtualization.cluster': { type: 'virtualization.clustertype', group: 'virtualization.clustergroup' },
  'dcim.site': { group: 'dcim.sitegroup' },
};
const DEVICE_OF_TERMINATION = new Set(['interface', 'frontport', 'rearport', 'powerport', 'poweroutlet', 'consoleport', 'consoleserverport']);

export const NETBOX_ASSET_MODELS = ['dcim.device', 'virtualization.virtualmachine', 'virtualization.cluster'] as const;

function pkText(value: unknown): string | null {
  if (typeof value === 'number' || typeof value === 'string') return String(value);
  return null;
}

function buildIndex(objects: Record<string, unknown>[]): FixtureIndex {
  const byModel = new Map<string, Map<string, Fields>>();
  const contentTypes = new Map<string, string>();
  for (const object of objects) {
    const model = typeof object.model === 'string' ? object.model : null;
    if (!model || !isPlainObject(object.fields)) continue;
    let models = byModel.get(model);
    if (!models) byModel.set(model, (models = new Map()));
    const pk = pkText(object.pk) ?? String(models.size + 1);
    models.set(pk, object.fields);
    if (model === 'contenttypes.contenttype' && object.pk !== undefined) {
      contentTypes.set(pk, `${String(object.fields.app_label)}.${String(object.fields.model)}`);
    }
  }
  return { byModel, contentTypes };
}

function labelOf(fields: Fields, model: string, pk: string): string {
  for (const key of ['name', 'address', 'cid', 'model', 'label', 'slug']) {
    const value = fields[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return `${model}:${pk}`;
}

function resolveReference(index: FixtureIndex, target: string, value: unknown): Cell {
  if (value === null || value === undefined || value === '') return null;
  // Natural keys are lists such as ["dm-akron"] or ["Juniper", "MX480"]: the last part names the object.
  if (Array.isArray(value)) return value.length === 0 ? null : String(value[value.length - 1]);
  const pk = pkText(value);
  if (pk === null) return JSON.stringify(value);
  const fields = index.byModel.get(target)?.get(pk);
  return fields ? labelOf(fields, target, pk) : `${target}:${pk}`;
}

function contentTypeOf(index: FixtureIndex, value: unknown): string | null {
  if (Array.isArray(value)) return value.map(String).join('.');
  const pk = pkText(value);
  return pk === null ? null : (index.contentTypes.get(pk) ?? null);
}

/** The key a device or VM has in every generated table, so cables resolve even to unnamed devices. */
function objectKey(model: string, pk: string): string {
  return `${model}:${pk}`;
}

function scalar(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.length === 0 ? null : value.map((item) => (isPlainObject(item) ? JSON.stringify(item) : String(item))).join('; ');
  return JSON.stringify(value);
}

function assignedAddresses(index: FixtureIndex): Map<string, string[]> {
  // Map "dcim.device:1" / "virtualization.virtualmachine:7" to every address on its interfaces.
  const result = new Map<string, string[]>();
  const interfaces = index.byModel.get('dcim.interface');
  const vmInterfaces = index.byModel.get('virtualization.vminterface');
  for (const fields of index.byModel.get('ipam.ipaddress')?.values() ?? []) {
    const address = typeof fields.address === 'string' ? fields.address : null;
    const objectId = pkText(fields.assigned_object_id);
    if (!address || objectId === null) continue;
    const type = contentTypeOf(index, fields.assigned_object_type);
    let owner: string | null = null;
    if (type === 'dcim.interface' || (type === null && interfaces?.has(objectId))) {
      const device = pkText(interfaces?.get(objectId)?.device);
      if (device !== null) owner = objectKey('dcim.device', device);
    } else if (type === 'virtualization.vminterface' || (type === null && vmInterfaces?.has(objectId))) {
      const vm = pkText(vmInterfaces?.get(objectId)?.virtual_machine);
      if (vm !== null) owner = objectKey('virtualization.virtualmachine', vm);
    }
    if (owner === null) continue;
    const list = result.get(owner) ?? [];
    list.push(address);
    result.set(owner, list);
  }
  return result;
}

function assetTable(file: string, index: FixtureIndex, model: string, addresses: Map<string, string[]>): Table | null {
  const objects = index.byModel.get(model);
  if (!objects || objects.size === 0) return null;
  const columns = new Map<string, true>([['id', true]]);
  const rows: Row[] = [];
  const foreignKeys = { ...FOREIGN_KEYS, ...(MODEL_FOREIGN_KEYS[model] ?? {}) };
  for (const [pk, fields] of objects) {
    const key = objectKey(model, pk);
    const row: Row = { id: key };
    for (const [field, value] of Object.entries(fields)) {
      if (field.startsWith('_') || field === 'local_context_data') continue;
      if (field === 'custom_field_data' && isPlainObject(value)) {
        for (const [custom, customValue] of Object.entries(value)) row[`cf_${custom}`] = scalar(customValue);
        continue;
      }
      const target = foreignKeys[field];
      row[field] = target ? resolveReference(index, target, value) : scalar(value);
      if (field === 'device_type') {
        const type = pkText(value) === null ? undefined : index.byModel.get('dcim.devicetype')?.get(pkText(value) as string);
        row.manufacturer = type ? resolveReference(index, 'dcim.manufacturer', type.manufacturer) : null;
      }
    }
    const assigned = addresses.get(key);
    if (model !== 'virtualization.cluster') row.ip_addresses = assigned ? assigned.join('; ') : null;
    for (const column of Object.keys(row)) if (!columns.has(column)) columns.set(column, true);
    rows.push(row);
  }
  const names = [...columns.keys()];
  for (const row of rows) for (const name of names) if (!(name in row)) row[name] = null;
  return { id: `${file}#${model}`, file, format: 'netbox', encoding: 'utf-8', columns: names, rows };
}

interface Termination {
  device: string | null;
  label: string;
}

function terminationOf(index: FixtureIndex, type: string | null, id: string | null, cachedDevice: unknown): Termination {
  const cached = pkText(cachedDevice);
  const model = type ?? 'unknown';
  const fields = id === null ? undefined : index.byModel.get(model)?.get(id);
  const label = fields ? labelOf(fields, model, id ?? '') : `${model}:${id ?? '?'}`;
  if (cached !== null) return { device: objectKey('dcim.device', cached), label };
  if (fields && DEVICE_OF_TERMINATION.has(model.split('.')[1] ?? '')) {
    const device = pkText(fields.device);
    if (device !== null) return { device: objectKey('dcim.device', device), label };
  }
  if (fields && model === 'circuits.circuittermination') {
    const circuit = pkText(fields.circuit);
    const circuitFields = circuit === null ? undefined : index.byModel.get('circuits.circuit')?.get(circuit);
    return { device: `circuit:${circuitFields ? labelOf(circuitFields, 'circuits.circuit', circuit ?? '') : (circuit ?? '?')}`, label };
  }
  return { device: fields ? `${model}:${labelOf(fields, model, id ?? '')}` : null, label };
}

function cableTable(file: string, index: FixtureIndex): Table | null {
  const cables = index.byModel.get('dcim.cable');
  if (!cables || cables.size === 0) return null;
  const ends = new Map<string, { a: Termination[]; b: Termination[] }>();
  const endsOf = (cable: string) => {
    let entry = ends.get(cable);
    if (!entry) ends.set(cable, (entry = { a: [], b: [] }));
    return entry;
  };
  // NetBox >= 3.3 keeps terminations in their own model; older fixtures keep them on the cable.
  for (const fields of index.byModel.get('dcim.cabletermination')?.values() ?? []) {
    const cable = pkText(fields.cable);
    if (cable === null) continue;
    const termination = terminationOf(index, contentTypeOf(index, fields.termination_type), pkText(fields.termination_id), fields._device);
    endsOf(cable)[fields.cable_end === 'B' ? 'b' : 'a'].push(termination);
  }
  for (const [pk, fields] of cables) {
    for (const side of ['a', 'b'] as const) {
      const type = contentTypeOf(index, fields[`termination_${side}_type`]);
      const id = pkText(fields[`termination_${side}_id`]);
      if (type !== null && id !== null) endsOf(pk)[side].push(terminationOf(index, type, id, null));
    }
  }
  const columns = ['id', 'label', 'a_device', 'a_termination', 'b_device', 'b_termination', 'relation', 'cable_type', 'status', 'length', 'length_unit'];
  const rows: Row[] = [];
  for (const [pk, fields] of cables) {
    const entry = ends.get(pk) ?? { a: [], b: [] };
    const aDevices = unique(entry.a);
    const bDevices = unique(entry.b);
    const base = {
      id: objectKey('dcim.cable', pk),
      label: scalar(fields.label),
      relation: 'Cabled to',
      cable_type: scalar(fields.type),
      status: scalar(fields.status),
      length: scalar(fields.length),
      length_unit: scalar(fields.length_unit),
    };
    // A cable with several terminations per end yields one row per device pair.
    for (const a of aDevices.length > 0 ? aDevices : [null]) {
      for (const b of bDevices.length > 0 ? bDevices : [null]) {
        rows.push({
          ...base,
          a_device: a?.device ?? null,
          a_termination: a ? entry.a.filter((t) => t.device === a.device).map((t) => t.label).join('; ') : null,
          b_device: b?.device ?? null,
          b_termination: b ? entry.b.filter((t) => t.device === b.device).map((t) => t.label).join('; ') : null,
        });
      }
    }
  }
  return { id: `${file}#dcim.cable`, file, format: 'netbox', encoding: 'utf-8', columns, rows };
}

function unique(terminations: Termination[]): Termination[] {
  const seen = new Set<string | null>();
  return terminations.filter((termination) => (seen.has(termination.device) ? false : (seen.add(termination.device), true)));
}

/** Tables for the models a discovery needs: devices, virtual machines, clusters and cables. */
export function fixtureToTables(file: string, objects: Record<string, unknown>[]): Table[] {
  const index = buildIndex(objects);
  const addresses = assignedAddresses(index);
  const tables: Table[] = [];
  for (const model of NETBOX_ASSET_MODELS) {
    const table = assetTable(file, index, model, addresses);
    if (table) tables.push(table);
  }
  const cables = cableTable(file, index);
  if (cables) tables.push(cables);
  return tables;
}
